"""Kafka-side measurements of `lifecycle bench`: producing, reading, timing.

- :func:`produce_all` sends a stream as fast as the producer goes, every send checked.
- :func:`bare_consume` times a bare aiokafka consumer that decodes every value.
- :func:`output_window` finds when the worker handled its first and last event,
  from the Kafka timestamps of the outputs that events cause directly.
- :func:`paced_latency` sends one event per new user at a fixed rate and times each
  until that user's first ``user-scores`` message is read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams import topics
from streams.bench.procs import BenchError
from streams.replay.producer import EventSender

log = logging.getLogger(__name__)

Event = dict[str, Any]
Offsets = dict[TopicPartition, int]

# Outputs that an event causes at once, in the worker's ingest agent. Session-end
# scores and alerts come from the sweep, on a timer, and would blur the window.
EVENT_DRIVEN = (topics.USER_SCORES, topics.RECOMMENDATIONS)
READ_POLL_MS = 200
READ_IDLE_S = 3.0


def produce_all(bootstrap: str, topic: str, events: Iterable[Event]) -> int:
    """Send every event keyed by user id; return how many; fail on any failure."""
    started_s = time.monotonic()
    with EventSender(bootstrap, topic, client_id="bench") as sender:
        sent = 0
        for event in events:
            sender.send_event(event)
            sent += 1
        sender.flush()
        if sender.failed or sender.acked != sent:
            raise BenchError(
                f"producing to {topic}: sent={sent} acked={sender.acked} "
                f"failed={dict(sender.failures)}"
            )
    log.info(
        "produced topic=%s events=%d elapsed_s=%.2f", topic, sent,
        time.monotonic() - started_s,
    )
    return sent


def end_offsets(bootstrap: str, names: Iterable[str]) -> Offsets:
    """Current end offset of every partition of the topics."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        tps = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        return consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()


def count_records(bootstrap: str, topic: str) -> int:
    """Records between the beginning and end offsets of a topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        tps = [
            TopicPartition(topic, p)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return 0
        starts = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        consumer.close()


# -- the bare consumer -------------------------------------------------------


def bare_consume(bootstrap: str, topic: str, expected: int) -> dict[str, float]:
    """Read ``expected`` records with aiokafka, ``orjson.loads`` each value.

    The clock starts when the first batch is asked for, with the partitions
    assigned and connections open, and stops when the last record is decoded.
    """
    return asyncio.run(_bare_consume(bootstrap, topic, expected))


async def _bare_consume(bootstrap: str, topic: str, expected: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as AioTopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [AioTopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)

        count = 0
        first_s = idle_since_s = time.monotonic()
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batches:
                if time.monotonic() - idle_since_s > READ_IDLE_S * 10:
                    raise BenchError(
                        f"bare consumer read {count} of {expected} records of {topic}"
                    )
                continue
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                count += len(records)
            idle_since_s = time.monotonic()
        elapsed_s = time.monotonic() - first_s
    finally:
        await consumer.stop()
    return {"events": count, "elapsed_s": elapsed_s, "eps": count / elapsed_s}


# -- the pipeline's window, from its outputs ---------------------------------


@dataclass
class OutputWindow:
    """Kafka timestamps (CreateTime, wall clock ms) of event-driven outputs."""

    records: int = 0
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def elapsed_s(self) -> float:
        if self.first_ms is None or self.last_ms is None:
            return 0.0
        return (self.last_ms - self.first_ms) / 1000.0


def output_window(bootstrap: str, since: Offsets) -> OutputWindow:
    """First and last timestamp of event-driven outputs after ``since``.

    The worker sends a user's first score and its recommendations from the agent
    that handles the event, so their timestamps bracket the time the worker spent
    on the events, without its start-up and without the later sweeps.
    """
    window = OutputWindow()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        tps = [tp for tp in since if tp.topic in EVENT_DRIVEN]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, since[tp])
        ends = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if since[tp] < ends[tp]}
        last_read_s = time.monotonic()
        while remaining:
            for tp, records in consumer.poll(READ_POLL_MS, max_records=10_000).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    last_read_s = time.monotonic()
                    if tp.topic == topics.USER_SCORES and (
                        orjson.loads(record.value).get("moment") != "activity"
                    ):
                        continue
                    window.records += 1
                    ts_ms = record.timestamp
                    if window.first_ms is None or ts_ms < window.first_ms:
                        window.first_ms = ts_ms
                    if window.last_ms is None or ts_ms > window.last_ms:
                        window.last_ms = ts_ms
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
            if remaining and time.monotonic() - last_read_s > READ_IDLE_S * 10:
                raise BenchError(f"cannot read outputs up to their end: {remaining}")
    finally:
        consumer.close()
    return window


# -- latency at a fixed rate -------------------------------------------------


@dataclass
class LatencyResult:
    sent: int
    rate_eps: float
    achieved_eps: float
    # Per event with a score, in the order sent.
    read_ms: list[float] = field(default_factory=list)
    create_ms: list[float] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.sent - len(self.read_ms)


class _ScoreReader:
    """Reads ``user-scores`` from its end in a thread; notes each user's first."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix.encode()
        self.first_read_s: dict[bytes, float] = {}
        self.first_create_ms: dict[bytes, int] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._bootstrap = bootstrap
        self._thread = threading.Thread(target=self._run, name="bench-scores")

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(30.0):
            raise BenchError("the user-scores reader did not start in 30s")
        if self.error is not None:
            raise BenchError(f"the user-scores reader failed: {self.error!r}")

    def join(self) -> None:
        self.stop.set()
        self._thread.join(10.0)

    def _run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
            self.ready.set()

    def _read(self) -> None:
        # A short fetch wait: the reader's own delay is part of what is measured.
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None,
            enable_auto_commit=False, fetch_max_wait_ms=10,
        )
        try:
            tps = [
                TopicPartition(topics.USER_SCORES, p)
                for p in sorted(consumer.partitions_for_topic(topics.USER_SCORES))
            ]
            consumer.assign(tps)
            consumer.seek_to_end(*tps)
            for tp in tps:
                consumer.position(tp)  # resolve now, before any event is sent
            self.ready.set()
            while not self.stop.is_set():
                batches = consumer.poll(50)
                read_s = time.monotonic()
                for records in batches.values():
                    for record in records:
                        key = record.key or b""
                        if key.startswith(self.prefix) and (
                            key not in self.first_read_s
                        ):
                            self.first_read_s[key] = read_s
                            self.first_create_ms[key] = record.timestamp
        finally:
            consumer.close()


def paced_latency(
    bootstrap: str, events: list[Event], rate_eps: float, prefix: str,
    wait_s: float = 60.0,
) -> LatencyResult:
    """Send ``events`` at ``rate_eps``; time each to its user's first score.

    Each event must be the first of a new user whose id starts with ``prefix``.
    Latency is measured twice: to when the reader here got the score (monotonic
    clock, all in this process), and to the score's Kafka timestamp (wall clock,
    set by the worker's producer when it took the record).
    """
    reader = _ScoreReader(bootstrap, prefix)
    reader.start()
    # No linger: the time an event waits in this producer is not the pipeline's.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    sent_s: dict[bytes, float] = {}
    sent_wall_ms: dict[bytes, float] = {}
    try:
        started_s = time.monotonic()
        for i, event in enumerate(events):
            due_s = started_s + i / rate_eps
            now_s = time.monotonic()
            if due_s > now_s:
                time.sleep(due_s - now_s)
            key = event["user_id"].encode()
            value = orjson.dumps(event)
            sent_s[key] = time.monotonic()
            sent_wall_ms[key] = time.time() * 1000.0
            producer.send(topics.CLICKSTREAM, key=key, value=value)
        producer.flush()
        sending_s = time.monotonic() - started_s

        deadline = time.monotonic() + wait_s
        while len(reader.first_read_s) < len(sent_s):
            if reader.error is not None:
                raise BenchError(f"user-scores reader failed: {reader.error!r}")
            if time.monotonic() > deadline:
                log.warning(
                    "latency scores missing=%d of %d after wait_s=%.0f",
                    len(sent_s) - len(reader.first_read_s), len(sent_s), wait_s,
                )
                break
            time.sleep(0.2)
    finally:
        producer.close()
        reader.join()

    result = LatencyResult(
        sent=len(sent_s), rate_eps=rate_eps,
        achieved_eps=len(sent_s) / sending_s if sending_s else 0.0,
    )
    # In the order sent, so the first and last stretches can be compared.
    for key, at_s in sent_s.items():
        read_s = reader.first_read_s.get(key)
        if read_s is not None:
            result.read_ms.append((read_s - at_s) * 1000.0)
            result.create_ms.append(reader.first_create_ms[key] - sent_wall_ms[key])
    return result


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return ordered[rank - 1]
