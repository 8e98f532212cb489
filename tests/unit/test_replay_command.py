"""The replay command's parts that need no broker: arguments, pacing, summary."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest

from streams.replay.command import (
    ReplayResult,
    add_arguments,
    format_summary,
    parse_speed,
    parse_target_topic,
    parse_time_bound,
    parse_topic,
)
from streams.replay.pacing import EventTimePacer


class FakeClock:
    """A monotonic clock that only moves when the pacer sleeps or a test says so."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.slept_s: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_send_everything_as_fast_as_possible_to_clickstream():
    args = parse("data.csv")

    assert (args.path, args.fmt, args.topic) == ("data.csv", "auto", "clickstream")
    assert (args.speed, args.limit, args.from_ms, args.to_ms) == (None,) * 4
    assert (args.mapping, args.type_mapping) == ([], [])
    assert args.progress is True and args.as_json is False


def test_repeated_maps_collect_pairs():
    args = parse(
        "x.csv", "--map", "user_id=customer", "--map", "event_ts=when",
        "--type-map", "buy=purchase",
    )

    assert dict(args.mapping) == {"user_id": "customer", "event_ts": "when"}
    assert dict(args.type_mapping) == {"buy": "purchase"}


@pytest.mark.parametrize(
    ("text", "expected"), [("max", None), ("MAX", None), ("60", 60.0), ("2.5x", 2.5)]
)
def test_speed_is_max_or_a_positive_factor(text, expected):
    assert parse_speed(text) == expected


@pytest.mark.parametrize("text", ["0", "-3", "fast", "inf", "nan"])
def test_speed_rejects_non_positive_or_unreadable_values(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_speed(text)


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2017-11-26", 1_511_654_400_000),
        ("20171126", 1_511_654_400_000),
        ("2017-11-26T02:00", 1_511_661_600_000),
        ("2017-11-26 10:00:00+08:00", 1_511_661_600_000),
        ("2017-11-26T02:00:00Z", 1_511_661_600_000),
        ("1511661600", 1_511_661_600_000),
        ("1511661600000", 1_511_661_600_000),
    ],
)
def test_time_bounds_read_as_utc_epoch_ms(text, expected_ms):
    assert parse_time_bound(text) == expected_ms


def test_time_bound_that_is_not_a_time_is_rejected():
    with pytest.raises(argparse.ArgumentTypeError, match="yesterday"):
        parse_time_bound("yesterday")


def test_pacer_spaces_events_by_event_time_divided_by_speed():
    clock = FakeClock()
    pacer = EventTimePacer(60, clock=clock, sleep=clock.sleep)

    pacer.wait_for(1_000_000)
    pacer.wait_for(1_060_000)
    pacer.wait_for(1_120_000)

    assert clock.slept_s == [pytest.approx(1.0), pytest.approx(1.0)]


def test_pacer_does_not_sleep_when_sending_is_already_late_or_time_goes_back():
    clock = FakeClock()
    pacer = EventTimePacer(10, clock=clock, sleep=clock.sleep)

    pacer.wait_for(0 + 1_000_000)
    clock.now_s += 5.0
    pacer.wait_for(10_000 + 1_000_000)
    pacer.wait_for(5_000 + 1_000_000)

    assert clock.slept_s == []


def test_summary_lists_rejections_and_failures_by_reason():
    result = ReplayResult(
        source="f.csv", fmt="online-retail", topic="clickstream", rows=10,
        sent=6, skipped=Counter(guest_row=3),
        failures=Counter(MessageSizeTooLargeError=1), elapsed_s=2.0,
    )

    text = format_summary(result)

    assert result.events_per_s == 3.0
    assert result.failed == 1
    assert "guest_row" in text and "MessageSizeTooLargeError" in text
    assert text.splitlines()[-1].split() == ["events/s", "3"]
    assert result.to_dict()["rejected"] == {"guest_row": 3}


@pytest.mark.parametrize("name", ["bad topic!", "", ".", "..", "t" * 250, "a/b"])
def test_a_topic_name_kafka_would_refuse_is_refused_first(name):
    with pytest.raises(argparse.ArgumentTypeError, match="is not a topic name"):
        parse_topic(name)


def test_legal_topic_names_pass():
    for name in ("clickstream", "shop.eu-1_events", "t" * 249):
        assert parse_topic(name) == name


@pytest.mark.parametrize(
    "name", ["user-scores", "churn-alerts", "recommendations", "clickstream-dlq"]
)
def test_a_replay_never_targets_an_output_topic(name):
    with pytest.raises(argparse.ArgumentTypeError, match="output topic"):
        parse_target_topic(name)
    assert parse_target_topic("clickstream") == "clickstream"


def test_the_summary_counts_rows_left_out_apart_from_rejected_ones():
    result = ReplayResult(source="f.csv", fmt="taobao", topic="clickstream")
    result.rows = 10
    result.skipped.update({"outside_time_range": 7, "bad_row": 1})
    lines = {line.split()[0]: line.split()[-1] for line in
             format_summary(result).splitlines()[1:]}
    assert lines["rejected"] == "1" and lines["bad_row"] == "1"
    assert lines["left"] == "7" and lines["outside_time_range"] == "7"
