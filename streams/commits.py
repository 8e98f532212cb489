"""Commits never pass a message Faust fetched but never handed to an agent.

Known defect, Faust side (faust-streaming 0.11): the consumer's fetch loop hands
each message to the streams with ``wait_first(callback(message),
suspend_flow.wait())``. When the flow is suspended (the worker stops, or a
rebalance starts) while a hand-over waits (the stream's buffer is full), the
hand-over is cancelled and the message dropped, but the loop records it as read
and goes on with the next ones, which can still reach the streams. The commit
then sees acknowledged offsets with one missing at their head, and
``Consumer._new_offset`` counts a single missing head offset as no gap (it
compares ``min(acked) - committed > 1``, where ``committed`` is already the next
offset to read). The offset is committed past a message no agent saw: seen as 1
or 2 events lost of 10,000 when a worker was stopped mid-stream.

What we do: every cancelled hand-over is remembered by partition and offset, and
a commit whose acknowledged offsets start after a remembered offset not yet
committed waits (the offset is not committed). The message is read again after a
rebalance (Faust seeks to the committed offset) or a restart. Offsets the broker
itself skips (transaction markers, compaction) are never handed over, so never
remembered: Faust's own gap handling stays as it was for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

_original_new_offset = Consumer._new_offset


def _dropped(consumer: Any) -> dict[Any, set[int]]:
    dropped = getattr(consumer, "_lifecycle_dropped", None)
    if dropped is None:
        dropped = consumer._lifecycle_dropped = defaultdict(set)
    return dropped


def _checked_new_offset(self: Any, tp: Any) -> int | None:
    dropped = getattr(self, "_lifecycle_dropped", None)
    offsets = dropped.get(tp) if dropped else None
    if offsets:
        committed = self._committed_offset[tp]
        if committed is not None:
            offsets.difference_update([o for o in offsets if o < committed])
        acked = self._acked[tp]
        if offsets and acked and min(offsets) < min(acked):
            held = (tp, min(offsets))
            warned = self.__dict__.setdefault("_lifecycle_warned", set())
            if held not in warned:  # once, not at every commit it holds
                warned.add(held)
                log.warning(
                    "commit held until a dropped message is read again "
                    "topic=%s partition=%d committed=%s dropped_offset=%d "
                    "first_acked=%d",
                    tp.topic, tp.partition, committed, min(offsets), min(acked),
                )
            return None
    return _original_new_offset(self, tp)


def track_dropped(app: Any) -> None:
    """Remember the messages whose hand-over to the streams was cancelled."""
    handler = app.topics.on_message

    async def on_message(message: Any) -> Any:
        try:
            return await handler(message)
        except asyncio.CancelledError:
            _dropped(app.consumer)[message.tp].add(message.offset)
            raise

    app.topics.on_message = on_message
    # The consumer takes the handler when it is made; made already, it is told.
    consumer = getattr(app, "_consumer", None)
    if consumer is not None:
        consumer.callback = on_message


def install() -> None:
    """Make Faust's commits wait for dropped messages (idempotent)."""
    Consumer._new_offset = _checked_new_offset
