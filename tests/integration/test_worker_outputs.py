"""A real worker on a real broker: what each output topic holds for given input."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.request

import orjson
import pytest

from tests.integration.conftest import REPO, produce, read_json, wait_for

pytestmark = pytest.mark.integration

T0_S = 1_511_658_000  # 2017-11-26T01:00:00Z
MIN_S = 60


def msg(user_id, kind, ts, **extra):
    body = {"user_id": user_id, "event_type": kind, "event_ts": ts, **extra}
    return (str(user_id).encode(), orjson.dumps(body))


BAD = {
    "invalid_json": (b"bad", b'{"user_id": "x", "event_type": '),
    "invalid_encoding": (b"bad", b"\xff\xfe\x00garbage"),
    "missing_field": (
        b"bad", orjson.dumps({"event_type": "view", "event_ts": T0_S})
    ),
    "invalid_field": (
        b"bad",
        orjson.dumps(
            {"user_id": "p", "event_type": "view", "event_ts": T0_S, "price": "abc"}
        ),
    ),
}


def test_good_bad_and_duplicate_events_land_where_they_belong(kafka, start_worker):
    worker = start_worker(
        LIFECYCLE_SESSION_GAP_S="300",
        LIFECYCLE_GRACE_S="1",
        LIFECYCLE_CHURN_THRESHOLD="0.01",
        LIFECYCLE_CHURN_REARM="0.01",
        LIFECYCLE_ALERT_MIN_LABELS="0",
        LIFECYCLE_ALERT_MIN_EVENTS="2",
    )

    # User "a" teaches the worker that i1 and i2 go together.
    first = [
        msg("a", "view", T0_S, item_id="i1", event_id="a1"),
        msg("a", "view", T0_S + 1, item_id="i2", event_id="a2"),
    ]
    produce(kafka, "clickstream", first)
    worker.wait_received(len(first))

    # The same instant in seconds and in milliseconds, a duplicate, bad input, an
    # integer user id, an unkeyed message, then a user who goes quiet while "b"
    # keeps the watermark moving.
    second = [
        msg("s", "view", T0_S, event_id="s-seconds"),
        msg("s", "view", T0_S * 1000, event_id="s-millis"),
        msg("s", "view", T0_S, event_id="s-seconds"),  # duplicate
        *BAD.values(),
        msg(42, "purchase", T0_S + 5, price=9.5, quantity=2, event_id="n1"),
        (None, orjson.dumps({"user_id": "nokey", "event_type": "view",
                             "event_ts": T0_S})),
        msg("q", "view", T0_S + 2 * MIN_S, item_id="i1", event_id="q1"),
        msg("q", "cart_add", T0_S + 3 * MIN_S, item_id="i9", price=4.0,
            event_id="q2"),
        *(msg("b", "view", T0_S + m * MIN_S, event_id=f"b{m}") for m in range(4, 40)),
    ]
    produce(kafka, "clickstream", second)
    stats = worker.wait_received(len(first) + len(second))

    # Dead letters: one per bad message, with the reason and the original bytes.
    dlq = wait_for(lambda: _at_least(read_json(kafka, "clickstream-dlq"), 4), 30,
                   "dead letters", worker)
    assert sorted(d["reason"] for d in dlq) == sorted(BAD)
    for letter in dlq:
        assert letter["schema_version"] == 1
        sent = BAD[letter["reason"]][1]
        assert base64.b64decode(letter["original_value_b64"]) == sent
        assert letter["source_topic"] == "clickstream"
        assert letter["error"]

    # Duplicates are counted, not applied; seconds and ms are the same instant.
    stats = wait_for(lambda: _stats_when(worker, 2 + 2 + 1 + 1 + 2 + 36), 30,
                     "events applied", worker)
    assert stats["counts"]["duplicates"] == 1
    assert stats["rejected"] == {reason: 1 for reason in BAD}
    # One worker: every stream partition is its own, and none is left paused.
    # Without the trailing slash too (urllib follows the redirect).
    assert worker.get("/stats")["counts"]["events"] >= stats["counts"]["events"]
    assert set(worker.get("/models")) == set(worker.get("/models/"))
    parts = stats["partitions"]
    assert parts["assigned"]["clickstream"] == [0, 1, 2, 3]
    assert not any(t in parts["paused"] for t in parts["assigned"] if
                   not t.endswith("-changelog"))
    # Where each input partition stands: all read, the client fetching at the end.
    ends = {tp: view["position"] for tp, view in parts["offsets"].items()}
    assert set(ends) == {f"clickstream:{p}" for p in range(4)}
    assert sum(ends.values()) == len(first) + len(second)
    assert not any(view["client_paused"] for view in parts["offsets"].values())
    s_user = worker.get("/users/s/")
    assert s_user["n_events"] == 2
    assert s_user["first_ts_ms"] == s_user["last_ts_ms"] == T0_S * 1000
    assert worker.get("/users/42/")["monetary_total"] == 19.0
    assert worker.get("/users/nokey/")["n_events"] == 1

    # Scores: every user scored, each score a probability naming its models.
    scores = wait_for(
        lambda: _users_in(read_json(kafka, "user-scores"), {"a", "s", "42", "q", "b"}),
        30, "scores", worker,
    )
    for score in scores:
        assert score["schema_version"] == 1
        assert 0.0 < score["churn_risk"] < 1.0
        assert 0.0 < score["purchase_propensity"] < 1.0
        assert set(score["model_versions"]) == {"churn", "purchase"}

    # Recommendations: "q" viewed i1, so i2 (seen with i1 by "a") comes first.
    recs = wait_for(
        lambda: [r for r in read_json(kafka, "recommendations") if r["user_id"] == "q"],
        30, "a recommendation for q", worker,
    )
    assert recs[0]["items"][0]["item_id"] == "i2"
    assert recs[0]["items"][0]["reason"] == "co_occurrence"

    # Churn alert: "q" went quiet after a cart; one alert, at its session end.
    alerts = wait_for(
        lambda: [a for a in read_json(kafka, "churn-alerts") if a["user_id"] == "q"],
        30, "an alert for q", worker,
    )
    assert len(alerts) == 1
    assert alerts[0]["alert_id"] == "q:1"
    assert alerts[0]["last_event_ts_ms"] == (T0_S + 3 * MIN_S) * 1000
    assert alerts[0]["alert_ts_ms"] == (T0_S + 3 * MIN_S + 300) * 1000
    # Users with a single event stay below LIFECYCLE_ALERT_MIN_EVENTS=2.
    alerted = {a["user_id"] for a in read_json(kafka, "churn-alerts")}
    assert alerted.isdisjoint({"42", "nokey"})
    assert "q" in alerted
    _watchers_show_the_alerts(kafka, worker, alerted)


def _watchers_show_the_alerts(kafka, worker, alerted):
    """On-call tools: `lifecycle alerts` and the worker's live page, both reading
    the topic, both skipping a message that is not an alert."""
    produce(kafka, "churn-alerts", [(b"x", b"not an alert")])
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "alerts", "--from-beginning",
         "--json", "--until-idle", "3"],
        env={**os.environ, "KAFKA_BOOTSTRAP": kafka}, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shown = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert {a["user_id"] for a in shown} == alerted
    assert "skipped a message that is not an alert" in done.stderr
    assert "not_alerts=1" in done.stderr

    # Without --from-beginning, only what is sent from now on: none of these.
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "alerts", "--json", "--until-idle", "3"],
        env={**os.environ, "KAFKA_BOOTSTRAP": kafka}, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""

    # The same, as text, for the alert of "q" only, stopping at the first.
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "alerts", "--from-beginning",
         "--limit", "1", "--min-risk", "0"],
        env={**os.environ, "KAFKA_BOOTSTRAP": kafka}, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == 1
    assert " ALERT user=" in done.stdout and "churn_risk=" in done.stdout

    feed = wait_for(
        lambda: _feed_with(worker.get("/alerts/recent/"), len(alerted)),
        30, "the live alert feed", worker,
    )
    assert {a["user_id"] for a in feed["alerts"]} == alerted
    assert feed["not_alerts"] == 1 and feed["following"]
    # Asked for what came after the newest it has seen, a page gets nothing.
    assert worker.get(f"/alerts/recent/?after={feed['seq']}")["alerts"] == []
    url = f"http://127.0.0.1:{worker.web_port}/alerts/"
    with urllib.request.urlopen(url, timeout=5) as page:
        assert "/alerts/recent/" in page.read().decode()


def _feed_with(feed, n):
    return feed if len(feed["alerts"]) >= n and feed["not_alerts"] >= 1 else None


def _at_least(items, n):
    return items if len(items) >= n else None


def _stats_when(worker, applied):
    stats = worker.stats()
    if stats and stats["counts"].get("events", 0) >= applied:
        return stats
    return None


def _users_in(scores, users):
    return scores if users <= {s["user_id"] for s in scores} else None


def test_untimely_events_are_dead_lettered_and_idle_users_evicted(
    kafka, start_worker
):
    import urllib.error

    from tests.integration.conftest import read_topic

    worker = start_worker(
        LIFECYCLE_APP_ID="timely",
        LIFECYCLE_GRACE_S="60",
        LIFECYCLE_SESSION_GAP_S="60",
        LIFECYCLE_CHURN_HORIZON_S="300",
        LIFECYCLE_PURCHASE_HORIZON_S="300",
        LIFECYCLE_USER_TTL_S="900",
    )
    first = [msg("gone", "view", T0_S, event_id="g1")]
    first += [msg("a", "view", T0_S + m * MIN_S, event_id=f"a{m}") for m in range(10)]
    produce(kafka, "clickstream", first)
    worker.wait_received(len(first))

    # "a" is at minute 9, so its partition's watermark is minute 8; minute 4 is late.
    # The last one is keyed by something else than its user: it is re-keyed
    # first, and found late only then, in the order of the events re-keyed
    # from its clickstream partition (one came before it, at minute 9.5).
    rekeyed_on_time = msg("a", "view", T0_S + 9 * MIN_S + 30, event_id="a9.5")[1]
    rekeyed_late = msg("a", "view", T0_S + 5 * MIN_S, event_id="late-rekeyed")[1]
    untimely = [
        msg("a", "view", T0_S + 4 * MIN_S, event_id="late"),
        msg("a", "view", "2090-01-01T00:00:00Z", event_id="future"),
        (b"shop-7", rekeyed_late),
    ]
    produce(kafka, "clickstream", [(b"shop-7", rekeyed_on_time), *untimely])
    later = [
        msg("a", "view", T0_S + m * MIN_S, event_id=f"a{m}") for m in range(10, 40)
    ]
    produce(kafka, "clickstream", later)
    worker.wait_received(len(first) + 1 + len(untimely) + len(later))

    letters = wait_for(
        lambda: _at_least(read_json(kafka, "clickstream-dlq"), 3), 30,
        "untimely events dead-lettered", worker,
    )
    by_value = {base64.b64decode(d["original_value_b64"]): d for d in letters}
    late, future, late_rekeyed = (by_value[value] for _, value in untimely)
    assert late["reason"] == late_rekeyed["reason"] == "late_event"
    assert late["late_by_ms"] == 4 * MIN_S * 1000
    assert late_rekeyed["late_by_ms"] == 3 * MIN_S * 1000 + 30_000
    assert future["reason"] == "future_event"
    assert future["ahead_by_ms"] > 60 * 365 * 86_400_000
    # Every dead letter names the clickstream message, re-keyed or not.
    assert {d["source_topic"] for d in letters} == {"clickstream"}
    assert base64.b64decode(late_rekeyed["original_key_b64"]) == b"shop-7"
    offsets = {(d["source_partition"], d["source_offset"]) for d in letters}
    assert len(offsets) == 3

    # "gone" has been silent for more than its TTL of event time: evicted, with a
    # tombstone in the changelog.
    def evicted():
        try:
            worker.get("/users/gone/")
        except urllib.error.HTTPError as exc:
            return exc.code == 404
        return False

    wait_for(evicted, 30, "the idle user evicted", worker)
    assert worker.stats()["counts"]["users_evicted"] >= 1
    changelog = [
        r for r in read_topic(kafka, "timely-users-changelog") if r.key == b"gone"
    ]
    assert changelog[-1].value is None
    assert worker.get("/users/a/")["n_events"] == 41


def _key_for_partition(partition, partitions=4, prefix="shop"):
    from streams.app import partition_for

    return next(
        f"{prefix}-{i}".encode() for i in range(1000)
        if partition_for(f"{prefix}-{i}", partitions) == partition
    )


def test_a_rekeyed_backlog_read_unevenly_is_judged_in_its_own_order(
    kafka, start_worker
):
    """Events keyed by something else than their user reach their user's
    partition re-keyed, from every clickstream partition at once. A worker
    with a backlog (after a restart, in a replay) reads those partitions at
    uneven speeds: here all of clickstream partition 0, thirty minutes of event
    time, before any of partition 1's. Partition 1's events are in order in
    their own partition; none is late, and every one is applied."""
    worker = start_worker(LIFECYCLE_APP_ID="lanes", LIFECYCLE_GRACE_S="60")
    users = [f"lane-user{i}" for i in range(12)]

    def batch(source_partition, tag):
        key = _key_for_partition(source_partition)
        return [
            (key, msg(user, "view", T0_S + m * MIN_S, event_id=f"{tag}-{user}-{m}")[1])
            for m in range(31) for user in users
        ]

    ahead, behind = batch(0, "ahead"), batch(1, "behind")
    produce(kafka, "clickstream", ahead)
    wait_for(
        lambda: _stats_when(worker, len(ahead)), 60, "partition 0 applied", worker
    )
    produce(kafka, "clickstream", behind)
    stats = wait_for(
        lambda: _stats_when(worker, len(ahead) + len(behind)), 60,
        "partition 1 applied too", worker,
    )
    assert stats["rejected"] == {}
    assert stats["received"]["rekeyed_in"] == len(ahead) + len(behind)
    for user in users:
        assert worker.get(f"/users/{user}/")["n_events"] == 62


def test_an_event_too_large_to_re_key_is_dead_lettered_and_the_rest_flows(
    kafka, start_worker
):
    from kafka import KafkaProducer

    worker = start_worker(LIFECYCLE_APP_ID="oversized")
    # A valid event, keyed by something else than its user and larger than the
    # producer may send: it cannot be re-keyed. Events behind it, re-keyed too,
    # must still be applied (they were lost with it, and committed past).
    big = orjson.dumps({"user_id": "big", "event_type": "view", "event_ts": T0_S,
                        "item_id": "i9", "pad": "y" * (2 << 20)})
    after = [
        (f"shop-{i}".encode(), msg(f"after{i}", "view", T0_S + i)[1])
        for i in range(3)
    ]
    producer = KafkaProducer(bootstrap_servers=kafka, max_request_size=8 << 20)
    for key, value in [(b"shop-big", big), *after]:
        producer.send("clickstream", key=key, value=value).get(timeout=10)
    producer.close()

    for i in range(3):
        wait_for(lambda i=i: _known(worker, f"after{i}"), 60,
                 f"after{i} applied behind the oversized event", worker)
    letters = wait_for(lambda: read_json(kafka, "clickstream-dlq"), 30,
                       "the oversized event dead-lettered", worker)
    assert [d["reason"] for d in letters] == ["too_large"]
    assert letters[0]["size_bytes"] == len(big)
    assert letters[0]["original_truncated"] is True
    assert worker.stats()["rejected"] == {"too_large": 1}


def _known(worker, user_id):
    try:
        return worker.get(f"/users/{user_id}/")["n_events"] == 1
    except OSError:
        return False
