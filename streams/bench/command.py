"""`lifecycle bench`: how fast the pipeline is next to what Faust itself allows.

One run measures, each alone so they do not share the cores:

1. A fixed, seeded synthetic stream (:mod:`streams.bench.stream`) is produced once
   to ``clickstream`` on a broker of its own, then read in full by a bare aiokafka
   consumer, by a do-nothing Faust agent (:mod:`streams.bench.floor`) and by a real
   worker. Each rate runs from the reader's first event (for the bare consumer,
   its first fetch) to its last: start-up and group join are left out. The
   worker's first and last event are read off the Kafka timestamps of the
   outputs it sends while handling events.
2. The worker's resident memory is read before and after it takes in a stream of
   new one-event users, sent as fast as possible; how fast it takes them in is
   noted too (``new_user_eps``).
3. With the worker caught up, one event per new user is sent at half the lower
   of the pipeline's measured rate and ``new_user_eps`` (a new user costs more
   than an average event); each is timed until that user's first score is read.
4. The Taobao slice is replayed as fast as possible on a fresh broker and read by
   the bare consumer, the floor and a worker with the demo's Taobao settings.

It is a benchmark, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from streams import topics
from streams.bench.levelling import print_levelling, run_levelling
from streams.bench.measure import (
    EVENT_DRIVEN,
    Event,
    bare_consume,
    count_records,
    end_offsets,
    output_window,
    paced_latency,
    percentile,
    produce_all,
)
from streams.bench.procs import BenchError, FloorProcess, WorkerProcess, rss_kb
from streams.bench.report import format_table
from streams.bench.stream import NewestTs, new_user_events, synthetic_events
from streams.broker import Broker
from streams.demo import PRESETS, default_data_roots, free_port
from streams.settings import Settings
from streams.worker import prepare

log = logging.getLogger(__name__)

REQUIRED_KEYS = (
    "bare_eps", "faust_floor_eps", "pipeline_eps", "ratio_to_floor", "p50_ms",
    "p99_ms", "rss_mb_per_100k_users",
)
TAOBAO = PRESETS["taobao"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events", type=int, default=200_000,
        help="events in the synthetic stream (default 200000)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the synthetic stream"
    )
    parser.add_argument(
        "--taobao", type=Path,
        help="Taobao UserBehavior slice (default: looked up in ../shared/data)",
    )
    parser.add_argument(
        "--no-taobao", action="store_true", help="skip the Taobao replay"
    )
    parser.add_argument(
        "--latency-s", type=float, default=15.0,
        help="seconds of paced sending for the latency measurement (default 15)",
    )
    parser.add_argument(
        "--rss-users", type=int, default=100_000,
        help="new users sent for the memory measurement (default 100000)",
    )
    parser.add_argument(
        "--levelling", type=int, metavar="N",
        help="instead: send N events, each a new user, and show the worker's "
        "memory levelling off as idle users are evicted (try 1000000)",
    )
    parser.add_argument(
        "--levelling-ttl-s", type=float, default=3600.0,
        help="user TTL of the levelling run, in event time (default 3600: about "
        "51k users held)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--workdir", type=Path, default=Path("var/bench"),
        help="where logs and worker state go (default var/bench)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.events < 1000 or args.rss_users < 1000:
        raise BenchError("--events and --rss-users must be at least 1000")
    taobao = None
    if not (args.no_taobao or args.levelling):
        taobao = find_taobao(args.taobao)
    workdir = args.workdir.resolve() / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C, so every process started here is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    # Sending as fast as it can, kafka-python warns that its network loop is slow;
    # for a producer that only fills a topic before the clock starts, that is noise.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    started_s = time.monotonic()

    if args.levelling:
        with kafka(settings, workdir / "broker.log") as (bootstrap, _):
            prepare(settings.with_overrides(kafka_bootstrap=bootstrap))
            result = run_levelling(args, settings, bootstrap, workdir)
        result["bench_elapsed_s"] = round(time.monotonic() - started_s, 1)
        print_levelling(result, args.json)
        return 0

    results: dict[str, Any] = dict.fromkeys(REQUIRED_KEYS)
    results.update(synthetic_run(args, settings, workdir))
    if taobao is not None and settings.kafka_bootstrap:
        log.warning(
            "taobao replay skipped: KAFKA_BOOTSTRAP is set, and it needs an empty "
            "clickstream topic of its own; unset it to use bundled brokers"
        )
    elif taobao is not None:
        results.update(taobao_run(taobao, settings, workdir))
    results["bench_elapsed_s"] = round(time.monotonic() - started_s, 1)
    results["workdir"] = str(workdir)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results))
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def find_taobao(path: Path | None) -> Path:
    if path is not None:
        if not path.is_file():
            raise BenchError(f"--taobao {path}: no such file")
        return path
    roots = default_data_roots()
    for root in roots:
        candidate = root / TAOBAO.folder / TAOBAO.filename
        if candidate.is_file():
            return candidate
    raise BenchError(
        f"{TAOBAO.filename} not found under {', '.join(map(str, roots))}; pass "
        "--taobao PATH or --no-taobao"
    )


@contextmanager
def kafka(settings: Settings, log_path: Path) -> Iterator[tuple[str, int | None]]:
    """KAFKA_BOOTSTRAP if set, else a bundled broker on a free port.

    Yields the bootstrap servers and the broker's pid (None for an external one).
    """
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap, None
        return
    broker = Broker(free_port(), log_path)
    broker.start()
    try:
        assert broker.process is not None
        yield broker.bootstrap, broker.process.pid
    finally:
        broker.stop()


def broker_rss_mb(pid: int | None) -> float | None:
    """The bundled broker keeps every record in memory; this is what it holds."""
    return None if pid is None else round(rss_kb(pid) / 1024, 1)


def fill_clickstream(
    settings: Settings, bootstrap: str, events: Iterable[Event]
) -> tuple[Settings, int]:
    """Create the topics, check clickstream is empty, send the events to it."""
    settings = prepare(settings.with_overrides(kafka_bootstrap=bootstrap))
    already = count_records(bootstrap, topics.CLICKSTREAM)
    if already:
        raise BenchError(
            f"topic {topics.CLICKSTREAM} at {bootstrap} already holds {already} "
            "records; the bench needs it empty (unset KAFKA_BOOTSTRAP to use a "
            "bundled broker)"
        )
    return settings, produce_all(bootstrap, topics.CLICKSTREAM, events)


def measure_throughput(
    settings: Settings, workdir: Path, sent: int, stack: ExitStack,
    overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], WorkerProcess]:
    """Bare consumer, floor agent and worker over the same ``sent`` events.

    Returns the rates and the worker, still running and caught up.
    """
    bootstrap = settings.bootstrap
    bare = bare_consume(bootstrap, topics.CLICKSTREAM, sent)
    log.info("measured bare eps=%.0f elapsed_s=%.2f", bare["eps"], bare["elapsed_s"])

    floor = FloorProcess(
        bootstrap, topics.CLICKSTREAM, sent, workdir, settings.partitions,
        settings.session_timeout_s,
    )
    stack.callback(floor.stop)
    floor.start()
    counted = floor.wait_result()
    floor.stop()
    floor_eps = (counted["events"] - 1) / counted["elapsed_s"]
    log.info(
        "measured floor eps=%.0f elapsed_s=%.2f", floor_eps, counted["elapsed_s"]
    )

    since = end_offsets(bootstrap, EVENT_DRIVEN)
    worker = WorkerProcess(bootstrap, workdir, overrides)
    stack.callback(worker.stop)
    worker.start()
    worker.wait_ready()
    stats = worker.wait_received(sent, "pipeline")
    # The last outputs may still sit in the worker's producer for its linger.
    time.sleep(1.0)
    window = output_window(bootstrap, since)
    if window.elapsed_s <= 0:
        raise BenchError(
            f"the worker sent {window.records} event-driven outputs; cannot time it"
        )
    pipeline_eps = (sent - 1) / window.elapsed_s
    polled_s = stats["done_s"] - stats["first_seen_s"]
    log.info(
        "measured pipeline eps=%.0f elapsed_s=%.2f outputs=%d "
        "(by /stats/ polls: elapsed_s=%.1f)",
        pipeline_eps, window.elapsed_s, window.records, polled_s,
    )
    if stats["rejected_total"]:
        log.warning("worker rejected=%s", stats["rejected"])
    # How long the agents waited for the learner process to catch up.
    waited_ms = stats.get("counts", {}).get("learner_wait_ms", 0)
    learner = stats.get("learner") or {}
    log.info("learner during the pipeline phase wait_ms=%d backlog_at_end=%s",
             waited_ms, learner.get("backlog"))

    return {
        "bare_eps": round(bare["eps"]),
        "faust_floor_eps": round(floor_eps),
        "pipeline_eps": round(pipeline_eps),
        "ratio_to_floor": round(pipeline_eps / floor_eps, 3),
        "events": sent,
        "pipeline_elapsed_s": round(window.elapsed_s, 2),
        "floor_elapsed_s": round(counted["elapsed_s"], 2),
        "bare_elapsed_s": round(bare["elapsed_s"], 2),
        "pipeline_learner_wait_ms": waited_ms,
    }, worker


def synthetic_run(
    args: argparse.Namespace, settings: Settings, workdir: Path
) -> dict[str, Any]:
    """Throughput, then latency and memory with the same worker."""
    results: dict[str, Any] = {"seed": args.seed, "cpus": os.cpu_count()}
    results["broker"] = "external" if settings.kafka_bootstrap else "bundled"
    run_tag = f"{os.getpid()}x{time.time_ns() % 10**9}"
    latest = NewestTs()
    with ExitStack() as stack:
        bootstrap, broker_pid = stack.enter_context(
            kafka(settings, workdir / "broker.log")
        )
        log.info("phase=synthetic events=%d seed=%d", args.events, args.seed)
        settings, sent = fill_clickstream(
            settings, bootstrap, latest.noting(synthetic_events(args.events, args.seed))
        )
        rates, worker = measure_throughput(settings, workdir, sent, stack)
        results.update(rates)
        total = sent

        # Memory first: its new users, sent as fast as they can be, also give
        # the rate the worker takes in new users at, which the latency phase
        # needs (see below).
        memory = measure_memory(args, settings, worker, latest, run_tag, total)
        results.update(memory)
        total = memory["events_total"]

        # Latency at half the maximum, the worker caught up and idle. The paced
        # events are each a new user (so each has a first score to time), and a
        # new user costs more than the average event of the synthetic stream:
        # paced at half the stream's rate, they would overload the worker and
        # time its queue. So the rate is half the lower of the two maxima.
        basis = "pipeline"
        max_eps = rates["pipeline_eps"]
        if memory["new_user_eps"] and memory["new_user_eps"] < max_eps:
            basis, max_eps = "new_users", memory["new_user_eps"]
        rate_eps = max_eps / 2.0
        n_latency = max(100, int(rate_eps * args.latency_s))
        prefix = f"lat{run_tag}-"
        # Stamped at the pace they are sent, so event time moves as in a live
        # stream. At the stream's own spacing it ran hundreds of times faster,
        # ended the sessions of every user of the phases before, and the
        # latency measured the sweep of all of them.
        events = list(latest.noting(new_user_events(
            n_latency, prefix, latest.ts_ms + 1000, args.seed + 1,
            gap_ms=max(1, round(1000 / rate_eps)),
        )))
        log.info("phase=latency events=%d rate_eps=%.0f basis=%s",
                 n_latency, rate_eps, basis)
        latency = paced_latency(bootstrap, events, rate_eps, prefix)
        total += latency.sent
        worker.wait_received(total, "latency")
        results.update({
            "p50_ms": _round(percentile(latency.read_ms, 0.50)),
            "p99_ms": _round(percentile(latency.read_ms, 0.99)),
            "latency_rate_eps": round(rate_eps),
            "latency_rate_basis": basis,
            "latency_achieved_eps": round(latency.achieved_eps),
            "latency_events": latency.sent,
            "latency_missing": latency.missing,
            "p50_ms_to_output_ts": _round(percentile(latency.create_ms, 0.50)),
            "p99_ms_to_output_ts": _round(percentile(latency.create_ms, 0.99)),
            "max_ms": _round(max(latency.read_ms, default=None)),
        })
        log.info(
            "measured latency p50_ms=%s p99_ms=%s missing=%d",
            results["p50_ms"], results["p99_ms"], latency.missing,
        )
        results.update(latency_drift(latency.read_ms))
        results["broker_rss_mb"] = broker_rss_mb(broker_pid)
    return results


def latency_drift(read_ms: list[float]) -> dict[str, Any]:
    """p50 of the first and of the last fifth of the paced events.

    A worker that keeps up at the paced rate shows the same latency throughout;
    one that does not shows a queue, and latency growing with it.
    """
    fifth = max(1, len(read_ms) // 5)
    first = percentile(read_ms[:fifth], 0.5)
    last = percentile(read_ms[-fifth:], 0.5)
    if first is not None and last is not None and last > 2 * first + 50:
        log.warning(
            "latency grew during the paced run p50_ms_first_fifth=%.1f "
            "p50_ms_last_fifth=%.1f: the worker did not keep up at this rate",
            first, last,
        )
    return {
        "p50_ms_first_fifth": _round(first), "p50_ms_last_fifth": _round(last),
    }


def measure_memory(
    args: argparse.Namespace, settings: Settings, worker: WorkerProcess,
    latest: NewestTs, run_tag: str, total: int,
) -> dict[str, Any]:
    """Growth of the worker's resident memory over ``--rss-users`` new users."""
    settle_s = settings.sweep_interval_s * 2 + 1.0
    time.sleep(settle_s)
    before_kb = worker.rss_kb()
    before = worker.stats() or {}
    users_before = before.get("users_local", 0)
    log.info(
        "phase=memory users=%d rss_mb_before=%.1f users_local=%d",
        args.rss_users, before_kb / 1024, users_before,
    )

    prefix = f"rss{run_tag}-"
    sent = produce_all(
        settings.bootstrap, topics.CLICKSTREAM,
        latest.noting(new_user_events(
            args.rss_users, prefix, latest.ts_ms + 1000, args.seed + 2
        )),
    )
    stats = worker.wait_received(total + sent, "memory")
    # Coarse (the stats are polled): from the first poll after the sending
    # ended, which already saw part of the users taken in, to the last.
    taking_s = stats["done_s"] - stats["first_seen_s"]
    taken = total + sent - (stats["start_count"] or 0)
    new_user_eps = taken / taking_s if taking_s > 1.0 and taken > 0 else None
    time.sleep(settle_s)
    after_kb = worker.rss_kb()
    stats = worker.stats() or stats
    added = stats["users_local"] - users_before
    if added <= 0:
        raise BenchError(f"users_local did not grow ({users_before} -> "
                         f"{stats['users_local']}); cannot size memory per user")
    per_100k_mb = (after_kb - before_kb) / 1024 / added * 100_000
    log.info(
        "measured memory rss_mb_after=%.1f users_added=%d mb_per_100k=%.1f",
        after_kb / 1024, added, per_100k_mb,
    )
    return {
        "rss_mb_per_100k_users": round(per_100k_mb, 1),
        "rss_users_added": added,
        "worker_rss_mb_before": round(before_kb / 1024, 1),
        "worker_rss_mb": round(after_kb / 1024, 1),
        "users_local": stats["users_local"],
        "events_total": stats["received"].get("clickstream", 0),
        "new_user_eps": None if new_user_eps is None else round(new_user_eps),
    }


def taobao_run(path: Path, settings: Settings, workdir: Path) -> dict[str, Any]:
    """The Taobao slice as fast as possible, on a broker of its own."""
    from streams.replay.sources import read_events

    skipped: Counter[str] = Counter()
    with ExitStack() as stack:
        bootstrap, broker_pid = stack.enter_context(
            kafka(settings, workdir / "broker-taobao.log")
        )
        log.info("phase=taobao file=%s", path)
        settings, sent = fill_clickstream(
            settings, bootstrap, read_events(path, "taobao", skipped)
        )
        rates, worker = measure_throughput(
            settings, workdir, sent, stack, TAOBAO.overrides
        )
        worker.stop()
        rates["broker_rss_mb"] = broker_rss_mb(broker_pid)
    if skipped:
        log.warning("taobao rows skipped %s", dict(skipped))
    return {f"taobao_{key}": value for key, value in rates.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
