"""The feature vector: a user's row read as numbers at an event time."""

from __future__ import annotations

import math

import numpy as np

from models.features.affinity import AFFINITY_HALF_LIFE_MS, decay
from models.features.cart import (
    ABANDON_AFTER_MS,
    abandoned_cart_items,
    cart_items,
    cart_value,
)
from models.features.orders import gap_std_s
from models.features.schema import EVENT_TYPES
from models.features.state import UserState
from models.features.windows import WINDOWS, window_counts

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
)


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
    """The user's features at event time ``at_ms`` as a list, FEATURE_NAMES order."""
    log1p = math.log1p
    at_ms = max(at_ms, state.last_ts_ms)

    n = state.n_events
    span_s = (state.last_ts_ms - state.first_ts_ms) / 1000.0
    since_purchase_s = (
        (at_ms - state.last_purchase_ts_ms) / 1000.0 if state.purchases else 0.0
    )
    values = [
        _log_s(at_ms - state.first_ts_ms),
        _log_s(at_ms - state.last_ts_ms),
        _log_s(state.last_ts_ms - state.prev_ts_ms),
        log1p(span_s / (n - 1) if n > 1 else 0.0),
        log1p(since_purchase_s),
        log1p(n),
        *(log1p(c) for c in state.counts),
    ]

    totals = []
    for _, window_ms in WINDOWS:
        counts = window_counts(state, at_ms, window_ms)
        totals.append(sum(counts))
        values.append(log1p(totals[-1]))
        values.extend(log1p(c) for c in counts)
    _, n_24h, n_7d, n_30d = totals
    values.append(7.0 * n_24h / n_7d if n_7d else 0.0)
    values.append(30.0 / 7.0 * n_7d / n_30d if n_30d else 0.0)

    sessions = max(state.sessions, 1)
    session_ms = state.session_total_ms + state.session_last_ms - state.session_start_ms
    values += [
        log1p(state.sessions),
        log1p(state.session_events),
        log1p(n / sessions),
        _log_s(session_ms / sessions),
        state.purchase_sessions / sessions,
    ]

    orders = state.orders
    values += [
        1.0 if state.purchases else 0.0,
        log1p(orders),
        log1p(state.monetary_total),
        log1p(state.monetary_total / orders if orders else 0.0),
        log1p(state.last_order_value),
        log1p(state.order_gap_mean_s),
        log1p(gap_std_s(state)),
        log1p(cart_value(state, at_ms)),
        log1p(cart_items(state, at_ms)),
        log1p(abandoned_cart_items(state, at_ms, abandon_after_ms)),
    ]

    weights = [entry[1] for entry in state.affinity]
    total_weight = sum(weights)
    values += [
        max(weights) / total_weight if total_weight > 0.0 else 0.0,
        log1p(total_weight * decay(state, at_ms, half_life_ms)),
    ]

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
    return values


def _log_s(duration_ms: float) -> float:
    return math.log1p(max(duration_ms, 0) / 1000.0)
