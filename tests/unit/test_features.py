"""Per-user state in event time: counts, sessions, money, de-duplication."""

import numpy as np

from models.features import (
    FEATURE_NAMES,
    UserState,
    apply_event,
    feature_dict,
    feature_vector,
    is_duplicate,
)

GAP_MS = 30 * 60 * 1000
T0 = 1_511_658_000_000


def ev(kind, ts_ms, **extra):
    return {"event_type": kind, "event_ts_ms": ts_ms, **extra}


def state_after(*events):
    state = UserState("u")
    for e in events:
        apply_event(state, e, GAP_MS)
    return state


def test_counts_by_type_and_money():
    state = state_after(
        ev("view", T0, item_id="a"),
        ev("cart_add", T0 + 1000, item_id="a", price=10.0, quantity=2),
        ev("purchase", T0 + 2000, item_id="a", price=10.0, quantity=2),
        ev("refund", T0 + 3000, item_id="a", price=10.0, quantity=1),
    )
    assert state.counts == [1, 1, 0, 0, 0, 1, 1]
    assert state.purchases == 1
    assert state.monetary_total == 10.0
    assert state.cart_value == 0.0  # a purchase empties the cart
    assert state.last_purchase_ts_ms == T0 + 2000


def test_a_gap_longer_than_the_session_gap_starts_a_session():
    state = state_after(
        ev("view", T0), ev("view", T0 + GAP_MS), ev("view", T0 + 2 * GAP_MS + 1)
    )
    assert state.sessions == 2
    assert state.session_events == 1


def test_a_session_id_in_the_event_wins_over_the_gap():
    state = state_after(
        ev("view", T0, session_id="s1"),
        ev("view", T0 + 3 * GAP_MS, session_id="s1"),
        ev("view", T0 + 3 * GAP_MS + 1, session_id="s2"),
    )
    assert state.sessions == 2


def test_out_of_order_events_never_move_recency_backwards():
    state = state_after(ev("view", T0 + 5000), ev("view", T0))
    assert state.last_ts_ms == T0 + 5000
    assert state.first_ts_ms == T0


def test_sessions_ending_in_a_purchase_are_counted_once():
    state = state_after(
        ev("purchase", T0, price=1.0), ev("purchase", T0 + 1, price=1.0)
    )
    assert state.purchase_sessions == 1


def test_duplicate_ids_are_recognised_and_first_sight_is_remembered():
    state = UserState("u")
    assert not is_duplicate(state, "e1", T0, 3_600_000, 100)
    assert is_duplicate(state, "e1", T0, 3_600_000, 100)


def test_remembered_ids_are_capped():
    state = UserState("u")
    for i in range(50):
        is_duplicate(state, f"e{i}", T0 + i, 10**12, 10)
    assert len(state.seen) == 10
    assert "e49" in state.seen and "e0" not in state.seen


def test_feature_vector_follows_the_documented_order_and_event_time():
    state = state_after(ev("view", T0), ev("purchase", T0 + 60_000, price=5.0))
    later_ms = T0 + 60_000 + 3_600_000
    vector = feature_vector(state, later_ms)
    named = feature_dict(state, later_ms)
    assert vector.shape == (len(FEATURE_NAMES),)
    assert list(named) == list(FEATURE_NAMES)
    assert np.isclose(named["log_recency_s"], np.log1p(3600.0))
    assert np.isclose(named["log_tenure_s"], np.log1p(3660.0))
    assert named["has_purchased"] == 1.0
    assert np.all(np.isfinite(vector))


def test_state_round_trips_through_its_serialised_form():
    state = state_after(ev("view", T0, item_id="a"), ev("cart_add", T0 + 1, price=2.0))
    is_duplicate(state, "e1", T0, 1000, 10)
    copy = UserState.loads(state.dumps())
    assert copy.to_dict() == state.to_dict()
