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
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

# A message: (topic, key, value, partition, headers).
Message = tuple[str, bytes | None, bytes | None, int | None, Any]

ATTEMPTS = 5
BACKOFF_S = 0.5
# Watched sends are sorted out at each flush, and also whenever this many wait.
PRUNE_AT = 50_000
# A worker told to stop gives up handing a batch to a producer that keeps
# failing after this many tries; no offset is committed after that.
TRIES_WHEN_STOPPING = 3


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
        self._sent: list[tuple[asyncio.Future, Message]] = []
        self._prune_at = PRUNE_AT
        self._producer: Any = None
        self._refusal: str | None = None

    def refuse_commits(self, reason: str) -> None:
        """Make every later flush raise: the worker lost track of messages it
        should have sent, so no offset may be committed after this."""
        log.error("commits refused reason=%s", reason)
        self._refusal = reason

    def track(self, sent: asyncio.Future, message: Message) -> None:
        """Keep ``message`` to send again if ``sent`` fails.

        Kept in a list read at the next flush, not through a callback per
        message: a callback cost about 4.6 µs a message, this under 1.
        """
        self._sent.append((sent, message))
        if len(self._sent) >= self._prune_at:
            self._collect()

    def _collect(self) -> None:
        """Move failed sends to ``_failed`` and forget delivered ones; sends
        still in flight stay watched."""
        pending = []
        failed = self._failed
        for sent, message in self._sent:
            if not sent.done():
                pending.append((sent, message))
            elif sent.cancelled():
                failed.append((message, asyncio.CancelledError()))
            elif sent.exception() is not None:
                failed.append((message, sent.exception()))
        self._sent = pending
        # Sends still in flight are looked at again only once as many more
        # have come: sorting out stays linear in the number of sends.
        self._prune_at = max(PRUNE_AT, 2 * len(pending))

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
            self._collect()
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
            self._collect()


async def hand_over(
    send_pending: Callable[[], Awaitable[None]],
    cancelled: BaseException | None,
    deliveries: Deliveries,
    counts: Counter[str],
    backoff_s: float = 1.0,
) -> BaseException | None:
    """Await ``send_pending`` (a batch's rows and outputs into the producer)
    until it succeeds, trying again after a failure (the agent waits meanwhile:
    back-pressure) and holding a cancellation until it has; returns the
    cancellation, if any, for the caller to raise once the batch is done.

    A worker being stopped gives up after TRIES_WHEN_STOPPING failures; the
    batch would then be acknowledged unwritten, so every later commit is
    refused (see :meth:`Deliveries.refuse_commits`).
    """
    failures = 0
    while True:
        sending = asyncio.ensure_future(send_pending())
        while not sending.done():
            try:
                await asyncio.shield(sending)
            except asyncio.CancelledError as exc:
                cancelled = exc
            except Exception:  # noqa: BLE001, S110 - read from ``sending`` below
                pass
        if sending.cancelled():  # the event loop is closing under us
            deliveries.refuse_commits("hand-over to the producer cancelled")
            raise asyncio.CancelledError()
        error = sending.exception()
        if error is None:
            return cancelled
        failures += 1
        counts["send_retries"] += 1
        if cancelled is not None and failures > TRIES_WHEN_STOPPING:
            deliveries.refuse_commits(f"rows not handed to the producer: {error!r}")
            raise error
        log.warning("send failed, trying again error=%r tries=%d", error, failures)
        try:
            await asyncio.sleep(backoff_s * min(failures, 5))
        except asyncio.CancelledError as exc:
            cancelled = exc
