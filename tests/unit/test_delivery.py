"""Failed sends are sent again before a commit's flush returns, or stop it."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from streams.delivery import TRIES_WHEN_STOPPING, Deliveries, NotDelivered, hand_over


class FlakyProducer:
    """Refuses the first ``refusals`` sends, then takes everything."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.taken: list[tuple] = []
        self.flushes = 0
        self._open: list[tuple[asyncio.Future, tuple]] = []

    async def send(self, topic, key, value, partition, timestamp, headers):
        sent = asyncio.get_running_loop().create_future()
        self._open.append((sent, (topic, key, value, partition, headers)))
        return sent

    async def flush(self) -> None:
        self.flushes += 1
        for sent, message in self._open:
            if self.refusals > 0:
                self.refusals -= 1
                sent.set_exception(ConnectionError("broker refused"))
            else:
                self.taken.append(message)
                sent.set_result(None)
        self._open.clear()


async def send_all(producer, deliveries, messages):
    for message in messages:
        topic, key, value, partition, headers = message
        sent = await producer.send(topic, key, value, partition, None, headers)
        deliveries.track(sent, message)


def messages(n):
    return [("users-changelog", f"u{i}".encode(), b"row", i % 4, None)
            for i in range(n)]


def test_refused_messages_are_sent_again_before_flush_returns():
    async def scenario():
        counts: Counter[str] = Counter()
        producer = FlakyProducer(refusals=3)
        deliveries = Deliveries(counts, backoff_s=0)
        deliveries.install(producer)
        await send_all(producer, deliveries, messages(10))
        await producer.flush()
        return producer, counts

    producer, counts = asyncio.run(scenario())
    assert sorted(producer.taken) == sorted(messages(10))
    assert counts["send_failures"] == 3
    assert counts["resent"] == 3


def test_a_broker_that_keeps_refusing_stops_the_commit():
    async def scenario():
        counts: Counter[str] = Counter()
        producer = FlakyProducer(refusals=10**6)
        deliveries = Deliveries(counts, attempts=2, backoff_s=0)
        deliveries.install(producer)
        await send_all(producer, deliveries, messages(2))
        with pytest.raises(NotDelivered, match="2 messages not delivered"):
            await producer.flush()
        # Nothing is forgotten: once the broker takes messages again, the next
        # flush delivers them.
        producer.refusals = 0
        await producer.flush()
        return producer

    producer = asyncio.run(scenario())
    assert sorted(producer.taken) == sorted(messages(2))


def test_installing_twice_wraps_the_flush_once():
    producer = FlakyProducer(refusals=0)
    deliveries = Deliveries(Counter())
    deliveries.install(producer)
    wrapped = producer.flush
    deliveries.install(producer)
    assert producer.flush is wrapped


def test_after_refuse_commits_every_flush_raises():
    async def scenario():
        producer = FlakyProducer(refusals=0)
        deliveries = Deliveries(Counter())
        deliveries.install(producer)
        deliveries.refuse_commits("rows lost at stop")
        for _ in range(2):
            with pytest.raises(NotDelivered, match="rows lost at stop"):
                await producer.flush()
        return producer

    assert asyncio.run(scenario()).flushes == 0


class FailingHandOver:
    """A batch's hand-over to the producer that fails ``failures`` times."""

    def __init__(self, failures: int, blocked: asyncio.Event | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.blocked = blocked

    async def __call__(self) -> None:
        self.calls += 1
        if self.blocked is not None:
            await self.blocked.wait()
        if self.calls <= self.failures:
            raise ConnectionError("producer refused")


def test_a_failed_hand_over_is_tried_again_until_it_succeeds():
    async def scenario():
        counts: Counter[str] = Counter()
        send = FailingHandOver(failures=2)
        cancelled = await hand_over(send, None, Deliveries(counts), counts, 0)
        return send, counts, cancelled

    send, counts, cancelled = asyncio.run(scenario())
    assert (send.calls, counts["send_retries"], cancelled) == (3, 2, None)


def test_a_cancellation_waits_for_the_hand_over_and_is_returned():
    async def scenario():
        counts: Counter[str] = Counter()
        blocked = asyncio.Event()
        send = FailingHandOver(failures=0, blocked=blocked)
        task = asyncio.ensure_future(
            hand_over(send, None, Deliveries(counts), counts, 0)
        )
        await asyncio.sleep(0)
        task.cancel()  # the agent is stopped while the batch is handed over
        await asyncio.sleep(0)
        assert not task.done()
        blocked.set()
        return await task

    assert isinstance(asyncio.run(scenario()), asyncio.CancelledError)


def test_a_stopping_worker_gives_up_and_refuses_every_later_commit():
    async def scenario():
        counts: Counter[str] = Counter()
        producer = FlakyProducer(refusals=0)
        deliveries = Deliveries(counts)
        deliveries.install(producer)
        send = FailingHandOver(failures=10**6)
        with pytest.raises(ConnectionError):
            await hand_over(
                send, asyncio.CancelledError(), deliveries, counts, 0
            )
        with pytest.raises(NotDelivered, match="rows not handed"):
            await producer.flush()
        return send

    assert asyncio.run(scenario()).calls == TRIES_WHEN_STOPPING + 1
