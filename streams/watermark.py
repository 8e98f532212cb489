"""Event-time clocks of one worker.

The worker watermark is the highest event time seen minus the grace period. Each
partition also keeps its own: events within a partition arrive in order from their
producer, while partitions are consumed at different speeds, so lateness and the
sweep of a partition's users are judged on that partition's clock. A partition that
has been silent for ``idle_after_s`` of wall-clock time follows the worker
watermark instead, so its silent users are still evaluated.

A partition silent only because the worker is behind on it (a replay, a loaded
machine) must not follow: the worker watermark may be weeks of event time ahead of
its unread events, and its users' labels would be learned before their purchases
are read. So the caller says whether the partition is read to the end
(``caught_up``); one with a backlog keeps its own clock, however long it waits.
Before that rule, 20 to 25% of Online Retail's purchase positives were lost so
under load.

A partition's events come in by more than one road, each in its own order: read
from the partition itself (``DIRECT``), and re-keyed from each clickstream
partition (the lane is that partition's number). Re-keying merges several
clickstream partitions, which the worker reads at uneven speeds when it has a
backlog (after a restart, or a replay faster than it can go): events of one
source can come minutes of event time behind another's without being late in
their own order. So each lane keeps its own clock, and an event is late when it
is behind its lane's, in the order its producer wrote it. A partition's clock,
which its sweeps run on, is the lowest of its live lanes (those heard from within
``idle_after_s`` of the partition's newest event), as a stream processor takes
the lowest watermark of its inputs: a sweep does not decide what an on-time event
of a slower lane could still change. A lane silent for longer stops holding its
partition back; when it comes again, its users' sweeps may have run ahead of it.
"""

from __future__ import annotations

# The lane of events read from the partition itself; a re-keyed event's lane is
# the number of the clickstream partition it came from (0 or more).
DIRECT = -1
# The lane of events re-keyed by a worker too old to say where they came from.
REKEYED_UNKNOWN = -2


class Watermarks:
    """Highest event times seen, per partition and per worker, minus grace."""

    def __init__(self, grace_ms: int, idle_after_s: float) -> None:
        self.grace_ms = grace_ms
        self.idle_after_s = idle_after_s
        self.max_ts_ms = 0
        # Per partition, per lane: [newest event time, when last heard from
        # (monotonic seconds; None for a clock restored from rows)].
        self._lanes: dict[int, dict[int, list]] = {}
        self._partition_seen_s: dict[int, float] = {}

    def observe(
        self, partition: int, event_ts_ms: int, now_s: float, lane: int = DIRECT
    ) -> None:
        """Advance the clocks with an accepted event (late ones never advance)."""
        if event_ts_ms > self.max_ts_ms:
            self.max_ts_ms = event_ts_ms
        lanes = self._lanes.get(partition)
        if lanes is None:
            lanes = self._lanes[partition] = {}
        entry = lanes.get(lane)
        if entry is None:
            lanes[lane] = [event_ts_ms, now_s]
        else:
            if event_ts_ms > entry[0]:
                entry[0] = event_ts_ms
            entry[1] = now_s
        self._partition_seen_s[partition] = now_s

    @property
    def value_ms(self) -> int:
        """The worker watermark: highest event time seen minus grace."""
        return self.max_ts_ms - self.grace_ms if self.max_ts_ms else 0

    def _top_ms(self, partition: int) -> int:
        """A partition's newest event time: the lowest among its live lanes,
        or with none live (a clock restored from rows, not yet heard from) the
        highest of them."""
        lanes = self._lanes.get(partition)
        if not lanes:
            return 0
        newest_s = self._partition_seen_s.get(partition)
        lowest = 0
        for top, seen_s in lanes.values():
            if seen_s is not None and newest_s - seen_s < self.idle_after_s:
                if not lowest or top < lowest:
                    lowest = top
        return lowest or max(top for top, _ in lanes.values())

    def partition_ms(self, partition: int) -> int:
        """A partition's own watermark (0 before its first event)."""
        top = self._top_ms(partition)
        return top - self.grace_ms if top else 0

    def sweep_ms(self, partition: int, now_s: float, caught_up: bool = True) -> int:
        """The watermark a partition's sweep runs on: the worker's once the
        partition has been silent for ``idle_after_s`` and is read to the end
        (``caught_up``), else its own."""
        seen_s = self._partition_seen_s.get(partition)
        idle = seen_s is None or now_s - seen_s >= self.idle_after_s
        if idle and caught_up:
            return self.value_ms
        return self.partition_ms(partition)

    def late_by_ms(
        self, partition: int, event_ts_ms: int, lane: int = DIRECT
    ) -> int:
        """How far an event lies behind the watermark of the lane it came by
        (0: on time). A lane's first event is on time."""
        entry = self._lanes.get(partition, {}).get(lane)
        if entry is None:
            return 0
        return max(entry[0] - self.grace_ms - event_ts_ms, 0)

    def restore(self, partition: int, max_ts_ms: int) -> None:
        """Give a partition back the clock its stored rows imply: the newest
        event time among its users. After a restart or a rebalance the rows are
        recovered from the changelog, and so is the lateness of what comes next.

        Rows do not say by which lane their events came, so the clock goes to
        the direct lane, marked as not yet heard from: events read from the
        partition itself are judged on it, the partition is swept on it until
        a lane is live, and re-keyed lanes start afresh (their backlog is not
        judged on a clock that other sources drove ahead). The clock never
        moves back; the partition counts as idle until it reads an event.
        """
        if max_ts_ms > self.max_ts_ms:
            self.max_ts_ms = max_ts_ms
        lanes = self._lanes.setdefault(partition, {})
        entry = lanes.get(DIRECT)
        if entry is None:
            lanes[DIRECT] = [max_ts_ms, None]
        elif max_ts_ms > entry[0]:
            entry[0] = max_ts_ms

    def forget(self, partition: int) -> None:
        """Drop a partition's clock when the partition leaves this worker."""
        self._lanes.pop(partition, None)
        self._partition_seen_s.pop(partition, None)
