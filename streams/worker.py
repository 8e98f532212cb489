"""`lifecycle worker`: run the Faust worker against the configured Kafka."""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import socket
from pathlib import Path

from streams import topics
from streams.admin import ensure_topics
from streams.errors import ConfigError
from streams.settings import Settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web-port", type=int, help="HTTP port (default LIFECYCLE_WEB_PORT)"
    )
    parser.add_argument("--data-dir", help="local state dir (LIFECYCLE_DATA_DIR)")


def prepare(settings: Settings) -> Settings:
    """Create the topics and align the partition count with clickstream's."""
    names = (topics.CLICKSTREAM, topics.REKEYED, *topics.OUTPUT_TOPICS)
    counts = ensure_topics(
        settings.bootstrap, names, settings.partitions, settings.replication
    )
    source_n = counts[topics.CLICKSTREAM]
    if counts[topics.REKEYED] != source_n:
        raise ConfigError(
            f"topic {topics.REKEYED} has {counts[topics.REKEYED]} partitions but "
            f"{topics.CLICKSTREAM} has {source_n}; they must match"
        )
    if source_n != settings.partitions:
        log.warning(
            "clickstream partitions=%d differ from LIFECYCLE_PARTITIONS=%d; "
            "following the topic", source_n, settings.partitions,
        )
        settings = settings.with_overrides(partitions=source_n)
    return settings


def check_can_start(settings: Settings) -> None:
    """Fail early, with the fix, on what would otherwise stop the worker later
    with a traceback: a store it cannot open, a web port already taken."""
    if settings.store.startswith("rocksdb:"):
        try:
            import rocksdict  # noqa: F401
        except ImportError:
            raise ConfigError(
                "LIFECYCLE_STORE=rocksdb:// needs the rocksdb extra: "
                "pip install -e '.[rocksdb]'"
            ) from None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the web server binds: a port left in TIME_WAIT by a worker just
        # stopped is free; one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.web_bind, settings.web_port))
        except OSError as exc:
            raise ConfigError(
                f"cannot serve on {settings.web_bind}:{settings.web_port} "
                f"({exc.strerror}); another worker may be using it: pick another "
                "with --web-port or LIFECYCLE_WEB_PORT"
            ) from None


def check_transactions(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Fail early, in one line, when exactly_once meets a broker without
    transactions (the bundled one has none): Faust would stop later, deep in a
    traceback of InitProducerId."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def probe() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            transactional_id=f"lifecycle-probe-{os.getpid()}",
            enable_idempotence=True,
        )
        try:
            await asyncio.wait_for(producer.start(), timeout_s)
        finally:
            await producer.stop()

    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001 - any refusal means no transactions
        raise ConfigError(
            "LIFECYCLE_PROCESSING_GUARANTEE=exactly_once needs a broker with "
            f"transactions, and {bootstrap} refused to start one ({exc!r}); the "
            "bundled broker has none: use at_least_once there"
        ) from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    from faust import Worker

    from streams.app import create_app

    overrides = {}
    if args.web_port:
        overrides["web_port"] = args.web_port
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = settings.with_overrides(**overrides)
    check_can_start(settings)
    settings = prepare(settings)
    if settings.processing_guarantee == "exactly_once":
        check_transactions(settings.bootstrap)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    log.info("worker starting %s", settings.describe())
    app = create_app(settings)
    _settle_garbage_collector()
    profile_to = os.environ.get("LIFECYCLE_PROFILE_OUT")
    if profile_to:
        _profile_until_exit(Path(profile_to))
    worker = Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
    return 0


# The worker keeps tens of thousands of user rows, each a few containers, that
# live until eviction; at Python's default thresholds the collector walks them
# over and over (about 10 µs an event, profiled offline). Rows hold no cycles,
# so they are freed by reference counting when evicted; the collector only has to
# run now and then.
GC_THRESHOLDS = (20_000, 20, 20)


def _settle_garbage_collector() -> None:
    """Freeze what start-up built (modules, models) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    log.info(
        "gc tuned frozen=%d thresholds=%s", gc.get_freeze_count(), GC_THRESHOLDS
    )


def _profile_until_exit(path: Path) -> None:
    """Profile the whole worker (a developer's knob, LIFECYCLE_PROFILE_OUT).

    cProfile slows every Python call, so read the split of the time, not the
    rates. ``python -m pstats PATH`` reads the file written at exit.
    """
    import cProfile

    profiler = cProfile.Profile()

    def dump() -> None:
        profiler.disable()
        profiler.dump_stats(path)
        log.info("profile written path=%s", path)

    atexit.register(dump)
    profiler.enable()
