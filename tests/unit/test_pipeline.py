"""The worker's per-event and per-sweep logic, without a broker."""

import random
from collections import Counter

import pytest

from models.recommend import CoOccurrence, _top_k
from streams import topics
from streams.pipeline import UserPipeline
from streams.settings import Settings

T0 = 1_511_658_000_000
MIN_MS = 60_000


@pytest.fixture
def run():
    settings = Settings(
        grace_s=1.0, session_gap_s=600.0, churn_horizon_s=1800.0,
        purchase_horizon_s=1800.0, churn_threshold=0.01, churn_rearm=0.01,
        alert_min_events=2, alert_min_labels=0,
    )
    published = []
    rows = {}

    def write(state):
        rows[state.user_id] = state

    pipeline = UserPipeline(
        settings, lambda t, k, v: published.append((t, k, v)), write
    )

    def send(user, kind, ts_ms, event_id=None, **extra):
        event = {
            "event_id": event_id or f"{user}-{kind}-{ts_ms}",
            "user_id": user, "event_type": kind, "event_ts_ms": ts_ms, **extra,
        }
        state = pipeline.on_event(event, 0, rows.get(user))
        if state is not None:
            rows[user] = state
        return state

    def sweep():
        return pipeline.sweep(0, rows.get)

    return pipeline, send, sweep, rows, published


def of(published, topic):
    return [v for t, _, v in published if t == topic]


def test_a_duplicate_event_changes_nothing(run):
    pipeline, send, _, rows, _ = run
    send("a", "view", T0, event_id="e1")
    assert send("a", "view", T0, event_id="e1") is None
    assert rows["a"].n_events == 1
    assert pipeline.counts["duplicates"] == 1


def test_first_event_is_scored_with_finite_scores(run):
    _, send, _, _, published = run
    send("a", "view", T0)
    scores = of(published, topics.USER_SCORES)
    assert len(scores) == 1
    assert 0.0 < scores[0]["churn_risk"] < 1.0
    assert scores[0]["schema_version"] == 1


def test_silent_user_is_scored_at_session_end_and_alerted_once(run):
    pipeline, send, sweep, rows, published = run
    send("quiet", "view", T0)
    send("quiet", "cart_add", T0 + MIN_MS, price=5.0)
    # Others keep the watermark moving; "quiet" sends nothing more.
    for minute in range(2, 40):
        send("busy", "view", T0 + minute * MIN_MS)
        sweep()
    alerts = [a for a in of(published, topics.CHURN_ALERTS) if a["user_id"] == "quiet"]
    assert len(alerts) == 1
    assert alerts[0]["alert_id"] == "quiet:1"
    assert alerts[0]["last_event_ts_ms"] == T0 + MIN_MS
    assert rows["quiet"].scored_session_end
    # The moment scored at session end gets its churn label once the horizon passes.
    assert pipeline.counts["labels_churn"] >= 1


def _rescoring(**settings):
    """A pipeline that rescores silent users hourly, and a sender of views."""
    pipeline_settings = Settings(
        grace_s=1.0, session_gap_s=600.0, churn_horizon_s=1800.0,
        purchase_horizon_s=1800.0, rescore_interval_s=3600.0, **settings,
    )
    published, rows = [], {}
    pipeline = UserPipeline(
        pipeline_settings, lambda t, k, v: published.append((t, k, v)),
        lambda state: rows.__setitem__(state.user_id, state),
    )

    def send(user, ts_ms):
        event = {"event_id": f"{user}-{ts_ms}", "user_id": user,
                 "event_type": "view", "event_ts_ms": ts_ms}
        rows[user] = pipeline.on_event(event, 0, rows.get(user))

    return pipeline, send, rows, published


def test_silent_user_is_rescored_at_growing_steps_of_event_time():
    pipeline, send, rows, published = _rescoring()
    send("quiet", T0)
    # Another user moves the watermark 3.5 hours on, in one jump.
    send("busy", T0 + 210 * MIN_MS)
    pipeline.sweep(0, rows.get)

    moments = [
        (v["moment"], v["scored_ts_ms"]) for v in of(published, topics.USER_SCORES)
        if v["user_id"] == "quiet"
    ]
    # Activity at T0, the end of the session 10 minutes later, then steps of the
    # interval or the silence so far, whichever is longer: 70 and 140 minutes in
    # (the next, at 280, lies beyond the watermark), each at its own time.
    assert moments == [
        ("activity", T0),
        ("session_end", T0 + 10 * MIN_MS),
        ("interval", T0 + 70 * MIN_MS),
        ("interval", T0 + 140 * MIN_MS),
    ]


def test_recommendations_come_from_co_occurrence(run):
    _, send, _, _, published = run
    send("a", "view", T0, item_id="i1")
    send("a", "view", T0 + 1, item_id="i2")
    send("b", "view", T0 + 2, item_id="i1")
    recs = [r for r in of(published, topics.RECOMMENDATIONS) if r["user_id"] == "b"]
    assert recs[0]["items"][0] == {
        "item_id": "i2", "score": 1.0, "reason": "co_occurrence"
    }


def test_popularity_fills_in_for_unknown_items():
    model = CoOccurrence()
    for item in ["x", "x", "y"]:
        model.observe(item, [])
    picked = model.recommend(["new"], k=2)
    assert [(i, r) for i, _, r in picked] == [("x", "popular"), ("y", "popular")]


def test_co_occurrence_memory_is_bounded():
    model = CoOccurrence(max_items=100, max_neighbours=5)
    for i in range(1000):
        model.observe(f"i{i}", [f"i{i - j}" for j in range(1, 6)])
    assert len(model.popularity) <= 120
    assert all(len(c) <= 10 for c in model.neighbours.values())


def test_popular_list_ranks_as_most_common_after_every_refresh():
    # Skewed, tie-heavy counts, with forgetting, checked at every refresh.
    rng = random.Random(3)
    model = CoOccurrence(max_items=300, max_neighbours=5)
    refreshes = 0
    for _ in range(20_000):
        model.observe(f"i{int(rng.paretovariate(0.7)) % 500}", [])
        if model._observed_since_top == 0:
            refreshes += 1
            assert model._top == model.popularity.most_common(50)
    assert refreshes > 20


@pytest.mark.parametrize("k", [0, 1, 5, 50])
def test_top_k_ranks_as_most_common_ties_included(k):
    rng = random.Random(k)
    for size in (0, 3, 40, 600):
        counts = {f"i{rng.randrange(10**6)}": rng.randint(1, 6) for _ in range(size)}
        assert _top_k(counts, k) == Counter(counts).most_common(k)


def test_only_the_moments_named_in_the_settings_wait_for_labels():
    pipeline, send, rows, published = _rescoring(learn_moments="interval")
    send("quiet", T0)
    assert rows["quiet"].pending == []
    send("busy", T0 + 210 * MIN_MS)
    pipeline.sweep(0, rows.get)

    # Every moment is still scored and published, at the same times as when all
    # are learned from (see the test above); only the interval moments wait.
    moments = [
        v["moment"] for v in of(published, topics.USER_SCORES)
        if v["user_id"] == "quiet"
    ]
    assert moments == ["activity", "session_end", "interval", "interval"]
    # The sweep caught up through both horizons: the two interval moments were
    # learned from, the activity and session-end moments never waited.
    assert pipeline.counts["labels_churn"] == 2
    assert pipeline.counts["labels_purchase"] == 2
