"""`lifecycle`: one command, with a subcommand per job."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from streams.errors import LifecycleError
from streams.settings import Settings

log = logging.getLogger(__name__)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # kafka-python narrates every connection at INFO.
    logging.getLogger("kafka").setLevel(logging.WARNING)


def run_broker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.broker import Broker

    if settings.kafka_bootstrap:
        print(f"KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is set: no broker started")
        return 0
    broker = Broker(args.port or settings.broker_port)
    broker.start()
    print(f"broker listening bootstrap={broker.bootstrap}; Ctrl-C stops it", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if broker.process is not None and broker.process.poll() is not None:
                print("broker exited", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from streams import alert_watch, demo, worker
    from streams.bench import command as bench
    from streams.evaluate import command as evaluate
    from streams.replay import command as replay

    parser = argparse.ArgumentParser(
        prog="lifecycle",
        description="Real-time user lifecycle engine for e-commerce on Kafka.",
    )
    parser.add_argument(
        "--log-level", help="debug, info, warning (LIFECYCLE_LOG_LEVEL)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    broker_p = sub.add_parser(
        "broker", help="run the bundled Kafka broker on 127.0.0.1"
    )
    broker_p.add_argument("--port", type=int, help="port (LIFECYCLE_BROKER_PORT)")
    broker_p.set_defaults(run=run_broker)

    worker_p = sub.add_parser("worker", help="run a stream-processing worker")
    worker.add_arguments(worker_p)
    worker_p.set_defaults(run=worker.run)

    replay_p = sub.add_parser("replay", help="produce a dataset file to clickstream")
    replay.add_arguments(replay_p)
    replay_p.set_defaults(run=replay.run)

    demo_p = sub.add_parser(
        "demo", help="broker + worker + a real dataset replayed, outputs shown"
    )
    demo.add_arguments(demo_p)
    demo_p.set_defaults(run=demo.run)

    bench_p = sub.add_parser(
        "bench", help="own broker; bare consumer, Faust floor and pipeline measured"
    )
    bench.add_arguments(bench_p)
    bench_p.set_defaults(run=bench.run)

    alerts_p = sub.add_parser(
        "alerts", help="follow the churn-alert stream in the terminal"
    )
    alert_watch.add_arguments(alerts_p)
    alerts_p.set_defaults(run=alert_watch.run)

    evaluate_p = sub.add_parser(
        "evaluate", help="own broker and worker; streaming scores beside baselines"
    )
    evaluate.add_arguments(evaluate_p)
    evaluate_p.set_defaults(run=evaluate.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.log_level:
            settings = settings.with_overrides(log_level=args.log_level)
    except LifecycleError as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        return args.run(args, settings)
    except LifecycleError as exc:
        print(f"lifecycle {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
