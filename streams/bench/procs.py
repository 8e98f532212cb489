"""The processes `lifecycle bench` starts: the do-nothing Faust agent and workers.

Each runs in a session of its own, so a Ctrl-C in the terminal reaches only the
bench, which then stops them in order. Waits fail on a stall (no progress for a
while) rather than on a fixed deadline, so a slow pipeline is measured, not cut off.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from streams.demo import free_port, stop_process, worker_stats
from streams.errors import LifecycleError
from streams.settings import env_name

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
# Start-up (imports, group join) may take this long before a process is late.
START_TIMEOUT_S = 120.0
# A process that makes no progress for this long has stalled.
STALL_TIMEOUT_S = 120.0
# How often workers are asked for /stats/ while they are measured. Each request
# costs the worker a few ms (users_local counts the table's keys).
STATS_POLL_S = 2.0
PROGRESS_LOG_S = 10.0


class BenchError(LifecycleError):
    """A benchmark step failed: a process died, stalled or lost events."""


class _Process:
    """A child process with a log file, stopped by SIGTERM then SIGKILL."""

    name = "process"

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path):
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=REPO, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        log.info("started %s pid=%d log=%s", self.name, self.process.pid,
                 self.log_path)

    def stop(self) -> None:
        if self.process is None or self._stopped:
            return
        stop_process(self.process)
        self._stopped = True
        log.info(
            "stopped %s pid=%d code=%s", self.name, self.process.pid,
            self.process.returncode,
        )

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is None:
            return
        raise BenchError(
            f"{self.name} exited with code {self.process.returncode}; last lines of "
            f"{self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class FloorProcess(_Process):
    """``python -m streams.bench.floor``: one agent that only counts events."""

    name = "floor"

    def __init__(
        self, bootstrap: str, topic: str, events: int, workdir: Path,
        partitions: int, session_timeout_s: float,
    ) -> None:
        app_id = f"bench-floor-{os.getpid()}-{time.time_ns()}"
        self.result_path = workdir / f"{app_id}.json"
        env = dict(os.environ)
        env.update({
            "BENCH_FLOOR_BOOTSTRAP": bootstrap,
            "BENCH_FLOOR_TOPIC": topic,
            "BENCH_FLOOR_APP_ID": app_id,
            "BENCH_FLOOR_EVENTS": str(events),
            "BENCH_FLOOR_RESULT": str(self.result_path),
            "BENCH_FLOOR_DATA_DIR": str(workdir / f"{app_id}-data"),
            "BENCH_FLOOR_PARTITIONS": str(partitions),
            "BENCH_FLOOR_SESSION_TIMEOUT_S": str(session_timeout_s),
        })
        super().__init__(
            [sys.executable, "-m", "streams.bench.floor"], env,
            workdir / f"{app_id}.log",
        )
        self.events = events

    def wait_result(self) -> dict[str, Any]:
        """Wait for the agent's count of ``events``; return events and elapsed_s."""
        # The agent writes nothing until it is done, so a stall is judged on the
        # expected duration at a rate far below any plausible floor.
        timeout_s = START_TIMEOUT_S + STALL_TIMEOUT_S + self.events / 500.0
        deadline = time.monotonic() + timeout_s
        while not self.result_path.exists():
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"floor did not count {self.events} events in {timeout_s:.0f}s; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.5)
        return orjson.loads(self.result_path.read_bytes())


class WorkerProcess(_Process):
    """``python -m streams.cli worker`` with a fresh app id, port and state dir."""

    name = "worker"

    def __init__(
        self, bootstrap: str, workdir: Path, overrides: dict[str, Any] | None = None
    ) -> None:
        self.web_port = free_port()
        self.app_id = f"bench-{os.getpid()}-{time.time_ns()}"
        env = dict(os.environ)
        env["KAFKA_BOOTSTRAP"] = bootstrap
        env[env_name("app_id")] = self.app_id
        env[env_name("web_port")] = str(self.web_port)
        env[env_name("data_dir")] = str(workdir / f"{self.app_id}-state")
        for name, value in (overrides or {}).items():
            env[env_name(name)] = str(value)
        super().__init__(
            [sys.executable, "-m", "streams.cli", "worker"], env,
            workdir / f"{self.app_id}.log",
        )

    def stats(self) -> dict[str, Any] | None:
        return worker_stats(self.web_port)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.stats() is None:
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"worker web server not up in {START_TIMEOUT_S:.0f}s; last "
                    f"lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.5)

    def wait_received(self, total: int, what: str) -> dict[str, Any]:
        """Poll /stats/ until ``received.clickstream`` reaches ``total``.

        Returns the last stats plus ``first_seen_s`` and ``done_s``: monotonic
        times of the first poll that saw the count move and of the poll that saw
        it reach ``total``, for a coarse cross-check of the exact timing, and
        ``start_count``, the count at the first poll.
        """
        start_count: int | None = None
        first_seen_s: float | None = None
        progress_s = last_log_s = time.monotonic()
        last_count = -1
        while True:
            self.check_alive()
            stats = self.stats()
            now_s = time.monotonic()
            count = stats["received"].get("clickstream", 0) if stats else last_count
            if stats and start_count is None:
                start_count = count
            if start_count is not None and first_seen_s is None and (
                count > start_count
            ):
                first_seen_s = now_s
            if count >= total:
                assert stats is not None
                stats["first_seen_s"] = first_seen_s or now_s
                stats["done_s"] = now_s
                stats["start_count"] = start_count
                return stats
            if count != last_count:
                last_count, progress_s = count, now_s
            elif now_s - progress_s > (
                STALL_TIMEOUT_S + (START_TIMEOUT_S if first_seen_s is None else 0)
            ):
                raise BenchError(
                    f"worker stalled at received={count} of {total} ({what}); last "
                    f"lines of {self.log_path}:\n{self.log_tail()}"
                )
            if now_s - last_log_s >= PROGRESS_LOG_S:
                log.info("waiting phase=%s received=%d of %d", what, count, total)
                last_log_s = now_s
            time.sleep(STATS_POLL_S)

    def rss_kb(self) -> int:
        """Resident memory of the worker process, in KiB."""
        return rss_kb(self.pid)


def rss_kb(pid: int) -> int:
    """VmRSS of a process, in KiB, from /proc (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS in /proc/{pid}/status")
