"""The streaming side of an evaluation: the real pipeline, fed a dataset replay.

A run starts its own broker and one `lifecycle worker`, replays a file (or the
calibration part of it) at full speed, waits until the worker has applied every
event and its sweeps have settled, then reads what is to be judged: each population
user's scores as they stand at the worker's watermark (``GET /users/{id}/``), or
every record of the `user-scores` topic.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams import topics
from streams.errors import LifecycleError
from streams.replay.command import ReplayResult, replay_file
from streams.settings import Settings
from streams.stack import Stack, local_stack, wait_until

log = logging.getLogger(__name__)

# Short sweep periods: the run ends minutes after the replay, not hours.
RUN_OVERRIDES = {"sweep_interval_s": 1.0, "idle_partition_s": 3.0}
READ_THREADS = 8
CATCH_UP_TIMEOUT_S = 3600.0


@dataclass
class StreamRun:
    """What the pipeline made of a replay, with the time each phase took."""

    replay: ReplayResult | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    # user id -> {"churn": p, "purchase": p}, read at the end.
    user_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    missing_users: list[str] = field(default_factory=list)
    # Records of the user-scores topic, when asked for.
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        counts = self.stats.get("counts", {})
        return {
            "events_sent": self.replay.sent if self.replay else 0,
            "events_applied": counts.get("events", 0),
            "rejected": self.stats.get("rejected", {}),
            "replay_skipped": dict(self.replay.skipped) if self.replay else {},
            "scores_published": counts.get("scores", 0),
            "labels": {
                "churn": counts.get("labels_churn", 0),
                "purchase": counts.get("labels_purchase", 0),
            },
            "watermark_ms": self.stats.get("watermark_ms"),
            "models": self.stats.get("models", {}),
            "users_read": len(self.user_scores),
            "users_missing": len(self.missing_users),
            "score_records": len(self.records),
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }


def run_stream(
    settings: Settings,
    overrides: dict[str, Any],
    path: Path,
    fmt: str,
    workdir: Path,
    *,
    to_ms: int | None = None,
    speed: float | None = None,
    population: list[str] | None = None,
    read_scores_topic: bool = False,
) -> StreamRun:
    """Replay ``path`` (events before ``to_ms``) through a fresh broker and worker
    and read the outcome.

    ``speed`` paces the replay in event time (None: as fast as possible). The
    worker sweeps on a wall-clock timer, so the speed sets how much event time
    passes between two sweeps: at full speed a sweep may come only every few weeks
    of a purchase log, and session ends and label deadlines are then met late and
    in bursts.
    """
    run = StreamRun()
    overrides = {**overrides, **RUN_OVERRIDES}
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with local_stack(settings, overrides, workdir, own_broker=True) as stack:
        run.seconds["start"] = time.monotonic() - started

        mark = time.monotonic()
        run.replay = replay_file(
            stack.settings, path, fmt, topic=topics.CLICKSTREAM, speed=speed,
            to_ms=to_ms, progress=False,
        )
        if run.replay.failed:
            raise LifecycleError(
                f"replay of {path} failed for {run.replay.failed} events: "
                f"{dict(run.replay.failures)}"
            )
        run.seconds["replay"] = time.monotonic() - mark
        wait_until(lambda: _applied(stack, run.replay.sent), CATCH_UP_TIMEOUT_S,
                   "the worker to apply every event", poll_s=1.0)
        run.seconds["catch_up"] = time.monotonic() - mark
        run.stats = _settled(stack)
        log.info(
            "stream settled events_sent=%d watermark_ms=%s seconds=%.1f",
            run.replay.sent, run.stats.get("watermark_ms"),
            time.monotonic() - started,
        )

        mark = time.monotonic()
        if population is not None:
            run.user_scores, run.missing_users = read_user_scores(
                stack.web_port, population
            )
        if read_scores_topic:
            expected = run.stats["counts"].get("scores", 0)
            run.records = read_topic(stack.settings.bootstrap, topics.USER_SCORES,
                                     expected)
        run.seconds["read"] = time.monotonic() - mark
    run.seconds["total"] = time.monotonic() - started
    return run


def _applied(stack: Stack, sent: int) -> dict[str, Any] | None:
    """Stats once every sent event, re-keyed ones included, has been applied."""
    stats = stack.stats()
    if stats is None:
        if stack.worker.poll() is not None:
            raise LifecycleError(
                f"the worker exited with code {stack.worker.returncode}; "
                "see worker.log in the work folder"
            )
        return None
    received = stats["received"]
    if received.get("clickstream", 0) < sent:
        return None
    if received.get("rekeyed_in", 0) < received.get("rekeyed_out", 0):
        return None
    return stats


def _settled(stack: Stack) -> dict[str, Any]:
    """Stats once the sweeps on the final watermark have stopped changing them.

    Partitions fall idle after the replay and are then swept on the worker
    watermark: silent users get their session-end moment and due labels resolve,
    and the models learn from them. Scores read before that would be of a model
    still moving.
    """
    settings = stack.settings
    quiet_s = settings.idle_partition_s + 2 * settings.sweep_interval_s + 1.0
    last: tuple[Any, ...] | None = None
    since = time.monotonic()
    deadline = since + 600.0
    while time.monotonic() < deadline:
        stats = stack.stats() or {}
        counts = stats.get("counts", {})
        signature = (
            counts.get("scores"), counts.get("labels_churn"),
            counts.get("labels_purchase"), stats.get("watermark_ms"),
        )
        if signature != last:
            last, since = signature, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return stats
        time.sleep(0.5)
    raise LifecycleError("the worker's sweeps did not settle in 600s")


def read_user_scores(
    web_port: int, user_ids: list[str], threads: int = READ_THREADS
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Every user's ``scores_now``; users the worker does not know are listed."""
    base = f"http://127.0.0.1:{web_port}/users/"

    def one(user_id: str) -> tuple[str, dict[str, float] | None]:
        url = base + urllib.parse.quote(user_id, safe="") + "/"
        for attempt in range(3):
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    return user_id, json.loads(response.read())["scores_now"]
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return user_id, None
                error: Exception = exc
            except OSError as exc:
                error = exc
            time.sleep(0.5 * (attempt + 1))
        raise LifecycleError(f"GET {url} failed three times: {error}")

    scores: dict[str, dict[str, float]] = {}
    missing: list[str] = []
    with ThreadPoolExecutor(threads, thread_name_prefix="read-user") as pool:
        for user_id, body in pool.map(one, user_ids):
            if body is None:
                missing.append(user_id)
            else:
                scores[user_id] = body
    log.info("users read found=%d missing=%d", len(scores), len(missing))
    return scores, missing


def read_topic(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 300.0
) -> list[dict[str, Any]]:
    """Every JSON record of ``topic``: at least ``expected``, then on until idle
    (the bundled broker may report end offsets short, so they are not trusted)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[dict[str, Any]] = []
        idle_polls = 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (
            len(records) < expected or idle_polls < 3
        ):
            polled = consumer.poll(timeout_ms=500, max_records=10_000)
            idle_polls = 0 if polled else idle_polls + 1
            for batch in polled.values():
                records.extend(json.loads(r.value) for r in batch)
    finally:
        consumer.close()
    if len(records) < expected:
        raise LifecycleError(
            f"read {len(records)} records of {topic}, expected {expected}"
        )
    log.info("topic read topic=%s records=%d", topic, len(records))
    return records
