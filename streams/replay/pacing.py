"""Pacing a replay on event time: the data's clock runs ``speed`` times faster.

The events keep their own timestamps; only the moment each is sent is paced, and it
is measured with the monotonic clock, never the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class EventTimePacer:
    """Waits until an event is due, given the first event's time and the speed."""

    def __init__(
        self,
        speed: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed={speed} must be positive")
        self.speed = speed
        self._clock = clock
        self._sleep = sleep
        self._first_event_ts_ms: int | None = None
        self._start_s = 0.0

    def wait_for(self, event_ts_ms: int) -> float:
        """Sleep until the event is due; return the seconds slept.

        An event older than one already sent is due at once: out-of-order data is
        sent in file order, never held back.
        """
        if self._first_event_ts_ms is None:
            self._first_event_ts_ms = event_ts_ms
            self._start_s = self._clock()
            return 0.0

        offset_s = (event_ts_ms - self._first_event_ts_ms) / 1000.0 / self.speed
        delay_s = self._start_s + offset_s - self._clock()
        if delay_s <= 0:
            return 0.0
        self._sleep(delay_s)
        return delay_s
