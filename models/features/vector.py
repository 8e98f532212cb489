"""The feature vector: a user's row read as numbers at an event time."""

from __future__ import annotations

import math

import numpy as np

from models.features.affinity import AFFINITY_HALF_LIFE_MS, decay
from models.features.cart import ABANDON_AFTER_MS, CART_MEMORY_MS
from models.features.orders import gap_std_s, orders_since
from models.features.schema import DAY_MS, EVENT_TYPES
from models.features.state import UserState
from models.features.windows import WINDOWS, feature_window_counts

# The fixed column order of the feature vector. Counts, money and durations enter
# through log1p so that a wholesaler and a casual visitor stay on one scale.
FEATURE_NAMES = (
    "log_tenure_s",
    "log_recency_s",
    "log_prev_gap_s",
    "log_mean_gap_s",
    "log_since_purchase_s",
    "log_events",
    *(f"log_n_{kind}" for kind in EVENT_TYPES),
    *(
        name
        for window, _ in WINDOWS
        for name in (
            f"log_events_{window}",
            *(f"log_n_{kind}_{window}" for kind in EVENT_TYPES),
        )
    ),
    "trend_24h_7d",
    "trend_7d_30d",
    "log_sessions",
    "log_session_events",
    "log_events_per_session",
    "log_mean_session_s",
    "purchase_session_share",
    "has_purchased",
    "log_orders",
    "log_monetary_total",
    "log_order_value_mean",
    "log_order_value_last",
    "log_order_gap_mean_s",
    "log_order_gap_std_s",
    "log_cart_value",
    "log_cart_items",
    "log_abandoned_cart_items",
    "top_category_share",
    "log_category_activity",
    "log_viewed_price_mean",
    "log_bought_price_mean",
    "log_price_ratio_bought_viewed",
    # Added with the purchase-log work (issue 4): the order history in the terms
    # of RFM and BG/NBD, over the spans a purchase horizon is measured in.
    "log_orders_90d",
    "log_orders_365d",
    "log_order_rate_30d",
    "log_silence_per_order_gap",
    "log_first_to_last_order_s",
    "log_orders_year_ago_90d",
)
# Tenure below a day counts as a day in the order rate: a first-day buyer's rate is
# one order a day, not thousands.
MIN_RATE_SPAN_MS = DAY_MS


def feature_vector(
    state: UserState,
    at_ms: int,
    abandon_after_ms: int = ABANDON_AFTER_MS,
    half_life_ms: int = AFFINITY_HALF_LIFE_MS,
) -> np.ndarray:
    """The user's features at event time ``at_ms``, ordered as FEATURE_NAMES."""
    values = feature_values(state, at_ms, abandon_after_ms, half_life_ms)
    return np.array(values, dtype=np.float64)


def feature_dict(
    state: UserState,
    at_ms: int,
    abandon_after_ms: int = ABANDON_AFTER_MS,
    half_life_ms: int = AFFINITY_HALF_LIFE_MS,
) -> dict[str, float]:
    values = feature_values(state, at_ms, abandon_after_ms, half_life_ms)
    return dict(zip(FEATURE_NAMES, values, strict=True))


def feature_values(
    state: UserState,
    at_ms: int,
    abandon_after_ms: int = ABANDON_AFTER_MS,
    half_life_ms: int = AFFINITY_HALF_LIFE_MS,
) -> list[float]:
    """The user's features at event time ``at_ms`` as a list, FEATURE_NAMES order.

    It runs at every scoring moment, so the parts are inlined here and each one
    reads the row once; docs/features.md defines the columns, and the expressions
    are kept as written there, so the values are the same to the last bit.
    """
    log1p = math.log1p
    last_ms = state.last_ts_ms
    at_ms = max(at_ms, last_ms)

    # Recency, tenure and totals.
    n = state.n_events
    span_s = (last_ms - state.first_ts_ms) / 1000.0
    since_purchase_s = (
        (at_ms - state.last_purchase_ts_ms) / 1000.0 if state.purchases else 0.0
    )
    values = [
        log1p(max(at_ms - state.first_ts_ms, 0) / 1000.0),
        log1p(max(at_ms - last_ms, 0) / 1000.0),
        log1p(max(last_ms - state.prev_ts_ms, 0) / 1000.0),
        log1p(span_s / (n - 1) if n > 1 else 0.0),
        log1p(since_purchase_s),
        log1p(n),
    ]
    values += map(log1p, state.counts)

    # Windows: a total, then a count per type, each; then the two trends.
    totals = []
    for counts in feature_window_counts(state.buckets, at_ms):
        total = sum(counts)
        totals.append(total)
        values.append(log1p(total))
        values += map(log1p, counts)
    _, n_24h, n_7d, n_30d = totals
    values.append(7.0 * n_24h / n_7d if n_7d else 0.0)
    values.append(30.0 / 7.0 * n_7d / n_30d if n_30d else 0.0)

    # Sessions.
    sessions = max(state.sessions, 1)
    session_ms = state.session_total_ms + state.session_last_ms - state.session_start_ms
    values += [
        log1p(state.sessions),
        log1p(state.session_events),
        log1p(n / sessions),
        log1p(max(session_ms / sessions, 0) / 1000.0),
        state.purchase_sessions / sessions,
    ]

    # Orders and money.
    orders = state.orders
    monetary_total = state.monetary_total
    values += [
        1.0 if state.purchases else 0.0,
        log1p(orders),
        log1p(monetary_total),
        log1p(monetary_total / orders if orders else 0.0),
        log1p(state.last_order_value),
        log1p(state.order_gap_mean_s),
        log1p(gap_std_s(state)),
    ]

    # Cart: value and items of the open lines, and those left too long, in one
    # pass. Sums run in line order, as cart_value's does.
    cart_value: float = 0
    cart_items = abandoned = 0
    if state.cart:
        since_ms = at_ms - CART_MEMORY_MS
        abandoned_by_ms = at_ms - abandon_after_ms
        for line in state.cart:
            added_ms = line[1]
            if line[2] < added_ms and since_ms < added_ms:
                if added_ms <= at_ms:
                    cart_value += line[3]
                    cart_items += 1
                if added_ms <= abandoned_by_ms:
                    abandoned += 1
    values += [log1p(cart_value), log1p(cart_items), log1p(abandoned)]

    # Category affinity.
    if state.affinity:
        weights = [entry[1] for entry in state.affinity]
        total_weight = sum(weights)
        values += [
            max(weights) / total_weight if total_weight > 0.0 else 0.0,
            log1p(total_weight * decay(state, at_ms, half_life_ms)),
        ]
    else:
        values += [0.0, 0.0]

    # Price levels.
    viewed_mean = (
        state.viewed_price_sum / state.viewed_priced if state.viewed_priced else 0.0
    )
    bought_mean = (
        state.bought_price_sum / state.bought_priced if state.bought_priced else 0.0
    )
    ratio = (
        math.log(bought_mean / viewed_mean)
        if viewed_mean > 0.0 and bought_mean > 0.0 else 0.0
    )
    values += [log1p(viewed_mean), log1p(bought_mean), ratio]

    # Order history. The silence since the newest order is read against the
    # user's own mean gap between orders: 3 months mean little to a buyer of
    # every 6 months, much to a monthly one.
    if orders:
        rate_span_ms = max(at_ms - state.first_ts_ms, MIN_RATE_SPAN_MS)
        rate_30d = orders * 30.0 * DAY_MS / rate_span_ms
        first_to_last_s = max(state.last_purchase_ts_ms - state.first_ts_ms, 0)
        first_to_last_s /= 1000.0
    else:
        rate_30d = first_to_last_s = 0.0
    gap_mean_s = state.order_gap_mean_s
    silence_per_gap = (
        since_purchase_s / gap_mean_s
        if state.order_gap_count and gap_mean_s > 0.0 else 0.0
    )
    values += [
        log1p(orders_since(state, at_ms - 90 * DAY_MS, at_ms)),
        log1p(orders_since(state, at_ms - 365 * DAY_MS, at_ms)),
        log1p(rate_30d),
        log1p(silence_per_gap),
        log1p(first_to_last_s),
        # The quarter ahead, a year ago: shops have seasons.
        log1p(orders_since(state, at_ms - 365 * DAY_MS, at_ms - 275 * DAY_MS)),
    ]
    return values
