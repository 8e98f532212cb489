"""Per-user state and features in event time, checked against hand-computed values."""

import math
import random
import re
from pathlib import Path

import numpy as np
import orjson
import pytest

from models.features import (
    DAY_MS,
    FEATURE_NAMES,
    HOUR_MS,
    MINUTE_MS,
    ROW_FIELDS,
    ROW_VERSION,
    TIERS,
    TYPE_INDEX,
    UserState,
    abandoned_cart_items,
    apply_event,
    cart_items,
    cart_value,
    feature_dict,
    feature_values,
    feature_vector,
    is_duplicate,
    top_categories,
    window_counts,
)
from models.vectors import prepare

GAP_MS = 30 * 60 * 1000
# On an hour edge (and so a 5-minute edge), not on a day edge.
T0 = 1_511_658_000_000
# On a day edge (UTC midnight).
D0 = 17_497 * DAY_MS
VIEW = TYPE_INDEX["view"]
PURCHASE = TYPE_INDEX["purchase"]


def ev(kind, ts_ms, **extra):
    return {"event_type": kind, "event_ts_ms": ts_ms, **extra}


def state_after(*events, **options):
    state = UserState("u")
    for e in events:
        apply_event(state, e, GAP_MS, **options)
    return state


def views(*times_ms):
    return state_after(*(ev("view", t) for t in times_ms))


def purchases_at(*times_s):
    return state_after(
        *(ev("purchase", T0 + int(t * 1000), price=1.0) for t in times_s)
    )


def heavy_state(n_events=1000, seed=7):
    """A user with many events over 40 days, some of them late."""
    rng = random.Random(seed)
    kinds = ["view"] * 12 + ["cart_add", "cart_add", "cart_remove", "favorite",
                             "checkout", "purchase", "refund"]
    state = UserState("heavy")
    ts_ms = D0 - 40 * DAY_MS
    for i in range(n_events):
        ts_ms += rng.randrange(1, 2 * 40 * DAY_MS // n_events)
        late_ms = rng.choice([0, 0, 0, 0, rng.randrange(60_000)])
        event = {
            "event_id": f"e{i}", "user_id": "heavy", "event_type": rng.choice(kinds),
            "event_ts_ms": ts_ms - late_ms, "item_id": str(rng.randrange(200)),
            "category_id": str(rng.randrange(30)), "price": rng.uniform(1, 300),
            "quantity": rng.randrange(1, 4), "session_id": None,
            "order_id": f"o{i // 3}",
        }
        if not is_duplicate(state, event["event_id"], event["event_ts_ms"],
                            DAY_MS, 4096):
            apply_event(state, event, GAP_MS)
    return state


# -- counts, money, sessions, recency (the first version's behaviour) -------


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
    assert cart_value(state, T0 + 3000) == 0.0  # buying the item empties its line
    assert state.last_purchase_ts_ms == T0 + 2000


def test_a_gap_longer_than_the_session_gap_starts_a_session():
    state = views(T0, T0 + GAP_MS, T0 + 2 * GAP_MS + 1)
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
    state = views(T0 + 5000, T0)
    assert state.last_ts_ms == T0 + 5000
    assert state.first_ts_ms == T0


def test_previous_gap_is_between_the_two_newest_times_in_any_order():
    state = views(T0 + 5000, T0)
    assert state.prev_ts_ms == T0
    apply_event(state, ev("view", T0 + 3000), GAP_MS)
    assert state.prev_ts_ms == T0 + 3000
    named = feature_dict(state, T0 + 5000)
    assert named["log_prev_gap_s"] == pytest.approx(math.log1p(2.0))


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


# -- sliding windows ------------------------------------------------------------


def test_one_hour_window_is_open_at_its_start_and_closed_at_its_end():
    state = views(T0 - HOUR_MS, T0 - HOUR_MS + 1, T0)
    assert window_counts(state, T0, HOUR_MS)[VIEW] == 2
    named = feature_dict(state, T0)
    assert named["log_n_view_1h"] == pytest.approx(math.log1p(2))
    assert named["log_events_1h"] == pytest.approx(math.log1p(2))


def test_window_start_is_rounded_up_to_a_bucket_edge_between_edges():
    # At T0 + 2 min the 1 h window counts (T0 - 55 min, T0 + 2 min]: the bucket
    # (T0 - 60 min, T0 - 55 min] is partly outside the true window, so it is left out.
    state = views(T0 - 57 * MINUTE_MS, T0 - 54 * MINUTE_MS, T0 + 2 * MINUTE_MS)
    assert window_counts(state, T0 + 2 * MINUTE_MS, HOUR_MS)[VIEW] == 2
    # At T0 + 6 min it counts (T0 - 50 min, T0 + 6 min].
    assert window_counts(state, T0 + 6 * MINUTE_MS, HOUR_MS)[VIEW] == 1


def test_day_window_uses_hourly_buckets():
    state = views(T0 - DAY_MS, T0 - DAY_MS + 1, T0 - HOUR_MS)
    assert window_counts(state, T0, DAY_MS)[VIEW] == 2
    assert window_counts(state, T0 + 30 * MINUTE_MS, DAY_MS)[VIEW] == 1


def test_week_and_month_windows_use_daily_buckets():
    state = views(
        D0 - 30 * DAY_MS, D0 - 30 * DAY_MS + 1, D0 - 7 * DAY_MS, D0 - 7 * DAY_MS + 1,
        D0,
    )
    assert window_counts(state, D0, 7 * DAY_MS)[VIEW] == 2
    assert window_counts(state, D0, 30 * DAY_MS)[VIEW] == 4
    named = feature_dict(state, D0)
    assert named["log_n_view_7d"] == pytest.approx(math.log1p(2))
    assert named["log_n_view_30d"] == pytest.approx(math.log1p(4))
    assert named["log_n_purchase_30d"] == 0.0


def test_windows_empty_as_event_time_passes_without_events():
    state = views(T0)
    assert window_counts(state, T0 + HOUR_MS, HOUR_MS)[VIEW] == 0
    assert window_counts(state, T0 + HOUR_MS, DAY_MS)[VIEW] == 1
    assert window_counts(state, T0 + 31 * DAY_MS, 30 * DAY_MS)[VIEW] == 0


def test_a_late_event_lands_in_its_own_bucket():
    state = views(T0, T0 + 10 * MINUTE_MS, T0 + MINUTE_MS)
    indexes = [row[0] for row in state.buckets[0]]
    assert indexes == sorted(indexes) and len(indexes) == 3
    assert window_counts(state, T0 + 5 * MINUTE_MS, 5 * MINUTE_MS)[VIEW] == 1
    assert window_counts(state, T0 + 10 * MINUTE_MS, HOUR_MS)[VIEW] == 3


def test_a_late_event_older_than_a_tier_is_counted_by_the_longer_tiers_only():
    state = views(T0 + 2 * HOUR_MS, T0)
    assert window_counts(state, T0 + 2 * HOUR_MS, HOUR_MS)[VIEW] == 1
    assert window_counts(state, T0 + 2 * HOUR_MS, DAY_MS)[VIEW] == 2
    assert len(state.buckets[0]) == 1


def test_buckets_are_pruned_as_event_time_passes():
    state = views(*(T0 + h * HOUR_MS for h in range(40 * 24)))
    assert [len(rows) for rows in state.buckets] == [1, 24, 30]
    assert [kept for _, kept in TIERS] == [12, 24, 30]


def test_window_longer_than_the_month_kept_is_refused():
    with pytest.raises(ValueError, match="window_ms="):
        window_counts(UserState("u"), T0, 31 * DAY_MS)


def test_trend_compares_the_last_day_with_the_average_day():
    state = views(
        *(D0 - 20 * DAY_MS + i for i in range(3)),
        *(D0 - 3 * DAY_MS + i for i in range(4)),
        *(D0 - HOUR_MS + i for i in range(3)),
    )
    named = feature_dict(state, D0)
    assert named["trend_24h_7d"] == pytest.approx(7 * 3 / 7)
    assert named["trend_7d_30d"] == pytest.approx(30 / 7 * 7 / 10)


def test_trend_is_zero_when_the_long_window_is_empty():
    state = views(D0 - 40 * DAY_MS)
    named = feature_dict(state, D0)
    assert named["trend_24h_7d"] == 0.0
    assert named["trend_7d_30d"] == 0.0


# -- sessions ---------------------------------------------------------------------


def test_mean_session_length_and_events_per_session():
    state = views(T0, T0 + 60_000, T0 + 120_000, T0 + HOUR_MS, T0 + HOUR_MS + 30_000)
    named = feature_dict(state, T0 + HOUR_MS + 30_000)
    assert state.sessions == 2
    assert named["log_mean_session_s"] == pytest.approx(math.log1p((120 + 30) / 2))
    assert named["log_events_per_session"] == pytest.approx(math.log1p(2.5))
    assert named["log_session_events"] == pytest.approx(math.log1p(2))


def test_share_of_sessions_with_a_purchase():
    state = state_after(
        ev("view", T0), ev("purchase", T0 + 1000, price=1.0),
        ev("view", T0 + HOUR_MS), ev("view", T0 + 2 * HOUR_MS),
        ev("purchase", T0 + 3 * HOUR_MS, price=1.0),
    )
    assert feature_dict(state, T0 + 3 * HOUR_MS)["purchase_session_share"] == 0.5


def test_a_late_event_of_an_earlier_session_id_opens_no_session():
    state = state_after(
        ev("view", T0, session_id="s1"),
        ev("view", T0 + HOUR_MS, session_id="s2"),
        ev("purchase", T0 + 10_000, session_id="s1", price=1.0),
    )
    assert state.sessions == 2
    assert state.session_id == "s2"
    assert state.session_events == 1
    assert state.purchase_sessions == 0
    assert state.n_events == 3


def test_a_late_event_within_the_gap_extends_the_session_backwards():
    state = views(T0 + 10 * MINUTE_MS, T0 + 20 * MINUTE_MS, T0)
    assert state.sessions == 1
    assert state.session_start_ms == T0
    named = feature_dict(state, T0 + 20 * MINUTE_MS)
    assert named["log_mean_session_s"] == pytest.approx(math.log1p(1200.0))


# -- purchases, orders and their gaps ------------------------------------------


def test_order_gaps_match_numpy_mean_and_population_std():
    times_s = [0, 100, 350, 400, 1400, 1500]
    state = purchases_at(*times_s)
    gaps_s = np.diff(times_s)
    assert state.orders == 6
    assert state.order_gap_count == 5
    assert state.order_gap_mean_s == pytest.approx(np.mean(gaps_s))
    named = feature_dict(state, T0 + 1_500_000)
    assert named["log_order_gap_mean_s"] == pytest.approx(np.log1p(np.mean(gaps_s)))
    assert named["log_order_gap_std_s"] == pytest.approx(np.log1p(np.std(gaps_s)))


def test_late_orders_split_the_gap_between_their_neighbours():
    times_s = [350, 100, 1500, 400, 0, 1400, 1450]
    state = purchases_at(*times_s)
    gaps_s = np.diff(sorted(times_s))
    assert state.order_gap_count == len(gaps_s)
    assert state.order_gap_mean_s == pytest.approx(np.mean(gaps_s))
    assert math.sqrt(state.order_gap_m2_s2 / state.order_gap_count) == pytest.approx(
        np.std(gaps_s)
    )


def test_purchase_lines_of_one_order_count_once():
    state = state_after(
        ev("purchase", T0, order_id="o1", price=10.0, quantity=2),
        ev("purchase", T0 + 3000, order_id="o1", price=5.0),
        ev("purchase", T0 + DAY_MS, price=4.0),
        ev("purchase", T0 + DAY_MS, price=6.0),
    )
    assert state.purchases == 4
    assert state.orders == 2
    assert state.order_gap_count == 1
    assert state.order_gap_mean_s == pytest.approx(86_400.0)
    assert state.last_order_value == 10.0


def test_monetary_total_mean_and_last_order_value():
    state = state_after(
        ev("purchase", T0, price=10.0),
        ev("purchase", T0 + DAY_MS, price=15.0, quantity=2),
        ev("refund", T0 + DAY_MS + 1, price=5.0),
        ev("purchase", T0 + 1000, price=50.0),  # late: an older order
    )
    named = feature_dict(state, T0 + 2 * DAY_MS)
    assert named["has_purchased"] == 1.0
    assert named["log_orders"] == pytest.approx(math.log1p(3))
    assert named["log_monetary_total"] == pytest.approx(math.log1p(85.0))
    assert named["log_order_value_mean"] == pytest.approx(math.log1p(85.0 / 3))
    assert named["log_order_value_last"] == pytest.approx(math.log1p(30.0))
    assert named["log_since_purchase_s"] == pytest.approx(math.log1p(86_400.0))


# -- cart -------------------------------------------------------------------------


def test_cart_items_count_as_abandoned_only_after_n_hours():
    state = state_after(ev("cart_add", T0, item_id="a", price=3.0))
    assert abandoned_cart_items(state, T0 + 6 * HOUR_MS - 1, 6 * HOUR_MS) == 0
    assert abandoned_cart_items(state, T0 + 6 * HOUR_MS, 6 * HOUR_MS) == 1
    assert abandoned_cart_items(state, T0 + DAY_MS) == 1
    assert cart_items(state, T0) == 1 and cart_value(state, T0) == 3.0


def test_buying_an_item_clears_its_abandonment_only():
    state = state_after(
        ev("cart_add", T0, item_id="a", price=3.0),
        ev("cart_add", T0 + 1, item_id="b", price=4.0, quantity=2),
        ev("purchase", T0 + 2, item_id="a", price=3.0),
    )
    assert abandoned_cart_items(state, T0 + 2 * DAY_MS) == 1
    named = feature_dict(state, T0 + 2 * DAY_MS)
    assert named["log_cart_value"] == pytest.approx(math.log1p(8.0))
    assert named["log_cart_items"] == pytest.approx(math.log1p(1))
    assert named["log_abandoned_cart_items"] == pytest.approx(math.log1p(1))


def test_removing_an_item_closes_its_line():
    state = state_after(
        ev("cart_add", T0, item_id="a", price=3.0),
        ev("cart_remove", T0 + 1, item_id="a", price=3.0),
    )
    assert cart_items(state, T0 + 1) == 0
    assert abandoned_cart_items(state, T0 + 2 * DAY_MS) == 0


def test_a_purchase_without_an_item_checks_out_the_whole_cart():
    state = state_after(
        ev("cart_add", T0, item_id="a", price=3.0),
        ev("cart_add", T0 + 1, item_id="b", price=4.0),
        ev("purchase", T0 + 2, price=7.0),
        ev("cart_add", T0 + 3, item_id="c", price=5.0),
    )
    assert cart_value(state, T0 + 3) == 5.0
    assert abandoned_cart_items(state, T0 + 2 * DAY_MS) == 1


def test_a_late_add_from_before_a_removal_does_not_reopen_the_item():
    state = state_after(
        ev("cart_remove", T0 + 10, item_id="a"),
        ev("purchase", T0 + 20, item_id="b", price=1.0),
        ev("cart_add", T0, item_id="a", price=3.0),
        ev("cart_add", T0 + 5, item_id="b", price=1.0),
    )
    assert cart_items(state, T0 + 20) == 0


def test_adding_again_after_buying_reopens_the_item():
    state = state_after(
        ev("cart_add", T0, item_id="a", price=3.0),
        ev("purchase", T0 + 1, item_id="a", price=3.0),
        ev("cart_add", T0 + 2, item_id="a", price=2.5),
    )
    assert cart_value(state, T0 + 2) == 2.5


def test_cart_keeps_a_bounded_number_of_lines_newest_first():
    state = state_after(
        *(ev("cart_add", T0 + i, item_id=f"i{i}", price=1.0) for i in range(40))
    )
    assert len(state.cart) == 16
    assert {line[0] for line in state.cart} == {f"i{i}" for i in range(24, 40)}


def test_the_cart_forgets_items_after_thirty_days():
    state = state_after(ev("cart_add", T0, item_id="a", price=3.0))
    assert abandoned_cart_items(state, T0 + 30 * DAY_MS - 1) == 1
    assert abandoned_cart_items(state, T0 + 30 * DAY_MS) == 0


# -- category affinity ------------------------------------------------------------


def test_category_weight_halves_every_half_life():
    state = state_after(ev("view", T0, category_id="a"))
    assert top_categories(state, T0) == [("a", 1.0)]
    assert top_categories(state, T0 + 7 * DAY_MS) == [("a", pytest.approx(0.5))]
    assert top_categories(state, T0 + 14 * DAY_MS) == [("a", pytest.approx(0.25))]


def test_top_category_share_weighs_recent_events_more():
    state = state_after(
        ev("view", T0, category_id="a"), ev("view", T0 + 7 * DAY_MS, category_id="b")
    )
    at_ms = T0 + 7 * DAY_MS
    assert top_categories(state, at_ms) == [
        ("b", pytest.approx(1.0)), ("a", pytest.approx(0.5))
    ]
    named = feature_dict(state, at_ms)
    assert named["top_category_share"] == pytest.approx(1.0 / 1.5)
    assert named["log_category_activity"] == pytest.approx(math.log1p(1.5))


def test_a_new_category_replaces_the_lightest_and_inherits_its_weight():
    state = state_after(
        *(ev("view", T0, category_id=c) for c in ["a", "a", "b", "c"]), top_k=2
    )
    assert sorted(top_categories(state, T0)) == [("a", 2.0), ("c", 2.0)]


def test_affinity_weights_survive_a_rebase_to_a_newer_reference():
    half_life_ms = 1000
    state = state_after(
        ev("view", T0, category_id="a"),
        ev("view", T0 + 40_000, category_id="b"),
        half_life_ms=half_life_ms,
    )
    assert state.affinity_ref_ms == T0 + 40_000
    top = top_categories(state, T0 + 41_000, half_life_ms=half_life_ms)
    assert top == [("b", pytest.approx(0.5)), ("a", pytest.approx(2.0**-41))]


def test_refunds_and_events_without_category_leave_affinity_alone():
    state = state_after(ev("view", T0), ev("refund", T0, category_id="a", price=1.0))
    assert state.affinity == []
    assert feature_dict(state, T0)["top_category_share"] == 0.0


# -- price level ------------------------------------------------------------------


def test_price_level_of_viewed_and_bought_items():
    state = state_after(
        ev("view", T0, price=10.0), ev("view", T0 + 1, price=30.0), ev("view", T0 + 2),
        ev("purchase", T0 + 3, price=40.0, quantity=2),
    )
    named = feature_dict(state, T0 + 3)
    assert named["log_viewed_price_mean"] == pytest.approx(math.log1p(20.0))
    assert named["log_bought_price_mean"] == pytest.approx(math.log1p(40.0))
    assert named["log_price_ratio_bought_viewed"] == pytest.approx(math.log(2.0))


def test_price_ratio_is_zero_when_either_side_is_unknown_or_free():
    assert feature_dict(views(T0), T0)["log_price_ratio_bought_viewed"] == 0.0
    state = state_after(ev("view", T0, price=0.0), ev("purchase", T0, price=5.0))
    assert feature_dict(state, T0)["log_price_ratio_bought_viewed"] == 0.0


# -- the vector and the row -------------------------------------------------------


def test_feature_vector_follows_the_documented_order_and_event_time():
    state = state_after(ev("view", T0), ev("purchase", T0 + 60_000, price=5.0))
    later_ms = T0 + 60_000 + 3_600_000
    vector = feature_vector(state, later_ms)
    named = feature_dict(state, later_ms)
    assert vector.shape == (len(FEATURE_NAMES),) == (73,)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert list(named) == list(FEATURE_NAMES)
    assert np.isclose(named["log_recency_s"], np.log1p(3600.0))
    assert np.isclose(named["log_tenure_s"], np.log1p(3660.0))
    assert named["has_purchased"] == 1.0


def test_every_feature_is_finite_for_an_empty_and_a_heavy_user():
    assert np.all(np.isfinite(feature_vector(UserState("u"), T0)))
    heavy = heavy_state()
    for at_ms in (heavy.last_ts_ms, heavy.last_ts_ms + 400 * DAY_MS):
        vector = feature_vector(heavy, at_ms)
        assert np.all(np.isfinite(vector))


def test_a_heavy_user_keeps_bounded_state():
    heavy = heavy_state()
    assert all(
        len(rows) <= kept for rows, (_, kept) in zip(heavy.buckets, TIERS, strict=True)
    )
    assert len(heavy.cart) <= 16
    assert len(heavy.affinity) == 8
    assert len(heavy.recent_orders) == 8
    assert sum(heavy.counts) == heavy.n_events == 1000


def test_state_round_trips_through_its_serialised_form():
    heavy = heavy_state()
    copy = UserState.loads(heavy.dumps())
    assert copy.to_dict() == heavy.to_dict()
    assert feature_values(copy, heavy.last_ts_ms) == feature_values(
        heavy, heavy.last_ts_ms
    )


def test_a_version_1_row_loads_with_defaults_for_new_fields():
    old_row = {
        "user_id": "u", "partition": 3, "first_ts_ms": T0, "last_ts_ms": T0 + 5000,
        "prev_ts_ms": T0 + 1000, "counts": [3, 1, 0, 0, 0, 2, 0], "n_events": 6,
        "sessions": 2, "session_id": None, "session_start_ms": T0 + 4000,
        "session_events": 2, "session_bought": True, "purchase_sessions": 2,
        "purchases": 2, "monetary_total": 30.0, "last_purchase_ts_ms": T0 + 5000,
        "cart_value": 12.0, "recent_items": ["a"], "seen": {"e1": T0},
        "pending": [{"ts_ms": T0, "x": [0.0] * 19, "churn": None, "purchase": None}],
        "last_moment_ms": T0, "scored_session_end": False,
        "alert": {"episode": 1, "open": False}, "last_rec_ms": T0,
        "last_scores": {"ts_ms": T0, "churn": 0.2, "purchase": 0.4},
    }
    state = UserState.loads(orjson.dumps(old_row))
    assert state.partition == 3 and state.n_events == 6 and state.seen == {"e1": T0}
    assert state.alert == {"episode": 1, "open": False}
    assert state.pending == []  # vectors of the old layout cannot be learned from
    assert state.last_moment_ms == T0
    assert state.orders == 2 and state.recent_orders == [[T0 + 5000, None]]
    assert state.buckets == [[], [], []] and state.cart == []
    assert state.session_last_ms == T0 + 5000
    assert state.row_version == ROW_VERSION

    vector = feature_vector(state, T0 + 6000)
    assert vector.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(vector))
    apply_event(state, ev("purchase", T0 + DAY_MS, price=1.0), GAP_MS)
    assert state.orders == 3 and state.order_gap_count == 1


def test_rows_hold_plain_lists_of_numbers():
    state = state_after(ev("view", T0 - 2), ev("purchase", T0 - 1, price=2.0))
    row = orjson.loads(state.dumps())
    assert row[0] == ROW_VERSION and len(row) == 1 + len(ROW_FIELDS)
    field = dict(zip(ROW_FIELDS, row[1:], strict=True))
    assert field["buckets"][0] == [[(T0 - 1) // (5 * MINUTE_MS), 1, 0, 0, 0, 0, 1, 0]]
    assert field["recent_orders"] == [[T0 - 1, None]]


def test_a_version_2_row_reads_as_it_was_and_is_written_as_version_5():
    heavy = heavy_state()
    as_v2 = heavy.to_dict() | {"row_version": 2}
    del as_v2["offsets"]
    state = UserState.loads(orjson.dumps(as_v2))
    assert state.to_dict() == heavy.to_dict()
    assert orjson.loads(state.dumps())[0] == 5
    assert UserState.loads(state.dumps()).to_dict() == heavy.to_dict()


def test_a_version_4_row_reads_without_offsets_and_keeps_them_once_written():
    heavy = heavy_state()
    heavy.offsets = [812, 7]
    row = orjson.loads(heavy.dumps())
    assert row[-1] == [812, 7]
    state = UserState.loads(orjson.dumps([4, *row[1:-1]]))
    assert state.offsets == [-1, -1]
    assert state.to_dict() == heavy.to_dict() | {"offsets": [-1, -1]}
    assert UserState.loads(heavy.dumps()).offsets == [812, 7]


def test_a_version_3_row_with_vectors_as_numbers_is_read_and_learnable():
    heavy = heavy_state()
    x = feature_values(heavy, heavy.last_ts_ms)
    heavy.pending = [{"ts_ms": T0, "x": [round(v, 4) for v in x],
                      "churn": None, "purchase": None}]
    row = orjson.loads(heavy.dumps())
    row = [3, *row[1:-1]]  # version 3 had no offsets
    state = UserState.loads(orjson.dumps(row))
    assert state.row_version == ROW_VERSION
    assert state.pending == heavy.pending
    assert prepare(state.pending[0]["x"]).values == pytest.approx(x, abs=1e-4)


@pytest.mark.parametrize(
    "row", [[6, "u"], [5, "u"], [4, "u"], [3, "u"], [], "u", 7], ids=repr
)
def test_a_row_of_an_unknown_version_or_shape_is_refused(row):
    with pytest.raises(ValueError, match="not a user row of version 5 or older"):
        UserState.loads(orjson.dumps(row))


def test_the_documented_columns_are_the_vector_in_order():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", doc, flags=re.MULTILINE)
    assert [(int(i), name) for i, name in rows] == list(enumerate(FEATURE_NAMES))
