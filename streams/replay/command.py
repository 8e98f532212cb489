"""``lifecycle replay``: send a dataset file, or a recorded topic, to a topic.

Exit codes: 0 when every event was acknowledged, 1 when a send failed, 2 when the
replay could not run (bad arguments, unreadable file, unreachable broker), 130 when
interrupted. Rows the reader skips (guest rows, adjustments...) are counted and
reported but do not make the replay fail.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from streams import topics
from streams.admin import ensure_topics
from streams.errors import InvalidEvent, LifecycleError
from streams.events import parse_event_ts
from streams.replay.errors import ReplayError
from streams.replay.pacing import EventTimePacer
from streams.replay.producer import EventSender, copy_topic
from streams.replay.sources import FORMATS, Event, detect_format, read_events
from streams.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_TOPIC = topics.CLICKSTREAM
PROGRESS_STEP = 1000
EXIT_OK, EXIT_SEND_FAILED, EXIT_CANNOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class ReplayResult:
    """Counts of one replay.

    ``rows`` = ``sent`` + ``failed`` + sum of ``skipped``: ``sent`` counts events
    the broker acknowledged, ``failures`` counts failed sends by exception class,
    ``skipped`` counts rows never sent by reason (reader rejections, time range).
    """

    source: str
    fmt: str
    topic: str
    rows: int = 0
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def events_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.fmt,
            "topic": self.topic,
            "rows_read": self.rows,
            "events_sent": self.sent,
            "rejected": dict(sorted(self.skipped.items())),
            "send_failures": dict(sorted(self.failures.items())),
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.events_per_s, 1),
            "interrupted": self.interrupted,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``lifecycle replay``."""
    parser.add_argument(
        "path", nargs="?",
        help="dataset file, plain or .gz (not with --copy-from)",
    )
    parser.add_argument(
        "--format", dest="fmt", choices=("auto", *FORMATS), default="auto",
        help="file format; auto guesses it from the name and header (default)",
    )
    parser.add_argument(
        "--map", dest="mapping", action="append", type=parse_pair, default=[],
        metavar="FIELD=COLUMN",
        help="csv/jsonl: the column holding a contract field (repeatable)",
    )
    parser.add_argument(
        "--type-map", dest="type_mapping", action="append", type=parse_pair,
        default=[], metavar="SRC=DST",
        help="csv/jsonl: translate an event type value (repeatable)",
    )
    parser.add_argument(
        "--topic", default=DEFAULT_TOPIC, type=parse_target_topic,
        help=f"topic to send to (default {DEFAULT_TOPIC})",
    )
    parser.add_argument(
        "--speed", type=parse_speed, default=None, metavar="FACTOR|max",
        help="event-time speed-up: 60 plays an hour of data in a minute; "
        "max sends as fast as possible (default)",
    )
    parser.add_argument(
        "--limit", type=parse_count, default=None, metavar="N",
        help="send at most N events",
    )
    parser.add_argument(
        "--from", dest="from_ms", type=parse_time_bound, default=None,
        metavar="TIME",
        help="send events at or after TIME (ISO date or datetime, UTC unless a "
        "zone is given, or epoch s/ms)",
    )
    parser.add_argument(
        "--to", dest="to_ms", type=parse_time_bound, default=None, metavar="TIME",
        help="send events before TIME (same forms as --from)",
    )
    parser.add_argument(
        "--sort", action=argparse.BooleanOptionalAction, default=None,
        help="order the file by event time before sending (in memory); default: "
        "only for formats whose files are unordered (cdnow, retailrocket)",
    )
    parser.add_argument(
        "--copy-from", metavar="TOPIC", type=parse_topic,
        help="copy a recorded topic to --topic, keeping keys, values, headers and "
        "timestamps",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false",
        help="no progress bar on stderr",
    )
    parser.add_argument(
        "--json", dest="as_json", action="store_true",
        help="print the summary as JSON",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``lifecycle replay``; return the exit code."""
    if args.topic != topics.CLICKSTREAM:
        # Allowed (a recording, a second pipeline), but a typo would send every
        # event where no worker reads.
        print(
            f"lifecycle replay: note: sending to topic {args.topic!r}; the worker "
            f"reads {topics.CLICKSTREAM!r}",
            file=sys.stderr,
        )
    try:
        if args.copy_from:
            result = _run_copy(args, settings)
        else:
            result = _run_file(args, settings)
    except LifecycleError as exc:
        # One line for the operator: the log line is only for debugging (the
        # same words would otherwise appear twice on the terminal).
        logger.debug("replay cannot run error=%s", exc)
        print(f"lifecycle replay: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN

    if args.as_json:
        print(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_summary(result))
    if result.failed:
        return EXIT_SEND_FAILED
    if result.interrupted:
        return EXIT_INTERRUPTED
    if (
        not args.copy_from and result.rows and not result.sent
        and "outside_time_range" not in result.skipped
    ):
        # Every row refused by the reader: most likely the wrong --format.
        reasons = ", ".join(f"{k}={v}" for k, v in result.skipped.most_common(3))
        print(
            f"lifecycle replay: error: none of the {result.rows} rows of "
            f"{result.source} could be read as format {result.fmt} ({reasons}); "
            "check --format, --map and --type-map",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    if not args.copy_from and result.rows and not result.sent:
        print(
            f"lifecycle replay: warning: none of the {result.rows} rows read lie "
            "between --from and --to; nothing was sent",
            file=sys.stderr,
        )
    return EXIT_OK


# Formats whose files are not in event-time order. Replayed unsorted, a consumer
# would see time jump back and forth and reject most events as late.
UNORDERED_FORMATS = frozenset({"cdnow", "retailrocket"})


def _in_time_order(events: Iterator[Event]) -> Generator[Event, None, None]:
    yield from sorted(events, key=lambda event: event["event_ts"])


def replay_file(
    settings: Settings,
    path: str | Path,
    fmt: str = "auto",
    *,
    topic: str = DEFAULT_TOPIC,
    speed: float | None = None,
    limit: int | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    mapping: Mapping[str, str] | None = None,
    type_mapping: Mapping[str, str] | None = None,
    progress: bool = False,
    sort: bool | None = None,
) -> ReplayResult:
    """Send a file's events to ``topic``, keyed by user id, and count every outcome.

    ``speed`` None sends as fast as possible; otherwise event time runs ``speed``
    times faster than real time. Events keep their own timestamps. Events outside
    ``from_ms <= event_ts < to_ms`` are counted as ``outside_time_range``.
    ``sort`` orders the whole file by event time first (in memory); None sorts the
    formats whose files are not in time order (CDNOW is ordered by customer).
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    reader_stats: Counter[str] = Counter()
    events = read_events(path, fmt, reader_stats, mapping, type_mapping)
    if sort or (sort is None and fmt in UNORDERED_FORMATS):
        # A stable sort: rows of one instant keep their file order.
        events = _in_time_order(events)
    partitions = ensure_topics(
        settings.bootstrap, [topic], settings.partitions, settings.replication
    )[topic]
    logger.info(
        "replay start path=%s format=%s topic=%s partitions=%d speed=%s limit=%s",
        path, fmt, topic, partitions, speed or "max", limit,
    )

    result = ReplayResult(source=str(path), fmt=fmt, topic=topic)
    pacer = EventTimePacer(speed) if speed is not None else None
    yielded = outside = queued = 0
    started_s = time.monotonic()
    with EventSender(settings.bootstrap, topic) as sender, tqdm(
        unit="ev", disable=not progress, desc=f"replay {path.name}",
        mininterval=0.5,
    ) as bar:
        try:
            for event in () if limit == 0 else events:
                yielded += 1
                event_ts_ms = event["event_ts"]
                if (from_ms is not None and event_ts_ms < from_ms) or (
                    to_ms is not None and event_ts_ms >= to_ms
                ):
                    outside += 1
                    continue

                if pacer is not None:
                    pacer.wait_for(event_ts_ms)
                sender.send_event(event)
                queued += 1
                if queued % PROGRESS_STEP == 0:
                    bar.update(PROGRESS_STEP)
                if queued == limit:
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            logger.warning("replay interrupted queued=%d; flushing", queued)
        finally:
            events.close()

        bar.update(queued % PROGRESS_STEP)
        sender.flush()
        result.sent = sender.acked
        result.failures = Counter(sender.failures)

    result.elapsed_s = time.monotonic() - started_s
    result.rows = yielded + sum(reader_stats.values())
    result.skipped = reader_stats
    if outside:
        result.skipped["outside_time_range"] = outside
    # An interrupt can land between reading an event and queueing it.
    if unsent := yielded - outside - queued:
        result.skipped["interrupted_before_send"] = unsent
    _log_done(result)
    return result


def format_summary(result: ReplayResult) -> str:
    """The human summary printed at the end of a replay."""
    interrupted = " [interrupted]" if result.interrupted else ""
    lines = [f"replay {result.source} ({result.fmt}) -> {result.topic}{interrupted}"]
    lines.append(_summary_line("rows read", result.rows))
    lines.append(_summary_line("events sent", result.sent))
    # Bad rows apart from rows left out on purpose, as the log line counts them.
    rejected = {k: n for k, n in result.skipped.items() if k not in LEFT_OUT}
    left_out = {k: n for k, n in result.skipped.items() if k in LEFT_OUT}
    lines.append(_summary_line("rejected", sum(rejected.values())))
    lines += [_summary_line(k, n, 4) for k, n in sorted(rejected.items())]
    if left_out:
        lines.append(_summary_line("left out", sum(left_out.values())))
        lines += [_summary_line(k, n, 4) for k, n in sorted(left_out.items())]
    lines.append(_summary_line("send failures", result.failed))
    lines += [_summary_line(k, n, 4) for k, n in sorted(result.failures.items())]
    lines.append(f"  {'seconds':<26}{result.elapsed_s:>12.2f}")
    lines.append(f"  {'events/s':<26}{result.events_per_s:>12,.0f}")
    return "\n".join(lines)


def _summary_line(label: str, count: int, indent: int = 2) -> str:
    return f"{' ' * indent}{label:<{28 - indent}}{count:>12,}"


def parse_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` as a pair, for --map and --type-map."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value.strip()


# What Kafka accepts as a topic name (its own Topic.validate rule).
TOPIC_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
)
TOPIC_MAX_CHARS = 249


def parse_topic(text: str) -> str:
    """A legal Kafka topic name: letters, digits, '.', '_' and '-', at most 249,
    neither '.' nor '..'. Refused here rather than by the broker, which may
    answer with a bare error code, or (some brokers) create it anyway."""
    bad = sorted(set(text) - TOPIC_CHARS)
    if not text or text in (".", "..") or len(text) > TOPIC_MAX_CHARS or bad:
        why = (
            f"has characters Kafka refuses: {''.join(bad)!r}" if bad
            else f"must be 1 to {TOPIC_MAX_CHARS} characters, not '.' or '..'"
        )
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a topic name: it {why} (allowed: letters, digits, "
            "'.', '_', '-')"
        )
    return text


# Topics lifecycle writes: a replay into one would mix raw events into a public
# contract its readers trust.
OUTPUT_TOPICS = frozenset(
    {topics.USER_SCORES, topics.CHURN_ALERTS, topics.RECOMMENDATIONS, topics.DLQ}
)


def parse_target_topic(text: str) -> str:
    """:func:`parse_topic`, and not one of lifecycle's output topics."""
    name = parse_topic(text)
    if name in OUTPUT_TOPICS:
        raise argparse.ArgumentTypeError(
            f"{name!r} is an output topic of lifecycle; replay sends clickstream "
            f"events (the worker reads {topics.CLICKSTREAM!r})"
        )
    return name


def parse_speed(text: str) -> float | None:
    """``max`` (None) or a positive speed-up factor such as ``60`` or ``60x``."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text.strip().lower().removesuffix("x"))
    except ValueError:
        speed = 0.0
    if not 0 < speed < float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither max nor a positive factor like 60"
        )
    return speed


def parse_count(text: str) -> int:
    """A whole number of events, zero or more."""
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of events")
    return count


def parse_time_bound(text: str) -> int:
    """Epoch ms of ISO date/datetime (UTC when no zone) or epoch seconds/ms text."""
    text = text.strip()
    try:
        return parse_event_ts(float(text) if "." in text else int(text))
    except (ValueError, InvalidEvent):
        pass

    # Not an epoch number; 20110601 also lands here and reads as a basic ISO date.
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date, datetime or epoch number"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _run_file(args: argparse.Namespace, settings: Settings) -> ReplayResult:
    if not args.path:
        raise ReplayError("give a dataset file to replay, or --copy-from TOPIC")
    if args.from_ms is not None and args.to_ms is not None and (
        args.from_ms >= args.to_ms
    ):
        raise ReplayError("--from must be before --to: nothing lies between them")
    return replay_file(
        settings,
        args.path,
        args.fmt,
        topic=args.topic,
        speed=args.speed,
        limit=args.limit,
        from_ms=args.from_ms,
        to_ms=args.to_ms,
        mapping=dict(args.mapping) or None,
        type_mapping=dict(args.type_mapping) or None,
        progress=args.progress,
        sort=args.sort,
    )


def _run_copy(args: argparse.Namespace, settings: Settings) -> ReplayResult:
    unused = [
        option for option, given in (
            ("a path", args.path), ("--format", args.fmt != "auto"),
            ("--map", args.mapping), ("--type-map", args.type_mapping),
            ("--speed", args.speed), ("--limit", args.limit is not None),
            ("--from", args.from_ms is not None), ("--to", args.to_ms is not None),
        ) if given
    ]
    if unused:
        raise ReplayError(f"--copy-from copies a whole topic; drop {', '.join(unused)}")

    ensure_topics(settings.bootstrap, [args.topic], settings.partitions,
                  settings.replication, require=[args.copy_from])
    copied = copy_topic(
        settings.bootstrap, args.copy_from, args.topic, progress=args.progress
    )
    return ReplayResult(
        source=f"topic {copied.source}",
        fmt="topic",
        topic=copied.target,
        rows=copied.records_read,
        sent=copied.records_sent,
        failures=copied.send_failures,
        elapsed_s=copied.elapsed_s,
    )


# Rows left out on purpose, not bad input: counted apart from the rejected.
LEFT_OUT = ("outside_time_range", "interrupted_before_send")


def _log_done(result: ReplayResult) -> None:
    left_out = {k: result.skipped.get(k, 0) for k in LEFT_OUT}
    rejected = sum(result.skipped.values()) - sum(left_out.values())
    logger.info(
        "replay done source=%s topic=%s rows_read=%d events_sent=%d rejected=%d "
        "outside_time_range=%d unsent=%d send_failed=%d elapsed_s=%.2f "
        "events_per_s=%.0f interrupted=%s",
        result.source, result.topic, result.rows, result.sent, rejected,
        left_out["outside_time_range"], left_out["interrupted_before_send"],
        result.failed, result.elapsed_s, result.events_per_s, result.interrupted,
    )
