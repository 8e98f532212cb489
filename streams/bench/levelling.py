"""`lifecycle bench --levelling N`: memory under a stream of users seen only once.

Every one of the N events is a new user, event time advancing steadily. Users idle
longer than the time-to-live are evicted on the watermark (a tombstone goes to the
changelog), so the number of users held, and with it the worker's resident memory,
should level off once the stream is a TTL long, instead of growing with N.

The worker's resident memory and ``users_local`` are sampled while it consumes;
the table printed shows them at every tenth of the stream. The mean size of a row in
the users changelog gives the bytes of state per user.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams import topics
from streams.bench.measure import produce_all
from streams.bench.procs import BenchError, WorkerProcess
from streams.bench.stream import MEAN_GAP_MS, START_TS_MS, new_user_events
from streams.settings import Settings

log = logging.getLogger(__name__)

# Short horizons, and a TTL (--levelling-ttl-s) above them: with one new user every
# MEAN_GAP_MS, about TTL / gap users are held once the stream is older than that.
OVERRIDES = {
    "churn_horizon_s": 1800.0,
    "purchase_horizon_s": 1800.0,
    "session_gap_s": 900.0,
    "grace_s": 5.0,
}
SAMPLE_EVERY_S = 2.0


def run_levelling(
    args: argparse.Namespace, settings: Settings, bootstrap: str, workdir: Path
) -> dict[str, Any]:
    """Send ``args.levelling`` one-event users; sample memory as they are taken in."""
    total = args.levelling
    overrides = {**OVERRIDES, "user_ttl_s": args.levelling_ttl_s}
    worker = WorkerProcess(bootstrap, workdir, overrides)
    worker.start()
    try:
        worker.wait_ready()
        samples = _consume_sampling(worker, bootstrap, total)
        row_bytes = _mean_row_bytes(bootstrap, f"{worker.app_id}-users-changelog")
    finally:
        worker.stop()

    expected_live = int(args.levelling_ttl_s * 1000 / MEAN_GAP_MS)
    tenths = [_nearest(samples, total * k // 10) for k in range(1, 11)]
    late = [s["rss_mb"] for s in tenths[5:]]
    return {
        "levelling_events": total,
        "levelling_ttl_s": args.levelling_ttl_s,
        "levelling_expected_users_held": expected_live,
        "levelling_samples": tenths,
        "levelling_rss_mb_spread_second_half": round(max(late) - min(late), 1),
        "levelling_users_held_max": max(s["users_local"] for s in samples),
        "state_bytes_per_user": row_bytes,
    }


def _consume_sampling(
    worker: WorkerProcess, bootstrap: str, total: int
) -> list[dict[str, Any]]:
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            produce_all(
                bootstrap, topics.CLICKSTREAM,
                new_user_events(total, "lvl-", START_TS_MS, seed=5),
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            failure.append(exc)

    producer = threading.Thread(target=produce, name="levelling-producer")
    producer.start()
    samples: list[dict[str, Any]] = []
    started_s = time.monotonic()
    received = 0
    while received < total:
        if failure:
            raise BenchError(f"producing the levelling stream: {failure[0]!r}")
        worker.check_alive()
        stats = worker.stats()
        if stats is not None:
            received = stats["received"].get("clickstream", 0)
            samples.append({
                "received": received,
                "users_local": stats["users_local"],
                "evicted": stats["counts"].get("users_evicted", 0),
                "rss_mb": round(worker.rss_kb() / 1024, 1),
                "elapsed_s": round(time.monotonic() - started_s, 1),
            })
            log.info("levelling %s", " ".join(f"{k}={v}" for k, v in
                                              samples[-1].items()))
        time.sleep(SAMPLE_EVERY_S)
    producer.join()
    return samples


def _nearest(samples: list[dict[str, Any]], received: int) -> dict[str, Any]:
    return min(samples, key=lambda s: abs(s["received"] - received))


def _mean_row_bytes(bootstrap: str, changelog: str, limit: int = 20_000) -> float:
    """Mean value size of the first rows (not tombstones) of the users changelog."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(changelog) or set()
        tps = [TopicPartition(changelog, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        sizes: list[int] = []
        deadline = time.monotonic() + 30
        while len(sizes) < limit and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                sizes.extend(len(r.value) for r in batch if r.value is not None)
    finally:
        consumer.close()
    if not sizes:
        raise BenchError(f"no rows read from {changelog}")
    return round(sum(sizes) / len(sizes), 1)


def format_levelling(result: dict[str, Any]) -> str:
    lines = [
        f"levelling: {result['levelling_events']:,} one-event users, TTL "
        f"{result['levelling_ttl_s']:.0f}s of event time (about "
        f"{result['levelling_expected_users_held']:,} users held at steady state)",
        f"{'received':>10} {'users held':>11} {'evicted':>9} {'RSS MB':>8}",
    ]
    for s in result["levelling_samples"]:
        lines.append(
            f"{s['received']:>10,} {s['users_local']:>11,} {s['evicted']:>9,} "
            f"{s['rss_mb']:>8.1f}"
        )
    lines.append(
        f"RSS spread over the second half: "
        f"{result['levelling_rss_mb_spread_second_half']} MB; mean row "
        f"{result['state_bytes_per_user']} bytes per user"
    )
    return "\n".join(lines)


def print_levelling(result: dict[str, Any], as_json: bool) -> None:
    print(json.dumps(result, indent=2) if as_json else format_levelling(result))
