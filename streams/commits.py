"""Commits never pass a message Faust fetched but no agent acknowledged.

Known defect, Faust side (faust-streaming 0.15): when the flow is suspended (the
worker stops, or a rebalance starts), Faust drops messages on their way to the
agents: it clears the streams' queues, and it cancels a hand-over waiting for a
full queue while its fetch loop goes on with the next messages, which can still
reach the agents. The commit then sees acknowledged offsets with some missing at
their head, and ``Consumer._new_offset`` counts a single missing head offset as
no gap (it compares ``min(acked) - committed > 1``, where ``committed`` is
already the next offset to read). The offset is committed past a message no
agent saw: seen as 1 event lost of 10,000 when a worker was stopped mid-stream.

What we do: every message fetched for an acknowledging topic is remembered by
partition and offset until it is acknowledged, and a commit whose acknowledged
offsets start after a remembered one not yet committed waits (that offset is not
committed). The message is read again after the rebalance (Faust seeks to the
committed offset) or at restart; if the flow goes on without a rebalance (the
drop came as the flow resumed), the partition is sought back to the dropped
message, again every ``RESEEK_S`` while the commit is still held, so it is read
without waiting for one (seen: one event of 12,000 missing until the end of a
test). The messages after it come again too, and are de-duplicated. Offsets the
broker itself skips (transaction markers, compaction) are never fetched, so never
remembered: Faust's own gap handling stays as it was for them.

A second defect there: ``_new_offset`` adds the offsets of a recorded gap (a jump
in the offsets read, as after a seek) to the acknowledged ones without looking
whether they are there already, and its run of consecutive offsets stops at the
first repeat. After a restart with a backlog a partition's commit then crept on
by one offset per commit, thousands behind what was read and applied (a tester
saw 3,300, gaining 2 every 5 s). Here a repeated offset continues its run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import faust.transport.consumer as faust_consumer
from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

# A partition still held at a dropped message this long after it was sought back
# to it is sought back again (messages in flight at the seek can move the read
# offset past it once more).
RESEEK_S = 5.0

_original_new_offset = Consumer._new_offset
_original_ack = Consumer.ack


def _unacked(consumer: Any) -> dict[Any, set[int]]:
    """Per partition, offsets fetched and not acknowledged yet."""
    unacked = consumer.__dict__.get("_lifecycle_unacked")
    if unacked is None:
        unacked = consumer._lifecycle_unacked = defaultdict(set)
    return unacked


def _checked_new_offset(self: Any, tp: Any) -> int | None:
    unacked = self.__dict__.get("_lifecycle_unacked")
    offsets = unacked.get(tp) if unacked else None
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
            _read_again(self, tp, min(offsets))
            return None
    return _original_new_offset(self, tp)


def _read_again(consumer: Any, tp: Any, offset: int) -> None:
    """Seek ``tp`` back to the dropped ``offset``, unless a rebalance is under
    way (it seeks to the committed offset itself) or a seek to it is recent."""
    app = getattr(consumer, "app", None)
    if not getattr(consumer, "flow_active", False) or app is None or app.rebalancing:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on the event loop: the next commit retries
        return
    sought = consumer.__dict__.setdefault("_lifecycle_sought", {})
    now_s = time.monotonic()
    if now_s - sought.get((tp, offset), -RESEEK_S) < RESEEK_S:
        return
    sought[(tp, offset)] = now_s
    log.warning("reading a dropped message again topic=%s partition=%d offset=%d",
                tp.topic, tp.partition, offset)
    task = loop.create_task(consumer.seek_wait({tp: offset}))
    task.add_done_callback(_report_failed_seek)


def _report_failed_seek(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("seek to a dropped message failed error=%r", task.exception())


def _checked_ack(self: Any, message: Any) -> bool:
    unacked = self.__dict__.get("_lifecycle_unacked")
    if unacked:
        offsets = unacked.get(message.tp)
        if offsets:
            offsets.discard(message.offset)
    return _original_ack(self, message)


def track_fetched(app: Any) -> None:
    """Remember every message fetched for a topic whose offsets are committed
    (acknowledging), until it is acknowledged."""
    handler = app.topics.on_message
    acks_enabled_for = app.topics.acks_enabled_for

    async def on_message(message: Any) -> Any:
        if acks_enabled_for(message.topic):
            _unacked(app.consumer)[message.tp].add(message.offset)
        return await handler(message)

    app.topics.on_message = on_message
    # The consumer takes the handler when it is made; made already, it is told.
    consumer = getattr(app, "_consumer", None)
    if consumer is not None:
        consumer.callback = on_message


def runs_allowing_repeats(numbers: Iterable[int]) -> Iterator[list[int]]:
    """Runs of consecutive numbers of a sorted sequence, as Faust's
    ``consecutive_numbers`` finds them, except that a number repeated continues
    its run: ``[7, 8, 8, 9, 11]`` gives ``[7, 8, 8, 9]`` then ``[11]``."""
    run: list[int] = []
    for number in numbers:
        if run and number - run[-1] > 1:
            yield run
            run = []
        run.append(number)
    if run:
        yield run


def install() -> None:
    """Make Faust's commits wait for dropped messages and survive repeated
    acknowledged offsets (idempotent)."""
    Consumer._new_offset = _checked_new_offset
    Consumer.ack = _checked_ack
    faust_consumer.consecutive_numbers = runs_allowing_repeats
