"""Folding one event into a user's row: de-duplication, then every part's update."""

from __future__ import annotations

from typing import Any

from models.features.affinity import (
    AFFINITY_HALF_LIFE_MS,
    AFFINITY_TOP_K,
    fold_affinity,
)
from models.features.cart import CART_KINDS, fold_cart
from models.features.orders import fold_purchase
from models.features.schema import TYPE_INDEX
from models.features.sessions import fold_session
from models.features.state import UserState
from models.features.windows import count_event

RECENT_ITEMS = 10


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


def apply_event(
    state: UserState,
    event: dict[str, Any],
    session_gap_ms: int,
    half_life_ms: int = AFFINITY_HALF_LIFE_MS,
    top_k: int = AFFINITY_TOP_K,
) -> bool:
    """Fold one normalised event into the state. Return True if a session began.

    Events may arrive out of order within a user: counts land in their own buckets,
    sums are order-free, and recency only ever moves forward.
    """
    ts_ms = event["event_ts_ms"]
    kind = event["event_type"]
    type_index = TYPE_INDEX[kind]
    newest_ms = ts_ms if ts_ms > state.last_ts_ms else state.last_ts_ms

    if state.n_events == 0 or ts_ms < state.first_ts_ms:
        state.first_ts_ms = ts_ms
    state.n_events += 1
    state.counts[type_index] += 1
    count_event(state.buckets, ts_ms, newest_ms, type_index)

    in_session, new_session = fold_session(
        state, ts_ms, event.get("session_id"), session_gap_ms
    )

    price = event.get("price")
    value = (price or 0.0) * (event.get("quantity") or 1)
    item_id = event.get("item_id")
    if kind == "purchase":
        fold_purchase(state, ts_ms, event.get("order_id"), value)
        if in_session and not state.session_bought:
            state.session_bought = True
            state.purchase_sessions += 1
        if price is not None:
            state.bought_price_sum += price
            state.bought_priced += 1
    elif kind == "refund":
        state.monetary_total = max(0.0, state.monetary_total - value)
    elif kind == "view" and price is not None:
        state.viewed_price_sum += price
        state.viewed_priced += 1
    if kind in CART_KINDS:
        fold_cart(state.cart, kind, ts_ms, item_id, value, newest_ms)

    category_id = event.get("category_id")
    if category_id is not None and kind != "refund":
        fold_affinity(state, ts_ms, category_id, half_life_ms, top_k)

    if item_id is not None and kind != "refund":
        items = state.recent_items
        if item_id in items:
            items.remove(item_id)
        items.append(item_id)
        if len(items) > RECENT_ITEMS:
            del items[0]

    # The previous gap is between the two newest event times, in any arrival order;
    # with one event, prev_ts_ms held that event's time only as a placeholder.
    if ts_ms >= state.last_ts_ms:
        state.prev_ts_ms = state.last_ts_ms or ts_ms
        state.last_ts_ms = ts_ms
    elif ts_ms > state.prev_ts_ms or state.n_events == 2:
        state.prev_ts_ms = ts_ms
    return new_session
