"""Scoring moments get labels in event time; alerts open once per episode."""

import math
import random

import pytest

from models.alerts import close_on_activity, should_alert
from models.features import UserState
from models.labels import (
    CHURN,
    LEARNED,
    PURCHASE,
    add_moment,
    resolve_on_event,
    resolve_on_watermark,
)
from models.vectors import FEATURE_LIMIT, N_FEATURES, pack, prepare, unpack

H_MS = 3_600_000


def test_activity_within_horizon_is_learned_as_no_churn_at_the_horizon():
    state = UserState("u")
    add_moment(state, 1000, [0.0])
    assert resolve_on_event(state, 2000, False, H_MS, H_MS) == []
    assert state.pending[0][CHURN] == 0 and state.pending[0][PURCHASE] is None
    assert resolve_on_watermark(state, 1000 + H_MS - 1, H_MS, H_MS) == []
    labels = resolve_on_watermark(state, 1000 + H_MS, H_MS, H_MS)
    assert sorted(labels) == [(CHURN, pack([0.0]), 0), (PURCHASE, pack([0.0]), 0)]
    assert state.pending == []


def test_a_purchase_within_horizon_is_learned_as_positive_at_the_horizon():
    state = UserState("u")
    add_moment(state, 1000, [0.0])
    assert resolve_on_event(state, 2000, True, H_MS, H_MS) == []
    labels = resolve_on_watermark(state, 1000 + H_MS, H_MS, H_MS)
    assert sorted(labels) == [(CHURN, pack([0.0]), 0), (PURCHASE, pack([0.0]), 1)]
    assert state.pending == []


def test_labels_of_two_horizons_are_learned_each_at_its_own():
    state = UserState("u")
    add_moment(state, 1000, [0.0])
    resolve_on_event(state, 2000, True, 2 * H_MS, H_MS)
    assert resolve_on_watermark(state, 1000 + H_MS, 2 * H_MS, H_MS) == [
        (PURCHASE, pack([0.0]), 1)
    ]
    assert state.pending[0][PURCHASE] == LEARNED
    assert resolve_on_watermark(state, 1000 + 2 * H_MS, 2 * H_MS, H_MS) == [
        (CHURN, pack([0.0]), 0)
    ]
    assert state.pending == []


def test_an_event_at_the_same_instant_does_not_label_its_moment():
    state = UserState("u")
    add_moment(state, 1000, [0.0])
    resolve_on_event(state, 1000, True, H_MS, H_MS)
    assert state.pending[0][CHURN] is None and state.pending[0][PURCHASE] is None


def test_silence_past_the_horizon_labels_churn_and_no_purchase():
    state = UserState("u")
    add_moment(state, 1000, [1.0])
    assert resolve_on_watermark(state, 1000 + H_MS - 1, H_MS, H_MS) == []
    labels = resolve_on_watermark(state, 1000 + H_MS, H_MS, H_MS)
    assert sorted(labels) == [(CHURN, pack([1.0]), 1), (PURCHASE, pack([1.0]), 0)]
    assert state.pending == []


def test_late_activity_after_the_horizon_does_not_relabel():
    state = UserState("u")
    add_moment(state, 1000, [1.0])
    resolve_on_event(state, 1000 + H_MS + 1, True, H_MS, H_MS)
    labels = resolve_on_watermark(state, 1000 + H_MS + 1, H_MS, H_MS)
    assert sorted(labels) == [(CHURN, pack([1.0]), 1), (PURCHASE, pack([1.0]), 0)]


def test_pending_moments_are_bounded_and_thinned_where_they_crowd():
    state = UserState("u")
    # Eight moments an hour apart, then a burst a second apart.
    times = [i * H_MS for i in range(8)] + [7 * H_MS + i * 1000 for i in range(1, 13)]
    dropped = sum(add_moment(state, t, [0.0]) for t in times)
    assert len(state.pending) == 8
    assert dropped == 12
    # The hourly moments survive the burst: each moment of it crowded the one
    # before, so it went.
    assert [m["ts_ms"] for m in state.pending] == [i * H_MS for i in range(8)]


def test_the_oldest_pending_moment_is_never_the_one_thinned_out():
    state = UserState("u")
    for t in [0, 1000] + [(i + 1) * H_MS for i in range(7)]:
        add_moment(state, t, [0.0])
    assert [m["ts_ms"] for m in state.pending][:2] == [0, H_MS]


def test_alert_opens_once_and_rearms_below_the_lower_level():
    state = UserState("u")
    state.n_events = 5
    args = dict(threshold=0.7, rearm=0.5, min_events=3)
    assert should_alert(state, 0.8, 1, **args) == 1
    assert should_alert(state, 0.9, 2, **args) is None  # same episode
    assert should_alert(state, 0.6, 3, **args) is None  # still above re-arm
    assert should_alert(state, 0.4, 4, **args) is None  # closes
    assert should_alert(state, 0.75, 5, **args) == 2


def test_activity_closes_an_open_episode():
    state = UserState("u")
    state.n_events = 5
    should_alert(state, 0.8, 1, threshold=0.7, rearm=0.5, min_events=3)
    close_on_activity(state)
    assert should_alert(state, 0.8, 2, threshold=0.7, rearm=0.5, min_events=3) == 2


def test_users_with_few_events_never_alert():
    state = UserState("u")
    state.n_events = 2
    assert should_alert(state, 0.99, 1, threshold=0.7, rearm=0.5, min_events=3) is None


def test_a_moment_keeps_its_vector_packed_and_the_models_read_it_back():
    rng = random.Random(7)
    x = [0.0, -0.0, 1.0, -1e-5, 5e-5, 123456.78915, 1e300, math.inf, math.nan]
    x += [rng.uniform(-50, 50) for _ in range(N_FEATURES - len(x))]
    state = UserState("u")
    add_moment(state, 1000, x)
    kept = state.pending[0]["x"]
    assert isinstance(kept, str)
    back = unpack(kept)
    assert back[:6] == pytest.approx(x[:6], rel=1e-6, abs=1e-12)
    assert back[6] == math.inf and math.isnan(back[8])  # beyond float32: infinite
    assert back[9:] == pytest.approx(x[9:], rel=1e-6)
    # What a model gets: finite and clipped, as for any other input.
    v = prepare(kept)
    assert v.values[6] == v.values[7] == FEATURE_LIMIT and v.values[8] == 0.0
    with pytest.raises(ValueError):
        prepare(pack([1.0, 2.0]))  # a vector of another layout
    with pytest.raises(ValueError):
        unpack("not base64!")
