"""Stream partitions left paused after a recovery: seen and reported.

Faust pauses a worker's stream partitions while it recovers tables and resumes
them after. Some of its recovery paths return early (a rebalance seen mid-way),
expecting the next one to resume; if none comes, a partition stays assigned,
paused and unread, and the worker looks healthy. This watch reports such a
partition once it has stayed paused for PAUSED_WARN_S outside any recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

PAUSED_WARN_S = 30.0


class PausedWatch:
    """Called on a timer with the consumer's paused and assigned partitions."""

    def __init__(
        self, topics: Iterable[str], warn_after_s: float = PAUSED_WARN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = set(topics)
        self.warn_after_s = warn_after_s
        self.clock = clock
        self.since: dict[Any, float] = {}
        self.warned: set[Any] = set()

    def reset(self) -> None:
        """A recovery or rebalance is under way: pauses are expected."""
        self.since.clear()
        self.warned.clear()

    def check(self, paused: Iterable[Any], assigned: Iterable[Any]) -> list[Any]:
        """Note what is paused now; return (and log) the partitions newly late."""
        now_s = self.clock()
        current = {tp for tp in paused if tp.topic in self.topics} & set(assigned)
        for tp in list(self.since):
            if tp not in current:
                del self.since[tp]
                self.warned.discard(tp)
        late = []
        for tp in sorted(current):
            since_s = self.since.setdefault(tp, now_s)
            if now_s - since_s >= self.warn_after_s and tp not in self.warned:
                self.warned.add(tp)
                late.append(tp)
                log.warning(
                    "stream partition paused outside recovery topic=%s "
                    "partition=%d for_s=%.0f: it is not being read",
                    tp.topic, tp.partition, now_s - since_s,
                )
        return late
