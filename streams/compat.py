"""Guards against broker behaviour that would make Faust lose table state.

Known defect, broker side: Tansu 0.6 (the bundled development broker) answers a
ListOffsets request for the latest offset with the base offset of the partition's
last record batch plus one, not the last offset plus one. Effect: Faust's table
recovery reads a changelog partition only up to that offset, so the other records
of the last batch are never applied (a restarted worker holds stale rows and loses
the counts of events it had already committed), and a worker that wrote past that
offset itself raises ConsistencyError on the next rebalance. Why it stays: the
broker is not ours. What we do: before recovery trusts an end offset, read the
partition's last batch and take the offset after its last record. On Apache Kafka
the two agree and this costs one small fetch per changelog partition at recovery.
It goes when the bundled broker reports end offsets correctly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 15.0
_original_highwaters = AIOKafkaConsumerThread._highwaters


async def true_end_offsets(
    bootstrap: Any, reported: Mapping[Any, int | None]
) -> dict[Any, int | None]:
    """End offsets checked by reading each partition's last batch."""
    ends = dict(reported)
    to_probe = [tp for tp, end in ends.items() if end]
    if not to_probe:
        return ends
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    await probe.start()
    try:
        tps = [TopicPartition(tp.topic, tp.partition) for tp in to_probe]
        probe.assign(tps)
        for tp, original in zip(tps, to_probe, strict=True):
            probe.seek(tp, ends[original] - 1)
        by_tp = dict(zip(tps, to_probe, strict=True))
        # Every probed partition holds a record at end - 1, so an empty poll only
        # means "done" once each has answered; before that it means "not yet".
        unanswered = set(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_TIMEOUT_S
        while loop.time() < deadline:
            batch = await probe.getmany(timeout_ms=200)
            if not batch and not unanswered:
                break
            unanswered.difference_update(batch)
            for tp, records in batch.items():
                original = by_tp[tp]
                last = records[-1].offset + 1
                if last > (ends[original] or 0):
                    log.info(
                        "end offset corrected topic=%s partition=%d "
                        "reported=%s actual=%d",
                        tp.topic, tp.partition, ends[original], last,
                    )
                    ends[original] = last
        if unanswered:
            log.warning(
                "end offsets unchecked partitions=%s after %.0fs",
                sorted((tp.topic, tp.partition) for tp in unanswered),
                PROBE_TIMEOUT_S,
            )
    finally:
        await probe.stop()
    return ends


async def _checked_highwaters(
    self: AIOKafkaConsumerThread, partitions: Iterable[Any]
) -> Mapping[Any, int]:
    reported = await _original_highwaters(self, partitions)
    if self.consumer.in_transaction:
        return reported
    bootstrap = self._ensure_consumer()._client._bootstrap_servers
    return await true_end_offsets(bootstrap, reported)


def install() -> None:
    """Make Faust's recovery use checked end offsets (idempotent)."""
    AIOKafkaConsumerThread._highwaters = _checked_highwaters
