"""Orders: purchase lines grouped into orders, and the gaps between orders."""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.features.state import UserState

# Orders whose times are kept, so a late purchase finds its neighbours.
RECENT_ORDERS = 8


def fold_purchase(
    state: UserState, ts_ms: int, order_id: str | None, value: float
) -> None:
    """Count a purchase line and the order it belongs to.

    A line joins a recent order with its order id or its event time; otherwise it
    makes a new order, and the gaps between orders are updated.
    """
    state.purchases += 1
    state.monetary_total += value
    if ts_ms > state.last_purchase_ts_ms:
        state.last_purchase_ts_ms = ts_ms

    orders = state.recent_orders
    for entry in reversed(orders):
        if entry[0] == ts_ms or (order_id is not None and entry[1] == order_id):
            if entry is orders[-1]:
                state.last_order_value += value
            return
    state.orders += 1
    entry = [ts_ms, order_id]
    if not orders or ts_ms > orders[-1][0]:
        if orders:
            _gap_add(state, (ts_ms - orders[-1][0]) / 1000.0)
        orders.append(entry)
        state.last_order_value = value
    else:
        # A late order splits the gap between its neighbours in two.
        pos = bisect.bisect_left([o[0] for o in orders], ts_ms)
        if pos > 0:
            before_ms, after_ms = orders[pos - 1][0], orders[pos][0]
            _gap_remove(state, (after_ms - before_ms) / 1000.0)
            _gap_add(state, (ts_ms - before_ms) / 1000.0)
            _gap_add(state, (after_ms - ts_ms) / 1000.0)
        elif len(orders) == state.orders - 1:
            _gap_add(state, (orders[0][0] - ts_ms) / 1000.0)
        # Known gap: when the order before it was forgotten (8 newer orders came
        # first), its gaps are unknown and the statistics skip it. Such lateness is
        # far beyond any sane grace, so it stays; keeping every order time would
        # remove it at the cost of unbounded rows.
        orders.insert(pos, entry)
    if len(orders) > RECENT_ORDERS:
        del orders[0]


def _gap_add(state: UserState, gap_s: float) -> None:
    """Welford's update with one more gap."""
    state.order_gap_count += 1
    delta_s = gap_s - state.order_gap_mean_s
    state.order_gap_mean_s += delta_s / state.order_gap_count
    state.order_gap_m2_s2 += delta_s * (gap_s - state.order_gap_mean_s)


def _gap_remove(state: UserState, gap_s: float) -> None:
    """Welford's update run backwards: forget one gap counted before."""
    n = state.order_gap_count - 1
    if n <= 0:
        state.order_gap_count = 0
        state.order_gap_mean_s = state.order_gap_m2_s2 = 0.0
        return
    old_mean_s = state.order_gap_mean_s
    new_mean_s = (old_mean_s * (n + 1) - gap_s) / n
    m2_s2 = state.order_gap_m2_s2 - (gap_s - new_mean_s) * (gap_s - old_mean_s)
    state.order_gap_count = n
    state.order_gap_mean_s = new_mean_s
    state.order_gap_m2_s2 = max(0.0, m2_s2)


def gap_std_s(state: UserState) -> float:
    """Population standard deviation of the gaps between orders, in seconds."""
    if state.order_gap_count < 2:
        return 0.0
    return math.sqrt(max(state.order_gap_m2_s2, 0.0) / state.order_gap_count)


def orders_since(state: UserState, since_ms: int, at_ms: int) -> int:
    """Kept orders with a time in ``(since_ms, at_ms]``: at most RECENT_ORDERS.

    A purchase log's strongest sign of a coming order is how many came lately;
    the kept order times answer that without another field in the row, exactly
    up to RECENT_ORDERS orders in the window.
    """
    count = 0
    for entry in reversed(state.recent_orders):
        ts_ms = entry[0]
        if ts_ms <= since_ms:
            break
        if ts_ms <= at_ms:
            count += 1
    return count
