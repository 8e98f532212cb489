"""Fixture factories for integration tests: a real broker, real worker processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.broker import Broker

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def kafka(tmp_path):
    """A fresh broker per test, so tests never see each other's topics."""
    broker = Broker(free_port(), tmp_path / "broker.log")
    broker.start()
    yield broker.bootstrap
    broker.stop()


class WorkerProcess:
    """A `lifecycle worker` in its own process, with its web port for stats."""

    def __init__(self, bootstrap: str, workdir: Path, env: dict[str, str]) -> None:
        self.web_port = free_port()
        self.workdir = workdir
        self.log_path = workdir / f"worker-{self.web_port}.log"
        self.env = dict(os.environ)
        self.env.update(
            {
                "KAFKA_BOOTSTRAP": bootstrap,
                "LIFECYCLE_WEB_PORT": str(self.web_port),
                "LIFECYCLE_DATA_DIR": str(workdir / f"state-{self.web_port}"),
                "LIFECYCLE_SWEEP_INTERVAL_S": "0.5",
                "LIFECYCLE_SESSION_TIMEOUT_S": "6",
            }
        )
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
        return self

    def get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.web_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any] | None:
        try:
            return self.get("/stats/")
        except OSError:
            return None

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        wait_for(lambda: self.stats() is not None, timeout_s, "worker web server",
                 self)

    def wait_received(self, count: int, timeout_s: float = 180.0) -> dict[str, Any]:
        def done():
            stats = self.stats()
            if stats and stats["received"].get("clickstream", 0) >= count:
                return stats
            return None

        return wait_for(done, timeout_s, f"{count} messages received", self)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def wait_for(predicate, timeout_s: float, what: str, worker=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    tail = worker.log_tail() if worker else ""
    if callable(what):
        what = what()
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


@pytest.fixture
def start_worker(kafka, tmp_path):
    """Start workers against the test's broker; all are stopped at the end."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(kafka, tmp_path, env).start()
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    futures = [producer.send(topic, key=k, value=v) for k, v in messages]
    producer.flush()
    for future in futures:
        future.get(timeout=10)
    producer.close()


def read_topic(bootstrap: str, topic: str, timeout_s: float = 5.0) -> list[Any]:
    """Every record of a topic, from the start to its end at call time."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    records = []
    deadline = time.monotonic() + timeout_s
    idle_polls = 0
    # Read to the end offsets, then on until two polls in a row bring nothing: a
    # broker that reports end offsets short (Tansu 0.6 does) still gives us all.
    while time.monotonic() < deadline and (
        idle_polls < 2 or any(consumer.position(tp) < end[tp] for tp in tps)
    ):
        polled = consumer.poll(timeout_ms=200)
        idle_polls = 0 if polled else idle_polls + 1
        for batch in polled.values():
            records.extend(batch)
    consumer.close()
    return records


def read_json(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(bootstrap, topic)]
