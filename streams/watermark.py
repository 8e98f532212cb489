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
"""

from __future__ import annotations


class Watermarks:
    """Highest event times seen, per partition and per worker, minus grace."""

    def __init__(self, grace_ms: int, idle_after_s: float) -> None:
        self.grace_ms = grace_ms
        self.idle_after_s = idle_after_s
        self.max_ts_ms = 0
        self._partition_max_ms: dict[int, int] = {}
        self._partition_seen_s: dict[int, float] = {}

    def observe(self, partition: int, event_ts_ms: int, now_s: float) -> None:
        """Advance the clocks with an accepted event (late ones never advance)."""
        if event_ts_ms > self.max_ts_ms:
            self.max_ts_ms = event_ts_ms
        if event_ts_ms > self._partition_max_ms.get(partition, 0):
            self._partition_max_ms[partition] = event_ts_ms
        self._partition_seen_s[partition] = now_s

    @property
    def value_ms(self) -> int:
        """The worker watermark: highest event time seen minus grace."""
        return self.max_ts_ms - self.grace_ms if self.max_ts_ms else 0

    def partition_ms(self, partition: int) -> int:
        """A partition's own watermark (0 before its first event)."""
        top = self._partition_max_ms.get(partition, 0)
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

    def late_by_ms(self, partition: int, event_ts_ms: int) -> int:
        """How far an event lies behind its partition's watermark (0: on time)."""
        return max(self.partition_ms(partition) - event_ts_ms, 0)

    def restore(self, partition: int, max_ts_ms: int) -> None:
        """Give a partition back the clock its stored rows imply: the newest
        event time among its users. After a restart or a rebalance the rows are
        recovered from the changelog, and so is the lateness of what comes next.
        The clock never moves back; the partition counts as idle until it reads
        an event."""
        if max_ts_ms > self._partition_max_ms.get(partition, 0):
            self._partition_max_ms[partition] = max_ts_ms
        if max_ts_ms > self.max_ts_ms:
            self.max_ts_ms = max_ts_ms

    def forget(self, partition: int) -> None:
        """Drop a partition's clock when the partition leaves this worker."""
        self._partition_max_ms.pop(partition, None)
        self._partition_seen_s.pop(partition, None)
