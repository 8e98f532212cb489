"""Per-user state and the feature vector computed from it, in event time.

A :class:`UserState` is what the worker keeps per user in its changelog-backed
table. :func:`apply_event` folds one normalised event into it; :func:`feature_vector`
turns it into numbers at a given event time, in the order of :data:`FEATURE_NAMES`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

EVENT_TYPES = (
    "view",
    "cart_add",
    "cart_remove",
    "favorite",
    "checkout",
    "purchase",
    "refund",
)
TYPE_INDEX = {name: i for i, name in enumerate(EVENT_TYPES)}
RECENT_ITEMS = 10

# The fixed column order of the feature vector. Counts, money and durations enter
# through log1p so that a wholesaler and a casual visitor stay on one scale.
FEATURE_NAMES = (
    "log_tenure_s",
    "log_recency_s",
    "log_prev_gap_s",
    "log_mean_gap_s",
    "log_events",
    *(f"log_n_{name}" for name in EVENT_TYPES),
    "log_sessions",
    "session_events",
    "events_per_session",
    "purchase_session_share",
    "has_purchased",
    "log_since_purchase_s",
    "log_monetary_total",
    "log_monetary_mean",
    "log_cart_value",
)


class UserState:
    """Everything the worker remembers about one user.

    Times are epoch milliseconds of event time. ``seen`` maps recent event ids to
    their event times and makes re-delivered events harmless.
    """

    __slots__ = (
        "user_id", "partition", "first_ts_ms", "last_ts_ms", "prev_ts_ms",
        "counts", "n_events", "sessions", "session_id", "session_start_ms",
        "session_events", "session_bought", "purchase_sessions", "purchases",
        "monetary_total", "last_purchase_ts_ms", "cart_value", "recent_items",
        "seen", "pending", "last_moment_ms", "scored_session_end", "alert",
        "last_rec_ms", "last_scores",
    )

    def __init__(self, user_id: str, partition: int = 0) -> None:
        self.user_id = user_id
        self.partition = partition
        self.first_ts_ms = 0
        self.last_ts_ms = 0
        self.prev_ts_ms = 0
        self.counts = [0] * len(EVENT_TYPES)
        self.n_events = 0
        self.sessions = 0
        self.session_id: str | None = None
        self.session_start_ms = 0
        self.session_events = 0
        self.session_bought = False
        self.purchase_sessions = 0
        self.purchases = 0
        self.monetary_total = 0.0
        self.last_purchase_ts_ms = 0
        self.cart_value = 0.0
        self.recent_items: list[str] = []
        self.seen: dict[str, int] = {}
        # Scoring moments waiting for their labels: dicts with ts_ms, x, churn, buy.
        self.pending: list[dict[str, Any]] = []
        self.last_moment_ms = 0
        self.scored_session_end = False
        # Open churn-alert episode: {"episode": n, "open": bool, "ts_ms": ...}.
        self.alert: dict[str, Any] = {"episode": 0, "open": False}
        self.last_rec_ms = 0
        self.last_scores: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        state = cls(data["user_id"], data.get("partition", 0))
        for name in cls.__slots__:
            if name in data:
                setattr(state, name, data[name])
        return state

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def loads(cls, raw: bytes) -> UserState:
        return cls.from_dict(orjson.loads(raw))


def is_duplicate(
    state: UserState, event_id: str, event_ts_ms: int, window_ms: int, max_ids: int
) -> bool:
    """Tell whether the event was applied already; remember it if not.

    Ids of events within ``window_ms`` of the user's newest event are kept, at most
    ``max_ids`` of them, oldest forgotten first.
    """
    seen = state.seen
    if event_id in seen:
        return True
    seen[event_id] = event_ts_ms

    horizon_ms = max(state.last_ts_ms, event_ts_ms) - window_ms
    while len(seen) > max_ids:
        del seen[next(iter(seen))]
    if len(seen) > 64:
        oldest = next(iter(seen))
        if seen[oldest] < horizon_ms:
            state.seen = {k: t for k, t in seen.items() if t >= horizon_ms}
    return False


def apply_event(state: UserState, event: dict[str, Any], session_gap_ms: int) -> bool:
    """Fold one normalised event into the state. Return True if a session began.

    Events may arrive out of order within a user; counts and money are order-free,
    and recency only ever moves forward.
    """
    ts_ms = event["event_ts_ms"]
    kind = event["event_type"]

    if state.n_events == 0:
        state.first_ts_ms = ts_ms
    elif ts_ms < state.first_ts_ms:
        state.first_ts_ms = ts_ms
    state.n_events += 1
    state.counts[TYPE_INDEX[kind]] += 1

    # A session id in the event wins; without one, a gap longer than the session gap
    # starts a new session.
    session_id = event.get("session_id")
    if state.sessions == 0:
        new_session = True
    elif session_id is not None:
        new_session = session_id != state.session_id
    else:
        new_session = ts_ms - state.last_ts_ms > session_gap_ms
    if new_session:
        state.sessions += 1
        state.session_id = session_id
        state.session_start_ms = ts_ms
        state.session_events = 0
        state.session_bought = False
        state.scored_session_end = False
    state.session_events += 1

    value = (event.get("price") or 0.0) * (event.get("quantity") or 1)
    if kind == "purchase":
        state.purchases += 1
        state.monetary_total += value
        state.last_purchase_ts_ms = max(state.last_purchase_ts_ms, ts_ms)
        state.cart_value = 0.0
        if not state.session_bought:
            state.session_bought = True
            state.purchase_sessions += 1
    elif kind == "refund":
        state.monetary_total = max(0.0, state.monetary_total - value)
    elif kind == "cart_add":
        state.cart_value += value
    elif kind == "cart_remove":
        state.cart_value = max(0.0, state.cart_value - value)

    item_id = event.get("item_id")
    if item_id is not None and kind != "refund":
        items = state.recent_items
        if item_id in items:
            items.remove(item_id)
        items.append(item_id)
        if len(items) > RECENT_ITEMS:
            del items[0]

    if ts_ms >= state.last_ts_ms:
        state.prev_ts_ms = state.last_ts_ms or ts_ms
        state.last_ts_ms = ts_ms
    return new_session


def feature_vector(state: UserState, at_ms: int) -> np.ndarray:
    """The user's features at event time ``at_ms``, ordered as FEATURE_NAMES."""
    return np.array(feature_values(state, at_ms), dtype=np.float64)


def feature_dict(state: UserState, at_ms: int) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, feature_values(state, at_ms), strict=True))


def feature_values(state: UserState, at_ms: int) -> list[float]:
    at_ms = max(at_ms, state.last_ts_ms)
    n = state.n_events
    span_s = (state.last_ts_ms - state.first_ts_ms) / 1000.0
    mean_gap_s = span_s / (n - 1) if n > 1 else 0.0
    sessions = max(state.sessions, 1)
    since_purchase_s = (
        (at_ms - state.last_purchase_ts_ms) / 1000.0 if state.purchases else 0.0
    )
    values = [
        _log_s(at_ms - state.first_ts_ms),
        _log_s(at_ms - state.last_ts_ms),
        _log_s(state.last_ts_ms - state.prev_ts_ms),
        math.log1p(mean_gap_s),
        math.log1p(n),
        *(math.log1p(c) for c in state.counts),
        math.log1p(state.sessions),
        float(state.session_events),
        n / sessions,
        state.purchase_sessions / sessions,
        1.0 if state.purchases else 0.0,
        math.log1p(since_purchase_s),
        math.log1p(state.monetary_total),
        math.log1p(state.monetary_total / state.purchases if state.purchases else 0.0),
        math.log1p(state.cart_value),
    ]
    return values


def _log_s(duration_ms: int) -> float:
    return math.log1p(max(duration_ms, 0) / 1000.0)
