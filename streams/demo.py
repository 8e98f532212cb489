"""`lifecycle demo`: broker, worker and a real dataset replayed, outputs shown live.

The demo starts what it needs (the bundled broker unless KAFKA_BOOTSTRAP is set, one
worker process), replays a dataset with its own event times, prints churn alerts and
recommendations as they arrive, stops everything it started and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from streams import topics
from streams.alert_watch import format_alert, printable
from streams.errors import LifecycleError
from streams.settings import Settings, env_name

# Re-exported: the bench and older callers import them from here.
from streams.stack import (  # noqa: F401
    free_port,
    local_stack,
    stop_process,
    wait_until,
    worker_stats,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetPreset:
    """Where a dataset lives and how to replay it so the demo ends in minutes."""

    folder: str
    filename: str
    fmt: str
    speed: float
    overrides: dict[str, Any]
    obtain: str
    # False for a log without item ids (CDNOW): nothing to recommend from.
    items: bool = True


DAY_S = 86_400.0
PRESETS = {
    # Two hours of clicks: replayed at 120x, horizons of half an hour.
    "taobao": DatasetPreset(
        "taobao-userbehavior", "UserBehavior_head110k.csv", "taobao", 120.0,
        {"churn_horizon_s": 1800.0, "purchase_horizon_s": 1800.0,
         "session_gap_s": 900.0, "grace_s": 30.0, "rescore_interval_s": 3600.0},
        "Tianchi data set 649 (User Behavior Data from Taobao); see SOURCE.md",
    ),
    # Eighteen months of purchases, dates only: horizons of a quarter.
    "cdnow": DatasetPreset(
        "cdnow", "CDNOW_master.txt", "cdnow", 400_000.0,
        {"churn_horizon_s": 90 * DAY_S, "purchase_horizon_s": 90 * DAY_S,
         "session_gap_s": 3600.0, "grace_s": DAY_S, "alert_min_events": 2,
         "recommend_interval_s": 30 * DAY_S, "user_ttl_s": 365 * DAY_S,
         "rescore_interval_s": 30 * DAY_S, "learn_moments": "interval"},
        "the lifetimes package (lifetimes/datasets/CDNOW_master.txt) or "
        "Bruce Hardie's site", items=False,
    ),
    # Two years of a UK shop: horizons of a quarter.
    "online-retail": DatasetPreset(
        "online-retail", "online_retail_II_2009-2011.csv.gz", "online-retail",
        300_000.0,
        {"churn_horizon_s": 90 * DAY_S, "purchase_horizon_s": 90 * DAY_S,
         "session_gap_s": 3600.0, "grace_s": DAY_S, "alert_min_events": 5,
         "recommend_interval_s": 7 * DAY_S, "user_ttl_s": 800 * DAY_S,
         "rescore_interval_s": 14 * DAY_S, "learn_moments": "interval",
         # Postage, fees and adjustments are stock codes too (see SOURCE.md).
         "recommend_exclude": "POST,DOT,M,C2,D,S,B,PADS,CRUK,BANK CHARGES,"
                              "AMAZONFEE,ADJUST,ADJUST2,TEST001,TEST002"},
        "the UCI Machine Learning Repository, Online Retail II (id 502)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", choices=sorted(PRESETS), default="taobao",
        help="which public dataset to replay (default taobao)",
    )
    parser.add_argument("--data", type=Path, help="dataset file (default: looked up)")
    parser.add_argument(
        "--data-root", type=Path,
        help="folder holding the datasets (default ../shared/data)",
    )
    parser.add_argument(
        "--speed", help="event-time speed-up, or 'max' (default per dataset)"
    )
    parser.add_argument(
        "--limit", type=_positive_int, help="send at most this many events"
    )
    parser.add_argument(
        "--show", type=int, default=10,
        help="alerts and recommendations printed per second at most (default 10)",
    )
    parser.add_argument("--json", action="store_true", help="print summary as JSON")
    parser.add_argument(
        "--workdir", type=Path, default=Path("var/demo"),
        help="where logs and state go (default var/demo)",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def default_data_roots() -> list[Path]:
    """Where datasets are looked up: ../shared/data beside the cwd or the repo."""
    return [
        Path.cwd().parent / "shared" / "data",
        Path(__file__).resolve().parents[2] / "shared" / "data",
    ]


def find_dataset(args: argparse.Namespace, preset: DatasetPreset) -> Path:
    return locate_dataset(args.dataset, args.data, args.data_root)


def locate_dataset(
    name: str, data: Path | None = None, data_root: Path | None = None
) -> Path:
    """The file of dataset ``name``: ``data`` if given, else looked up under
    ``data_root`` or the default roots."""
    preset = PRESETS[name]
    if data:
        if not data.exists():
            raise LifecycleError(f"--data {data} does not exist")
        return data
    roots = [data_root] if data_root else default_data_roots()
    for root in roots:
        candidate = root / preset.folder / preset.filename
        if candidate.exists():
            return candidate
    looked = ", ".join(str(r / preset.folder / preset.filename) for r in roots)
    raise LifecycleError(
        f"dataset {name} not found (looked at {looked}). Obtain "
        f"{preset.filename} from {preset.obtain}, then pass --data PATH."
    )


@dataclass
class OutputWatch:
    """Counts and prints churn alerts and recommendations as they arrive."""

    bootstrap: str
    show_per_s: int
    out: Any = sys.stdout
    counts: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    _shown_in_second: int = 0
    _second: int = 0
    _hidden: int = 0

    def run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            topics.CHURN_ALERTS, topics.RECOMMENDATIONS,
            bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None, consumer_timeout_ms=500,
        )
        try:
            while not self.stop.is_set():
                for message in consumer:
                    try:
                        self._show(message.topic, orjson.loads(message.value))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        # Somebody else's bad write: not the demo's to show.
                        self.counts["not_shown_malformed"] += 1
                    if self.stop.is_set():
                        break
            self._say_hidden()
        finally:
            consumer.close()

    def caught_up(self, counts: dict[str, int]) -> bool:
        """Whether every alert and recommendation the worker counted was read."""
        return (
            self.counts[topics.CHURN_ALERTS] >= counts.get("alerts", 0)
            and self.counts[topics.RECOMMENDATIONS]
            >= counts.get("recommendations", 0)
        )

    def _say_hidden(self) -> None:
        if self._hidden:
            print(f"  ... {self._hidden} more not shown", file=self.out, flush=True)
            self._hidden = 0

    def _show(self, topic: str, body: dict[str, Any]) -> None:
        self.counts[topic] += 1
        second = int(time.monotonic())
        if second != self._second:
            self._say_hidden()
            self._second, self._shown_in_second = second, 0
        if self._shown_in_second >= self.show_per_s:
            self._hidden += 1
            return
        self._shown_in_second += 1
        print(format_output(topic, body), file=self.out, flush=True)


def format_output(topic: str, body: dict[str, Any]) -> str:
    if topic == topics.CHURN_ALERTS:
        return format_alert(body)  # as `lifecycle alerts` shows it
    items = " ".join(
        f"{printable(i['item_id'])}({i['reason'][0]})" for i in body["items"]
    )
    return f"REC   user={printable(body['user_id'])} items={items}"


def preset_overrides(
    preset: DatasetPreset, environ: Mapping[str, str], out: Any
) -> dict[str, Any]:
    """The preset's settings, less those the user set in the environment.

    A setting the user chose wins over the dataset's default, and the demo says
    which ones it kept, so nobody wonders why a variable seemed ignored.
    """
    overrides, kept = {}, []
    for name, value in preset.overrides.items():
        if environ.get(env_name(name)):
            kept.append(f"{env_name(name)}={environ[env_name(name)]}")
        else:
            overrides[name] = value
    if kept:
        print(
            f"demo keeps your settings over the {preset.fmt} preset: "
            + " ".join(kept), file=out, flush=True,
        )
    return overrides


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.replay.command import parse_speed, replay_file

    preset = PRESETS[args.dataset]
    path = find_dataset(args, preset)
    if not path.is_file():
        raise LifecycleError(f"{path} is not a file")
    try:
        speed = parse_speed(args.speed) if args.speed else preset.speed
    except argparse.ArgumentTypeError as exc:
        raise LifecycleError(f"--speed: {exc}") from None
    # SIGTERM unwinds like Ctrl-C, so the broker and worker are stopped too.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = args.workdir.resolve() / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)

    # With --json, stdout carries the summary only; the live view goes to stderr.
    live = sys.stderr if args.json else sys.stdout
    overrides = preset_overrides(preset, os.environ, live)
    with local_stack(settings, overrides, workdir) as stack:
        settings = stack.settings
        watch = OutputWatch(settings.bootstrap, args.show, live)
        watcher = threading.Thread(
            target=watch.run, name="output-watch", daemon=True
        )
        watcher.start()
        try:
            print(
                f"demo dataset={args.dataset} file={path} speed={speed or 'max'} "
                f"bootstrap={settings.bootstrap} web={stack.web_url}/stats/ "
                f"alerts_page={stack.web_url}/alerts/ logs={workdir}",
                file=live, flush=True,
            )
            print(
                "REC items: (c) often followed the user's recent items, "
                "(p) popular (a user with no such items yet)",
                file=live, flush=True,
            )

            started = time.monotonic()
            result = replay_file(
                settings, path, preset.fmt, topic=topics.CLICKSTREAM, speed=speed,
                limit=args.limit, from_ms=None, to_ms=None, mapping=None,
                type_mapping=None, progress=False,
            )
            if result.interrupted:
                # The replay took the Ctrl-C (or SIGTERM) to flush what it had
                # queued; the demo stops too, and the stack with it.
                raise KeyboardInterrupt
            catch_up = CatchUp(stack.web_port, result.sent, live)
            stats = wait_until(catch_up.done, 1800, "the worker to catch up")
            elapsed_s = time.monotonic() - started
            # Let one more sweep run, so silent users at the final watermark count.
            time.sleep(settings.sweep_interval_s * 2 + 1)
            stats = stack.stats() or stats
            # The live view reads the topics; let it catch up with the worker's
            # counts, so that what it showed adds up to the summary.
            deadline_s = time.monotonic() + 15.0
            while not watch.caught_up(stats["counts"]) and (
                time.monotonic() < deadline_s
            ):
                time.sleep(0.2)
            summary = build_summary(
                args.dataset, result, stats, watch.counts, elapsed_s
            )
            if not PRESETS[args.dataset].items:
                summary["recommendations_note"] = (
                    f"{args.dataset} has no item ids: nothing to recommend from"
                )
        finally:
            watch.stop.set()
            watcher.join(timeout=5.0)
    print_summary(summary, args.json)
    return 0 if result.failed == 0 else 1


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


class CatchUp:
    """Whether the worker has read every event sent; says how far it is, every
    ``every_s``, while it is behind (a replay faster than the worker can go ends
    long before the worker does)."""

    def __init__(self, web_port: int, sent: int, out: TextIO,
                 every_s: float = 10.0) -> None:
        self.web_port, self.sent, self.out, self.every_s = web_port, sent, out, every_s
        self._said_s = time.monotonic()
        self._said_n = -1

    def done(self) -> dict[str, Any] | None:
        stats = worker_stats(self.web_port)
        if stats is None:
            # A worker busy catching up can be slow to answer; no answer is no
            # news, not zero events.
            return None
        received = stats["received"].get("clickstream", 0)
        if received >= self.sent:
            return stats
        now_s = time.monotonic()
        if now_s - self._said_s >= self.every_s:
            rate = (
                f" rate={(received - self._said_n) / (now_s - self._said_s):.0f}/s"
                if self._said_n >= 0 else ""
            )
            print(
                f"demo catching up received={received} of {self.sent} "
                f"({100 * received / max(self.sent, 1):.0f}%){rate}",
                file=self.out, flush=True,
            )
            self._said_s, self._said_n = now_s, received
        return None


def build_summary(
    dataset: str, result: Any, stats: dict[str, Any], shown: Counter[str],
    elapsed_s: float,
) -> dict[str, Any]:
    counts = stats["counts"]
    rejected = Counter(result.skipped)
    rejected.update({f"send_{k}": v for k, v in result.failures.items()})
    rejected.update({f"worker_{k}": v for k, v in stats["rejected"].items()})
    return {
        "dataset": dataset,
        "rows_read": result.rows,
        "events_in": result.sent,
        "rejected": dict(rejected),
        "duplicates": counts.get("duplicates", 0),
        "users": counts.get("users_new", 0),
        "users_tracked": stats["users_local"],
        "users_evicted": counts.get("users_evicted", 0),
        "scores": counts.get("scores", 0),
        "alerts": counts.get("alerts", 0),
        "recommendations": counts.get("recommendations", 0),
        "labels": {
            "churn": counts.get("labels_churn", 0),
            "purchase": counts.get("labels_purchase", 0),
        },
        "models": stats["models"],
        "seconds": round(elapsed_s, 1),
        "events_per_s": round(result.sent / elapsed_s, 1) if elapsed_s else None,
        "outputs_seen": dict(shown),
    }


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    print("\nsummary")
    for key in ("dataset", "rows_read", "events_in", "duplicates", "users",
                "users_tracked", "users_evicted", "scores", "alerts",
                "recommendations", "seconds", "events_per_s"):
        print(f"  {key:<16} {summary[key]}")
        if key == "recommendations" and "recommendations_note" in summary:
            print(f"  {'':<16} ({summary['recommendations_note']})")
    rejected = summary["rejected"]
    print(f"  {'rejected':<16} {sum(rejected.values())}")
    for reason, count in sorted(rejected.items()):
        print(f"    {reason:<24} {count}")
    for target, report in summary["models"].items():
        print(
            f"  model {target:<9} learned={report['learned']} auc={report['auc']} "
            f"rolling_auc={report['rolling_auc']} log_loss={report['log_loss']}"
        )
