"""Sending events to Kafka with kafka-python, counting the outcome of every send.

:class:`EventSender` keys each event by its user id, so one user's events keep their
order on one partition. Every send is acknowledged or counted as a failure by the
exception's class name; nothing is dropped silently. :func:`copy_topic` re-sends a
recorded topic.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from tqdm import tqdm

from streams.admin import unreachable
from streams.errors import BrokerError
from streams.replay.errors import ReplayError, TopicMissing

logger = logging.getLogger(__name__)

# Throughput settings: batches fill for up to LINGER_MS before they go out, and a
# batch holds up to BATCH_SIZE_BYTES. acks="all" with idempotence keeps each
# partition's order across retries with several requests in flight.
LINGER_MS = 20
BATCH_SIZE_BYTES = 512 * 1024
MAX_IN_FLIGHT = 5
COPY_POLL_MS = 500
COPY_IDLE_TIMEOUT_S = 30.0


class EventSender:
    """A producer that sends events as JSON keyed by user id and counts outcomes."""

    def __init__(self, bootstrap: str, topic: str, *, client_id: str = "replay"):
        self.topic = topic
        self.acked = 0
        self.failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._producer = make_producer(bootstrap, client_id)

    def send_event(self, event: dict[str, Any]) -> None:
        """Queue one event; its outcome lands in ``acked`` or ``failures``."""
        # The record timestamp stays the send time: brokers apply time retention
        # to record timestamps, and a replay of 2011 would be deleted at once.
        # Event time travels in the payload.
        self.send(event["user_id"].encode(), orjson.dumps(event))

    def send(
        self,
        key: bytes | None,
        value: bytes | None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one record; its outcome lands in ``acked`` or ``failures``."""
        # kafka-python raises some failures (a record over max_request_size, no
        # metadata within max_block_ms) here rather than through the future.
        try:
            future = self._producer.send(
                self.topic, value=value, key=key, headers=headers,
                timestamp_ms=timestamp_ms,
            )
        except KafkaError as exc:
            self._on_failure(exc)
            return
        future.add_callback(self._on_success)
        future.add_errback(self._on_failure)

    def flush(self) -> None:
        """Block until every queued record is acknowledged or has failed."""
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def __enter__(self) -> EventSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_success(self, _metadata: object) -> None:
        with self._lock:
            self.acked += 1

    def _on_failure(self, exc: BaseException) -> None:
        reason = type(exc).__name__
        with self._lock:
            self.failures[reason] += 1
            first = self.failures[reason] == 1
        # One warning per reason; the counts carry the rest.
        if first:
            logger.warning(
                "send failed topic=%s reason=%s detail=%s", self.topic, reason, exc
            )


def make_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    """A producer tuned for throughput that still keeps per-partition order."""
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=LINGER_MS,
            batch_size=BATCH_SIZE_BYTES,
            max_in_flight_requests_per_connection=MAX_IN_FLIGHT,
        )
    except KafkaError as exc:
        raise unreachable(bootstrap, exc) from None


@dataclass
class CopyResult:
    """Counts of one topic copy."""

    source: str
    target: str
    records_read: int = 0
    records_sent: int = 0
    send_failures: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0


def copy_topic(
    bootstrap: str,
    source: str,
    target: str,
    *,
    progress: bool = False,
    idle_timeout_s: float = COPY_IDLE_TIMEOUT_S,
) -> CopyResult:
    """Copy a topic from its beginning to its end offsets at the start of the call.

    Each record keeps its key, value, headers and timestamp; its partition in the
    target follows from its key. Records appended after the start are not copied.
    """
    if source == target:
        raise ReplayError(f"cannot copy topic {source} onto itself")
    result = CopyResult(source, target)
    started_s = time.monotonic()

    consumer = _make_consumer(bootstrap)
    try:
        starts, ends = _assign_whole_topic(consumer, source)
        # Checked, not trusted: the bundled broker reports an end offset at the
        # start of a partition's last batch, and the copy stopped there (4 of
        # 300 records). The check costs one small fetch per partition.
        from streams.compat import true_end_offsets

        ends = asyncio.run(true_end_offsets(bootstrap, ends))
        total = sum(ends[tp] - starts[tp] for tp in ends)
        with EventSender(bootstrap, target, client_id="replay-copy") as sender, tqdm(
            total=total, unit="rec", disable=not progress, desc=f"copy {source}"
        ) as bar:
            for record in _records_until(consumer, ends, idle_timeout_s):
                result.records_read += 1
                sender.send(
                    record.key, record.value, headers=list(record.headers or []),
                    timestamp_ms=record.timestamp,
                )
                bar.update(1)
            sender.flush()
            result.records_sent = sender.acked
            result.send_failures = Counter(sender.failures)
    except KafkaError as exc:
        raise BrokerError(
            f"copy {source} -> {target} stopped after {result.records_read} "
            f"records: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        consumer.close()

    result.elapsed_s = time.monotonic() - started_s
    logger.info(
        "copied topic source=%s target=%s read=%d sent=%d failed=%d elapsed_s=%.2f",
        source, target, result.records_read, result.records_sent,
        sum(result.send_failures.values()), result.elapsed_s,
    )
    return result


def _make_consumer(bootstrap: str) -> KafkaConsumer:
    try:
        return KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="replay-copy",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
        )
    except KafkaError as exc:
        raise unreachable(bootstrap, exc) from None


def _assign_whole_topic(
    consumer: KafkaConsumer, topic: str
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Assign every partition of ``topic`` from its start; return starts and ends."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicMissing(f"topic {topic} does not exist or has no partitions")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    return consumer.beginning_offsets(assigned), consumer.end_offsets(assigned)


def _records_until(
    consumer: KafkaConsumer, ends: dict[TopicPartition, int], idle_timeout_s: float
) -> Iterator[Any]:
    """Yield the records of the assigned partitions below their end offsets."""
    remaining = {tp: end for tp, end in ends.items() if consumer.position(tp) < end}
    consumer.pause(*[tp for tp in ends if tp not in remaining])
    last_record_s = time.monotonic()

    while remaining:
        batches = consumer.poll(timeout_ms=COPY_POLL_MS)
        for tp, records in batches.items():
            end = remaining.get(tp)
            if end is None:
                continue
            for record in records:
                if record.offset >= end:
                    break
                last_record_s = time.monotonic()
                yield record

        # A finished partition is paused, so records appended since the start
        # are not fetched.
        for tp in [tp for tp, end in remaining.items() if consumer.position(tp) >= end]:
            del remaining[tp]
            consumer.pause(tp)
        if remaining and time.monotonic() - last_record_s > idle_timeout_s:
            raise ReplayError(
                f"no record for {idle_timeout_s:.0f} s while copying; still missing "
                + ", ".join(
                    f"{tp.topic}[{tp.partition}] up to offset {end}"
                    for tp, end in remaining.items()
                )
            )
