import io

import orjson
import pytest

from streams.alert_watch import AlertFeed, Follow, format_alert, parse_alert

ALERT = {
    "schema_version": 1, "alert_id": "u7:2", "user_id": "u7", "episode": 2,
    "alert_ts_ms": 1_511_661_600_000, "churn_risk": 0.8123, "inactive_s": 5400.0,
    "n_events": 12, "purchases": 1, "monetary_total": 45.5,
}


@pytest.mark.parametrize("raw", [
    None, b"", b"not json", b"[1, 2]", orjson.dumps({"user_id": "u7"}),
    b'{"alert_id": "a", "user_id": "u", "alert_ts_ms": NaN}',
])
def test_what_is_not_an_alert_is_recognised(raw):
    assert parse_alert(raw) is None


@pytest.mark.parametrize("change", [
    {"alert_ts_ms": 1e20}, {"alert_ts_ms": -10**16}, {"alert_ts_ms": "yesterday"},
    {"alert_ts_ms": 10**17}, {"alert_ts_ms": True}, {"alert_ts_ms": 1.5e12},
    {"churn_risk": "0.9"}, {"churn_risk": 5.0}, {"churn_risk": -0.1},
    {"churn_risk": None}, {"inactive_s": None}, {"inactive_s": -1.0},
    {"user_id": 7}, {"alert_id": None}, {"n_events": "12"}, {"purchases": 1.5},
    {"episode": False}, {"monetary_total": "45"},
])
def test_an_alert_with_a_field_of_the_wrong_type_or_range_is_not_one(change):
    """Shown, such a message crashed the follower and froze the live page."""
    assert parse_alert(orjson.dumps({**ALERT, **change})) is None
    follow = Follow("unused", out=io.StringIO())
    assert not follow._take(orjson.dumps({**ALERT, **change}))
    assert follow.counts == {"not_alerts": 1}


def test_an_alert_is_one_readable_line():
    assert format_alert(parse_alert(orjson.dumps(ALERT))) == (
        "2017-11-26T02:00:00Z ALERT user=u7 churn_risk=0.812 inactive=1.5h "
        "events=12 purchases=1 spent=45.5 episode=2 alert_id=u7:2"
    )


def test_the_follower_filters_counts_and_stops_at_its_limit():
    out = io.StringIO()
    follow = Follow("unused", min_risk=0.5, limit=2, as_json=True, out=out)
    low = {**ALERT, "alert_id": "u8:1", "churn_risk": 0.2}
    assert not follow._take(orjson.dumps(low))
    assert not follow._take(b"garbage")
    assert not follow._take(orjson.dumps(ALERT))
    assert follow._take(orjson.dumps({**ALERT, "alert_id": "u7:3"}))
    assert [orjson.loads(line)["alert_id"] for line in out.getvalue().splitlines()] \
        == ["u7:2", "u7:3"]
    assert follow.counts == {"shown": 2, "below_min_risk": 1, "not_alerts": 1}


def test_the_feed_keeps_the_newest_and_answers_what_came_after():
    feed = AlertFeed("unused", keep=3)
    for i in range(5):
        feed.add(orjson.dumps({**ALERT, "alert_id": f"u{i}:1"}))
    feed.add(b"garbage")
    answer = feed.since(0)
    assert [a["alert_id"] for a in answer["alerts"]] == ["u2:1", "u3:1", "u4:1"]
    assert [a["seq"] for a in answer["alerts"]] == [3, 4, 5]
    assert answer["seq"] == 5 and answer["not_alerts"] == 1
    assert [a["seq"] for a in feed.since(4)["alerts"]] == [5]
    assert feed.since(5)["alerts"] == []


def test_a_client_library_repeating_itself_is_let_through_sparsely():
    import logging

    from streams.alert_watch import Sparse

    sparse = Sparse(every_s=60.0)

    def record(name, level=logging.ERROR):
        return logging.LogRecord(name, level, __file__, 1, "lost", None, None)

    assert sparse.filter(record("kafka.net.connection"))
    assert not sparse.filter(record("kafka.net.connection"))
    assert sparse.filter(record("kafka.net.connection", logging.WARNING))
    assert sparse.filter(record("kafka.net.manager"))
    # Our own lines always pass.
    assert sparse.filter(record("streams.alert_watch"))
    assert sparse.filter(record("streams.alert_watch"))


def test_following_from_now_skips_what_was_sent_before_the_start():
    """The bundled broker reports end offsets short, so "latest" can start a few
    old alerts back: those are told apart by their timestamps."""
    out = io.StringIO()
    follow = Follow("unused", out=out, not_before_ms=1_000_000)
    assert not follow._take(orjson.dumps(ALERT), 999_999)
    assert not follow._take(orjson.dumps({**ALERT, "alert_id": "u7:3"}), 1_000_000)
    assert [line.split("alert_id=")[1] for line in out.getvalue().splitlines()] \
        == ["u7:3"]
    assert follow.counts == {"before_start": 1, "shown": 1}


def test_a_risk_just_below_one_is_not_shown_as_one():
    alert = parse_alert(orjson.dumps({**ALERT, "churn_risk": 0.99963}))
    assert "churn_risk=0.999 " in format_alert(alert)


def test_a_user_id_cannot_write_to_the_terminal_beyond_its_own_line():
    """Ids are any strings: one carrying an escape sequence or a newline is
    shown escaped, not obeyed."""
    hostile = "e\x1b[2J\x1b]0;pwned\x07\nFAKE LINE\x00"
    alert = parse_alert(orjson.dumps(
        {**ALERT, "user_id": hostile, "alert_id": hostile + ":1"}
    ))
    line = format_alert(alert)
    assert line.isprintable()
    assert "user=e\\x1b[2J\\x1b]0;pwned\\x07\\nFAKE LINE\\x00 " in line
    assert format_alert(parse_alert(orjson.dumps({**ALERT, "user_id": "Zoë 7"}))
                        ).split()[2] == "user=Zoë"
