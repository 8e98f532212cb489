"""A broker and one worker process on 127.0.0.1, for the commands that need both.

`lifecycle demo` and `lifecycle evaluate` start what they need through
:func:`local_stack`, which stops everything it started on the way out, however the
block ends.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.broker import Broker, die_with_parent
from streams.errors import LifecycleError
from streams.settings import Settings, env_name

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_stats(port: int) -> dict[str, Any] | None:
    """The worker's ``GET /stats/``, or None while it does not answer."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/stats/", timeout=2
        ) as response:
            return json.loads(response.read())
    except OSError:
        return None


def start_worker(
    settings: Settings, overrides: dict[str, Any], workdir: Path, web_port: int
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP"] = settings.bootstrap
    env[env_name("web_port")] = str(web_port)
    env[env_name("data_dir")] = str(workdir / "state")
    for name, value in overrides.items():
        env[env_name(name)] = str(value)
    log_file = open(workdir / "worker.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env, stdout=log_file, stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(
    predicate: Any, timeout_s: float, what: str, poll_s: float = 0.5
) -> Any:
    """Call ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise LifecycleError(f"timed out after {timeout_s:.0f}s waiting for {what}")


@dataclass(frozen=True)
class Stack:
    """What :func:`local_stack` started: settings to reach it, the worker's port."""

    settings: Settings
    web_port: int
    worker: subprocess.Popen[bytes]
    broker: Broker | None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def stats(self) -> dict[str, Any] | None:
        return worker_stats(self.web_port)


@contextmanager
def local_stack(
    settings: Settings,
    overrides: dict[str, Any],
    workdir: Path,
    own_broker: bool = False,
    start_timeout_s: float = 90.0,
) -> Iterator[Stack]:
    """Start a broker (unless KAFKA_BOOTSTRAP is set and ``own_broker`` is false)
    and one worker with ``overrides``; stop both when the block ends."""
    from streams.worker import prepare

    broker = None
    worker = None
    try:
        if own_broker or not settings.kafka_bootstrap:
            explicit = os.environ.get(env_name("broker_port")) and not own_broker
            port = settings.broker_port if explicit else free_port()
            broker = Broker(port, workdir / "broker.log")
            broker.start()
            settings = settings.with_overrides(kafka_bootstrap=broker.bootstrap)
        settings = settings.with_overrides(**overrides)

        prepare(settings)
        web_port = free_port()
        worker = start_worker(settings, overrides, workdir, web_port)
        wait_until(lambda: worker_stats(web_port), start_timeout_s,
                   "the worker to start")
        log.info(
            "stack up bootstrap=%s web_port=%d worker_pid=%d workdir=%s",
            settings.bootstrap, web_port, worker.pid, workdir,
        )
        yield Stack(settings, web_port, worker, broker)
    finally:
        if worker is not None:
            stop_process(worker)
        if broker is not None:
            broker.stop()
