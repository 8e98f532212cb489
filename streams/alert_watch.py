"""Watching the churn-alert stream: a terminal follower and the worker's live feed.

Both read ``churn-alerts`` itself, every partition and without a consumer group,
so they show what downstream services receive, whichever worker raised an alert,
and never move a group's offsets. A message that is not a valid alert is counted
and reported, never fatal: the topic is a public contract, and a watcher must not
die on somebody else's bad write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from streams import topics
from streams.errors import LifecycleError
from streams.settings import Settings

log = logging.getLogger(__name__)

# Alerts the worker's live page keeps, newest last.
FEED_KEEP = 200
# `lifecycle alerts` without --from-beginning: an alert stamped up to this long
# before the follower started still counts as new.
START_SLACK_MS = 1000
# Event times an alert may carry: 1970 to 2100, epoch ms (docs/topics.md).
MAX_TS_MS = 4_102_444_800_000


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_alert(raw: bytes | None) -> dict[str, Any] | None:
    """The alert in a message value, or None if it is not one.

    Not an alert: anything but a JSON object whose required fields have the
    types and ranges of docs/topics.md (ids strings, ``alert_ts_ms`` a whole
    number of ms from 1970 to 2100, ``churn_risk`` from 0 to 1, ``inactive_s`` a
    number from 0), or whose optional counts and money are of the wrong type.
    A watcher shows only what it can show right.
    """
    try:
        body = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    ts, risk, inactive = (body.get(k) for k in ("alert_ts_ms", "churn_risk",
                                                 "inactive_s"))
    if not (
        isinstance(body.get("alert_id"), str) and isinstance(body.get("user_id"), str)
        and _whole(ts) and 0 <= ts <= MAX_TS_MS
        and _number(risk) and 0.0 <= risk <= 1.0
        and _number(inactive) and inactive >= 0.0
    ):
        return None
    for key in ("n_events", "purchases", "episode"):
        if key in body and not _whole(body[key]):
            return None
    if "monetary_total" in body and not _number(body["monetary_total"]):
        return None
    return body


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: a character that is not printable
    (an escape sequence, a newline, a NUL) shows as its Python escape, so a
    user id cannot recolour the screen or forge a line of its own."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_alert(alert: dict[str, Any]) -> str:
    """One line for a terminal: event time, who, how risky, how long silent."""
    at = datetime.fromtimestamp(alert["alert_ts_ms"] / 1000, UTC)
    fields = [
        at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ALERT",
        f"user={printable(alert['user_id'])}",
        # Never "1.000": a risk is strictly below 1, and 0.9996 is shown as
        # the 0.999 it exceeds.
        f"churn_risk={min(alert['churn_risk'], 0.999):.3f}",
        f"inactive={alert['inactive_s'] / 3600:.1f}h",
    ]
    for key, name in (("n_events", "events"), ("purchases", "purchases"),
                      ("monetary_total", "spent"), ("episode", "episode")):
        if key in alert:
            fields.append(f"{name}={alert[key]}")
    fields.append(f"alert_id={printable(alert['alert_id'])}")
    return " ".join(fields)


class Sparse(logging.Filter):
    """Lets a client library's repeated complaints through once per ``every_s``.

    With the broker gone, kafka-python logs a few lines per reconnect attempt,
    forever; one line of each kind per half minute says the same.
    """

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.last_s: dict[tuple[str, int], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        key = (record.name, record.levelno)
        now_s = time.monotonic()
        if now_s - self.last_s.get(key, -self.every_s) < self.every_s:
            return False
        self.last_s[key] = now_s
        return True


@dataclass
class Follow:
    """What ``lifecycle alerts`` does: print alerts as they arrive."""

    bootstrap: str
    from_beginning: bool = False
    min_risk: float = 0.0
    limit: int | None = None
    until_idle_s: float | None = None
    as_json: bool = False
    out: IO[str] = sys.stdout
    counts: Counter[str] = field(default_factory=Counter)
    # Without from_beginning: messages stamped before this (epoch ms) are old,
    # even if the broker's end offset placed them after the start (the bundled
    # one reports end offsets short). Set when run() starts.
    not_before_ms: int = 0

    def run(self) -> int:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        from streams.admin import ADMIN_TIMEOUT_MS, bootstrap_quietly, unreachable

        try:
            with bootstrap_quietly(self.bootstrap):
                consumer = KafkaConsumer(
                    topics.CHURN_ALERTS, bootstrap_servers=self.bootstrap,
                    group_id=None, enable_auto_commit=False,
                    auto_offset_reset="earliest" if self.from_beginning else "latest",
                    consumer_timeout_ms=500, bootstrap_timeout_ms=ADMIN_TIMEOUT_MS,
                )
        except KafkaError as exc:
            raise unreachable(self.bootstrap, exc) from None
        log.info(
            "following topic=%s from=%s min_risk=%s", topics.CHURN_ALERTS,
            "beginning" if self.from_beginning else "now", self.min_risk,
        )
        last_s = time.monotonic()
        if not self.from_beginning:
            # A second for clocks that disagree between hosts.
            self.not_before_ms = int(time.time() * 1000) - START_SLACK_MS
        # On the handlers: a logger's own filters miss its children's records.
        sparse = Sparse()
        handlers = logging.getLogger().handlers
        for handler in handlers:
            handler.addFilter(sparse)
        try:
            while True:
                for message in consumer:
                    last_s = time.monotonic()
                    if self._take(message.value, message.timestamp):
                        return 0
                if (
                    self.until_idle_s is not None
                    and time.monotonic() - last_s >= self.until_idle_s
                ):
                    return 0
        finally:
            for handler in handlers:
                handler.removeFilter(sparse)
            consumer.close()
            log.info(
                "stopped shown=%d below_min_risk=%d not_alerts=%d before_start=%d",
                self.counts["shown"], self.counts["below_min_risk"],
                self.counts["not_alerts"], self.counts["before_start"],
            )

    def _take(self, raw: bytes | None, stamped_ms: int | None = None) -> bool:
        """Show one message; True once the limit is reached."""
        if stamped_ms is not None and 0 <= stamped_ms < self.not_before_ms:
            self.counts["before_start"] += 1
            return False
        alert = parse_alert(raw)
        if alert is None:
            self.counts["not_alerts"] += 1
            log.warning(
                "skipped a message that is not an alert topic=%s bytes=%d",
                topics.CHURN_ALERTS, len(raw or b""),
            )
            return False
        if alert["churn_risk"] < self.min_risk:
            self.counts["below_min_risk"] += 1
            return False
        self.counts["shown"] += 1
        line = orjson.dumps(alert).decode() if self.as_json else format_alert(alert)
        print(line, file=self.out, flush=True)
        return self.limit is not None and self.counts["shown"] >= self.limit


class AlertFeed:
    """The newest alerts of the whole topic, for the worker's live page.

    A task of the worker reads ``churn-alerts`` from FEED_KEEP messages before
    each partition's end, then follows it. Each alert gets a sequence number,
    so a page asks only for what it has not seen.
    """

    def __init__(self, bootstrap: str, keep: int = FEED_KEEP) -> None:
        self.bootstrap = bootstrap
        self.alerts: deque[tuple[int, dict[str, Any]]] = deque(maxlen=keep)
        self.seq = 0
        self.not_alerts = 0
        self.following = False

    def add(self, raw: bytes | None) -> None:
        alert = parse_alert(raw)
        if alert is None:
            self.not_alerts += 1
            return
        self.seq += 1
        self.alerts.append((self.seq, alert))

    def since(self, after: int) -> dict[str, Any]:
        """Alerts numbered above ``after``, oldest first, and where the feed is."""
        return {
            "following": self.following,
            "seq": self.seq,
            "not_alerts": self.not_alerts,
            "alerts": [
                {"seq": seq, **alert} for seq, alert in self.alerts if seq > after
            ],
        }

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.structs import TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            partitions = None
            while not partitions:
                partitions = consumer.partitions_for_topic(topics.CHURN_ALERTS)
                if not partitions:
                    await consumer.topics()  # refreshes the metadata
                    await asyncio.sleep(1.0)
            tps = [TopicPartition(topics.CHURN_ALERTS, p) for p in sorted(partitions)]
            consumer.assign(tps)
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - self.alerts.maxlen))
            self.following = True
            log.info("alert feed following topic=%s partitions=%d",
                     topics.CHURN_ALERTS, len(tps))
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                # Interleave partitions by event time, as one stream would show.
                records = [r for batch in batches.values() for r in batch]
                for record in sorted(records, key=lambda r: r.timestamp):
                    self.add(record.value)
        finally:
            self.following = False
            with contextlib.suppress(Exception):
                await consumer.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-beginning", action="store_true",
        help="show every alert the topic holds first (default: only alerts sent "
        "from now on)",
    )
    parser.add_argument(
        "--min-risk", type=float, default=0.0,
        help="show only alerts with churn_risk at or above this (0 to 1)",
    )
    parser.add_argument(
        "--limit", type=int, help="stop after showing this many alerts",
    )
    parser.add_argument(
        "--until-idle", type=float, metavar="S",
        help="stop once no alert has come for S seconds (default: follow until "
        "Ctrl-C)",
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print each alert as its JSON message, one per line",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not 0.0 <= args.min_risk <= 1.0:
        raise LifecycleError(f"--min-risk={args.min_risk}: use a number from 0 to 1")
    if args.limit is not None and args.limit < 1:
        raise LifecycleError(f"--limit={args.limit}: use 1 or more")
    if args.until_idle is not None and args.until_idle <= 0:
        raise LifecycleError(f"--until-idle={args.until_idle}: use a positive number")
    follow = Follow(
        settings.bootstrap, from_beginning=args.from_beginning,
        min_risk=args.min_risk, limit=args.limit, until_idle_s=args.until_idle,
        as_json=args.json,
    )
    try:
        return follow.run()
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a follow ends
