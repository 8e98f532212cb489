"""No offset is committed past a row or output the broker did not take.

The worker hands its changelog rows and outputs to the producer without waiting
for them (see ``streams.app``), and Faust flushes the producer before it commits
offsets. But a flush only waits: a batch the broker refused, or that ran out of
retries, is as finished as a delivered one. The offsets of the events behind it
would then be committed, and after a crash those events would be neither in the
changelog nor read again: lost.

:class:`Deliveries` watches every message the worker sends. A failed one is kept,
and the producer's flush, the one Faust awaits before committing, sends it again
until the broker takes it; only then does the commit go on. If it still fails
after ``attempts`` tries, the flush raises and the commit does not happen: the
worker stops, and a restart reads those events again from the last commit.

A row sent again may land after a newer row of the same user. Recovery keeps the
row with the most events (``streams.recovery``), so the older one is harmless.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)

# A message: (topic, key, value, partition, headers).
Message = tuple[str, bytes | None, bytes | None, int | None, Any]

ATTEMPTS = 5
BACKOFF_S = 0.5


class NotDelivered(Exception):
    """Messages the broker would not take after every attempt."""


class Deliveries:
    """Failed sends, sent again before the producer's flush returns."""

    def __init__(
        self,
        counts: Counter[str],
        attempts: int = ATTEMPTS,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        self.counts = counts
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._failed: list[tuple[Message, BaseException]] = []
        self._producer: Any = None
        self._refusal: str | None = None

    def refuse_commits(self, reason: str) -> None:
        """Make every later flush raise: the worker lost track of messages it
        should have sent, so no offset may be committed after this."""
        log.error("commits refused reason=%s", reason)
        self._refusal = reason

    def track(self, sent: asyncio.Future, message: Message) -> None:
        """Keep ``message`` to send again if ``sent`` fails."""
        sent.add_done_callback(functools.partial(self._done, message))

    def _done(self, message: Message, sent: asyncio.Future) -> None:
        if sent.cancelled():
            self._failed.append((message, asyncio.CancelledError()))
        elif sent.exception() is not None:
            self._failed.append((message, sent.exception()))

    def install(self, producer: Any) -> None:
        """Make ``producer.flush`` (what Faust awaits before committing) also
        deliver every failed message again, or raise :class:`NotDelivered`."""
        if self._producer is producer:
            return
        self._producer = producer
        flush = producer.flush

        async def flush_delivered() -> None:
            if self._refusal is not None:
                raise NotDelivered(self._refusal)
            await flush()
            # Delivery callbacks run once the flush's own wake-up has.
            await asyncio.sleep(0)
            await self._deliver_failed(flush)

        producer.flush = flush_delivered

    async def _deliver_failed(self, flush: Any) -> None:
        attempt = 0
        while self._failed:
            attempt += 1
            failed, self._failed = self._failed, []
            error = failed[0][1]
            self.counts["send_failures"] += len(failed)
            if attempt > self.attempts:
                log.error(
                    "output not delivered messages=%d attempts=%d error=%r "
                    "action=stop_without_commit",
                    len(failed), self.attempts, error,
                )
                # Kept: a flush after this one tries again.
                self._failed = failed + self._failed
                raise NotDelivered(
                    f"{len(failed)} messages not delivered after "
                    f"{self.attempts} attempts: {error!r}"
                )
            log.warning(
                "send failed, sending again messages=%d attempt=%d error=%r",
                len(failed), attempt, error,
            )
            await asyncio.sleep(self.backoff_s * attempt)
            for message, _ in failed:
                topic, key, value, partition, headers = message
                sent = await self._producer.send(
                    topic, key, value, partition, None, headers
                )
                self.track(sent, message)
            self.counts["resent"] += len(failed)
            await flush()
            await asyncio.sleep(0)
