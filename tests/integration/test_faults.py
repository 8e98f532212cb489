"""Exact per-user state under faults: at-least-once delivery, restarts, rebalances."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import orjson
import pytest

from models.features import EVENT_TYPES
from tests.integration.conftest import produce, read_json, wait_for

pytestmark = pytest.mark.integration

T0_MS = 1_700_000_000_000
KINDS = ("view",) * 6 + ("cart_add", "favorite", "purchase", "cart_remove")


def stream(n_events: int, n_users: int, seed: int = 7):
    """A fixed stream: user ids, kinds and steadily advancing event times."""
    rng = random.Random(seed)
    events = []
    for i in range(n_events):
        user = f"u{i % n_users}"
        kind = rng.choice(KINDS)
        events.append(
            {"event_id": f"e{i}", "user_id": user, "event_type": kind,
             "event_ts": T0_MS + i * 1000, "item_id": f"i{rng.randrange(50)}",
             "price": 2.5}
        )
    return events


def truth(events):
    counts: dict[str, Counter[str]] = {}
    for e in events:
        counts.setdefault(e["user_id"], Counter())[e["event_type"]] += 1
    return counts


def as_messages(events):
    return [(e["user_id"].encode(), orjson.dumps(e)) for e in events]


def user_counts(worker, user_ids):
    """Per-user counts by type, as the worker that owns each user reports them."""
    out = {}
    for user_id in user_ids:
        row = worker.get(f"/users/{user_id}/")
        out[user_id] = Counter(
            {kind: n for kind, n in zip(EVENT_TYPES, row["counts"], strict=True) if n}
        )
    return out


def total_events(worker, user_ids):
    try:
        total = sum(worker.get(f"/users/{u}/")["n_events"] for u in user_ids)
    except OSError as exc:
        total = f"unavailable: {exc}"
    _last_total["value"] = total
    return total if isinstance(total, int) else -1


_last_total: dict[str, object] = {}


@pytest.mark.parametrize(
    ("stop_signal", "store"),
    [
        (signal.SIGKILL, "memory://"),
        (signal.SIGKILL, "rocksdb://"),
        # A clean stop mid-stream: the batch in hand when the agents are
        # cancelled must be applied and written before its offsets commit.
        (signal.SIGTERM, "memory://"),
    ],
    ids=["sigkill-memory", "sigkill-rocksdb", "sigterm-memory"],
)
def test_stop_mid_stream_then_restart_counts_every_event_once(
    kafka, start_worker, stop_signal, store
):
    events = stream(10_000, 100)
    expected = truth(events)
    env = {"LIFECYCLE_APP_ID": "faults-kill", "LIFECYCLE_STORE": store}
    first = start_worker(**env)

    produce(kafka, "clickstream", as_messages(events))
    first.wait_received(5_000, timeout_s=120)
    first.stop(stop_signal)

    second = start_worker(**env)
    wait_for(lambda: total_events(second, expected) == 10_000, 180,
             lambda: f"all 10,000 events applied after restart (last total: "
             f"{_last_total.get('value')}, stats: {second.stats()})", second)
    assert user_counts(second, expected) == expected


def test_clean_restarts_change_no_feature_and_repeat_no_alert(kafka, start_worker):
    events = stream(3_000, 60)
    expected = truth(events)
    env = {
        "LIFECYCLE_APP_ID": "faults-restart",
        "LIFECYCLE_SESSION_GAP_S": "30",
        "LIFECYCLE_CHURN_HORIZON_S": "45",
        "LIFECYCLE_CHURN_THRESHOLD": "0.01",
        "LIFECYCLE_CHURN_REARM": "0.01",
        "LIFECYCLE_ALERT_MIN_LABELS": "0",
        "LIFECYCLE_ALERT_MIN_EVENTS": "1",
        "LIFECYCLE_GRACE_S": "1",
        # Partitions whose events ended earlier are swept on the worker's
        # watermark after this long: the rows settle within seconds.
        "LIFECYCLE_IDLE_PARTITION_S": "1",
    }
    worker = start_worker(**env)
    produce(kafka, "clickstream", as_messages(events))
    wait_for(lambda: total_events(worker, expected) == 3_000, 120,
             "events applied", worker)
    # Let the sweeps finish with the final watermarks before taking the snapshot:
    # no alert and no row changes for a few sweep intervals.
    wait_for(lambda: _quiet_alerts(kafka), 60, "alerts to settle", worker)
    before = wait_for(lambda: _settled_rows(worker, expected), 60,
                      "rows to settle", worker)
    alerts_before = read_json(kafka, "churn-alerts")
    assert alerts_before, "the setup should raise alerts"

    for _ in range(3):
        worker.stop()
        worker = start_worker(**env)
        wait_for(lambda w=worker: total_events(w, expected) == 3_000, 120,
                 "state recovered", worker)

    after = {u: _comparable(worker.get(f"/users/{u}/")) for u in expected}
    assert after == before
    alerts_after = read_json(kafka, "churn-alerts")
    ids = [a["alert_id"] for a in alerts_after]
    assert len(ids) == len(set(ids)), "an alert was sent twice"
    assert len(alerts_after) == len(alerts_before)

    # The event-time clocks came back with the rows: an event from the stream's
    # first minute is as late after the restarts as it was before them.
    late = {"event_id": "late-1", "user_id": "u7", "event_type": "view",
            "event_ts": T0_MS, "item_id": "i1", "price": 2.5}
    produce(kafka, "clickstream", as_messages([late]))
    letters = wait_for(lambda: read_json(kafka, "clickstream-dlq"), 60,
                       "the late event dead-lettered", worker)
    assert [d["reason"] for d in letters] == ["late_event"]
    assert letters[0]["late_by_ms"] > 2_900_000
    assert worker.get("/users/u7/")["n_events"] == expected["u7"].total()


def test_worker_joining_and_leaving_mid_stream_keeps_totals_exact(
    kafka, start_worker
):
    events = stream(12_000, 120, seed=11)
    expected = truth(events)
    env = {"LIFECYCLE_APP_ID": "faults-rebalance"}
    first = start_worker(**env)

    produce(kafka, "clickstream", as_messages(events[:4_000]))
    first.wait_received(2_000, timeout_s=120)
    second = start_worker(**env)
    produce(kafka, "clickstream", as_messages(events[4_000:8_000]))
    wait_for(lambda: _received(first) + _received(second) >= 6_000, 120,
             "both workers consuming", second)
    # Either worker answers for any user: it forwards to the partition's owner.
    wait_for(lambda: _answers_for_all(first, expected) and _answers_for_all(
        second, expected), 60, "every user served by both workers", second)
    first.stop()
    # Known defect, broker side: after a member's LeaveGroup, Tansu 0.6 does not
    # always tell the remaining member to rejoin, so the leaver's partitions can
    # stay unowned (seen under load, about one run in three; Apache Kafka starts
    # the rebalance itself). A third worker joining forces the rebalance; the
    # scenario stays join, leave, join, with state moving through changelogs.
    third = start_worker(**env)
    produce(kafka, "clickstream", as_messages(events[8_000:]))

    try:
        wait_for(lambda: total_events(second, expected) == 12_000, 180,
                 "all events applied on the remaining workers", second)
    except AssertionError as exc:
        said = {
            name: {key: (w.stats() or {}).get(key) for key in ("counts", "rejected")}
            for name, w in (("second", second), ("third", third))
        }
        raise AssertionError(
            f"last total: {_last_total.get('value')}; workers: {said}"
        ) from exc
    # A worker answers 503 while the group rebalances; wait until both answer.
    wait_for(lambda: _answers_for_all(second, expected) and _answers_for_all(
        third, expected), 60, "every user served by the remaining workers", third)
    assert user_counts(second, expected) == expected
    assert user_counts(third, expected) == expected
    # Each worker counts the users of the partitions it owns, none twice.
    wait_for(lambda: _users_local(second) + _users_local(third) == len(expected),
             60, "users_local of the two workers to add up to every user", third)


def _users_local(worker):
    stats = worker.stats()
    return stats["users_local"] if stats else -1


def _answers_for_all(worker, user_ids):
    try:
        return all(worker.get(f"/users/{u}/")["user_id"] == u for u in user_ids)
    except OSError:
        return False


def _received(worker):
    stats = worker.stats()
    return stats["received"].get("clickstream", 0) if stats else 0


def _comparable(row):
    """A user's row without what legitimately moves with wall-clock restarts.

    Features are computed at the worker's watermark, and the current scores come
    from models that keep learning: neither is user state.
    """
    row = dict(row)
    for volatile in ("features", "features_at_ms", "scores_now", "model_versions"):
        row.pop(volatile, None)
    return row


def _settled_rows(worker, user_ids):
    """Every user's comparable row, once none changed over 5 s (two sweeps)."""
    first = {u: _comparable(worker.get(f"/users/{u}/")) for u in user_ids}
    time.sleep(5)
    second = {u: _comparable(worker.get(f"/users/{u}/")) for u in user_ids}
    return first if first == second else None


_last_alert_count = {"n": -1}


def _quiet_alerts(bootstrap):
    n = len(read_json(bootstrap, "churn-alerts"))
    quiet = n == _last_alert_count["n"] and n > 0
    _last_alert_count["n"] = n
    return quiet
