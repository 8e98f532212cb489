"""Per-user state and the feature vector computed from it, in event time.

A :class:`UserState` is what the worker keeps per user in its changelog-backed
table. :func:`apply_event` folds one normalised event into it; :func:`feature_vector`
turns it into numbers at a given event time, in the order of :data:`FEATURE_NAMES`.
Every part of the state is bounded per user; docs/features.md defines each column.
"""

from __future__ import annotations

import bisect
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
N_TYPES = len(EVENT_TYPES)
RECENT_ITEMS = 10

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Bucketed counts per event type, as (bucket width, buckets kept). Bucket i holds
# events in (i * width, (i + 1) * width], so a window ending on an edge is exact.
TIERS = ((5 * MINUTE_MS, 12), (HOUR_MS, 24), (DAY_MS, 30))
# The sliding windows of the feature vector, by name.
WINDOWS = (("1h", HOUR_MS), ("24h", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS))

# Orders whose times are kept, so a late purchase finds its neighbours.
RECENT_ORDERS = 8

# Cart lines are [item_id, add_ts_ms, close_ts_ms, value]; open while added after
# their last close. Closed lines are kept a while so that a late add of an item
# already bought or removed does not reopen it.
CART_LINES = 16
CART_KINDS = frozenset({"cart_add", "cart_remove", "purchase"})
CART_MEMORY_MS = 30 * DAY_MS
CART_CLOSED_KEEP_MS = DAY_MS
ABANDON_AFTER_MS = 24 * HOUR_MS

AFFINITY_HALF_LIFE_MS = 7 * DAY_MS
AFFINITY_TOP_K = 8
# Affinity weights are stored relative to a reference time; past this many
# half-lives they are rescaled to a newer one before they can overflow.
AFFINITY_REBASE_HALF_LIVES = 32.0

# Version 2 added windows, orders, cart lines, affinity and prices, and changed the
# vector layout, so version 1 rows are upgraded when read.
ROW_VERSION = 2

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


class UserState:
    """Everything the worker remembers about one user.

    Times are epoch milliseconds of event time. ``seen`` maps recent event ids to
    their event times and makes re-delivered events harmless.
    """

    __slots__ = (
        "user_id", "partition", "first_ts_ms", "last_ts_ms", "prev_ts_ms",
        "counts", "n_events", "sessions", "session_id", "session_start_ms",
        "session_events", "session_bought", "purchase_sessions", "purchases",
        "monetary_total", "last_purchase_ts_ms", "recent_items",
        "seen", "pending", "last_moment_ms", "scored_session_end", "alert",
        "last_rec_ms", "last_scores",
        # Added in row version 2.
        "row_version", "buckets", "session_last_ms", "session_total_ms",
        "orders", "recent_orders", "last_order_value", "order_gap_count",
        "order_gap_mean_s", "order_gap_m2_s2", "cart", "affinity",
        "affinity_ref_ms", "viewed_price_sum", "viewed_priced",
        "bought_price_sum", "bought_priced",
    )

    def __init__(self, user_id: str, partition: int = 0) -> None:
        self.user_id = user_id
        self.partition = partition
        self.first_ts_ms = 0
        self.last_ts_ms = 0
        self.prev_ts_ms = 0
        self.counts = [0] * N_TYPES
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

        self.row_version = ROW_VERSION
        # Per tier of TIERS, rows [bucket index, count per event type...], oldest
        # first.
        self.buckets: list[list[list[int]]] = [[] for _ in TIERS]
        self.session_last_ms = 0
        # Summed length of the sessions before the current one.
        self.session_total_ms = 0
        self.orders = 0
        # [ts_ms, order_id] of the latest orders, oldest first.
        self.recent_orders: list[list[Any]] = []
        self.last_order_value = 0.0
        # Welford's running count, mean and sum of squared deviations of the time
        # between consecutive orders, in seconds.
        self.order_gap_count = 0
        self.order_gap_mean_s = 0.0
        self.order_gap_m2_s2 = 0.0
        self.cart: list[list[Any]] = []
        # [category_id, weight]: weights are decayed to affinity_ref_ms.
        self.affinity: list[list[Any]] = []
        self.affinity_ref_ms = 0
        self.viewed_price_sum = 0.0
        self.viewed_priced = 0
        self.bought_price_sum = 0.0
        self.bought_priced = 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        state = cls(data["user_id"], data.get("partition", 0))
        for name in cls.__slots__:
            if name in data:
                setattr(state, name, data[name])
        if data.get("row_version", 1) < 2:
            _upgrade_from_v1(state)
        return state

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def loads(cls, raw: bytes) -> UserState:
        return cls.from_dict(orjson.loads(raw))


def _upgrade_from_v1(state: UserState) -> None:
    """Fill what a version 1 row lacks from what it has."""
    # Pending vectors have the old layout: a model fed them would fail on length.
    state.pending = []
    state.session_last_ms = state.last_ts_ms

    # Version 1 counted purchase lines only; a session with a purchase is the
    # closest thing it kept to an order.
    state.orders = state.purchase_sessions
    if state.purchases:
        state.recent_orders = [[state.last_purchase_ts_ms, None]]
    state.row_version = ROW_VERSION


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
    for (width_ms, kept), rows in zip(TIERS, state.buckets, strict=True):
        floor = (newest_ms - 1) // width_ms - kept
        _count(rows, (ts_ms - 1) // width_ms, floor, type_index + 1)

    in_session, new_session = _fold_session(
        state, ts_ms, event.get("session_id"), session_gap_ms
    )

    price = event.get("price")
    value = (price or 0.0) * (event.get("quantity") or 1)
    item_id = event.get("item_id")
    if kind == "purchase":
        _fold_purchase(state, ts_ms, event.get("order_id"), value)
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
        _fold_cart(state.cart, kind, ts_ms, item_id, value, newest_ms)

    category_id = event.get("category_id")
    if category_id is not None and kind != "refund":
        _fold_affinity(state, ts_ms, category_id, half_life_ms, top_k)

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


def _count(rows: list[list[int]], index: int, floor: int, column: int) -> None:
    """Add one to ``column`` of bucket ``index``; buckets <= ``floor`` are gone."""
    if index <= floor:
        # Older than every window this tier answers: nothing to count.
        return
    if rows and rows[-1][0] == index:
        rows[-1][column] += 1
        return

    row = [index] + [0] * N_TYPES
    row[column] = 1
    if not rows or rows[-1][0] < index:
        rows.append(row)
        while rows[0][0] <= floor:
            del rows[0]
        return

    # A late event: its bucket is found, or made, from the newest end.
    pos = len(rows) - 1
    while pos >= 0 and rows[pos][0] > index:
        pos -= 1
    if pos >= 0 and rows[pos][0] == index:
        rows[pos][column] += 1
    else:
        rows.insert(pos + 1, row)


def _fold_session(
    state: UserState, ts_ms: int, session_id: str | None, gap_ms: int
) -> tuple[bool, bool]:
    """Place the event in a session; return (in the current session, new session).

    A session id in the event wins; without one, a gap longer than the session gap
    starts a new session. A late event that belongs to an earlier session counts as
    an event but changes no session figure.
    """
    if state.sessions == 0:
        new, earlier = True, False
    elif session_id is not None:
        new = session_id != state.session_id and ts_ms >= state.session_start_ms
        earlier = session_id != state.session_id and not new
    else:
        new = ts_ms - state.last_ts_ms > gap_ms
        earlier = ts_ms < state.session_start_ms - gap_ms
    if earlier:
        return False, False

    if new:
        if state.sessions:
            state.session_total_ms += state.session_last_ms - state.session_start_ms
        state.sessions += 1
        state.session_id = session_id
        state.session_start_ms = state.session_last_ms = ts_ms
        state.session_events = 0
        state.session_bought = False
        state.scored_session_end = False
    elif ts_ms < state.session_start_ms:
        state.session_start_ms = ts_ms
    elif ts_ms > state.session_last_ms:
        state.session_last_ms = ts_ms
    state.session_events += 1
    return True, new


def _fold_purchase(
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


def _fold_cart(
    lines: list[list[Any]],
    kind: str,
    ts_ms: int,
    item_id: str | None,
    value: float,
    newest_ms: int,
) -> None:
    """Open or close cart lines; each keeps its latest add and latest close."""
    # A purchase without an item is taken to check out the whole cart.
    if kind == "purchase" and item_id is None:
        for line in lines:
            if line[2] < ts_ms:
                line[2] = ts_ms
        return

    key = item_id or ""
    for line in lines:
        if line[0] == key:
            break
    else:
        if kind == "cart_add":
            lines.append([key, ts_ms, 0, value])
        else:
            lines.append([key, 0, ts_ms, 0.0])
        _trim_cart(lines, newest_ms)
        return

    if kind != "cart_add":
        if ts_ms > line[2]:
            line[2] = ts_ms
    elif ts_ms >= line[1]:
        line[1] = ts_ms
        line[3] = value


def _trim_cart(lines: list[list[Any]], newest_ms: int) -> None:
    """Forget stale lines, then the least recent ones beyond CART_LINES."""
    open_after_ms = newest_ms - CART_MEMORY_MS
    closed_after_ms = newest_ms - CART_CLOSED_KEEP_MS
    lines[:] = [
        line
        for line in lines
        if (line[2] < line[1] and line[1] > open_after_ms) or line[2] > closed_after_ms
    ]
    while len(lines) > CART_LINES:
        # Closed lines go first, then the line touched longest ago.
        lines.remove(min(lines, key=lambda line: (line[2] < line[1], max(line[1:3]))))


def _fold_affinity(
    state: UserState, ts_ms: int, category_id: str, half_life_ms: int, top_k: int
) -> None:
    """Add one event's decayed weight to its category; keep the top_k heaviest.

    Space-saving: a new category takes the place of the lightest one and inherits
    its weight, so weights sum to the total and a frequent category is never lost.
    """
    entries = state.affinity
    if not entries:
        state.affinity_ref_ms = ts_ms
    exponent = (ts_ms - state.affinity_ref_ms) / half_life_ms
    if exponent > AFFINITY_REBASE_HALF_LIVES:
        scale = 2.0 ** -exponent
        for entry in entries:
            entry[1] *= scale
        state.affinity_ref_ms = ts_ms
        exponent = 0.0
    weight = 2.0 ** exponent

    for entry in entries:
        if entry[0] == category_id:
            entry[1] += weight
            return
    if len(entries) < top_k:
        entries.append([category_id, weight])
        return
    lightest = min(entries, key=lambda entry: entry[1])
    lightest[0] = category_id
    lightest[1] += weight


def window_counts(state: UserState, at_ms: int, window_ms: int) -> list[int]:
    """Events per type in ``(at_ms - window_ms, at_ms]``, to bucket precision.

    The finest tier that keeps the whole window answers; the window's start is
    rounded up to the next edge of that tier's buckets.
    """
    for tier, (width_ms, kept) in enumerate(TIERS):
        if width_ms * kept >= window_ms:
            return _window_sum(state.buckets[tier], at_ms, width_ms, window_ms)
    raise ValueError(
        f"window_ms={window_ms} is longer than the {width_ms * kept} ms kept"
    )


def _window_sum(
    rows: list[list[int]], at_ms: int, width_ms: int, window_ms: int
) -> list[int]:
    top = (at_ms - 1) // width_ms
    floor = top - window_ms // width_ms
    inside = [row for row in rows if floor < row[0] <= top]
    if not inside:
        return [0] * N_TYPES
    return [sum(column) for column in zip(*inside, strict=True)][1:]


def abandoned_cart_items(
    state: UserState, at_ms: int, abandon_after_ms: int = ABANDON_AFTER_MS
) -> int:
    """Items still in the cart ``abandon_after_ms`` or more after their last add."""
    return len(_open_lines(state, at_ms, at_ms - abandon_after_ms))


def cart_items(state: UserState, at_ms: int) -> int:
    """Items in the cart at ``at_ms``."""
    return len(_open_lines(state, at_ms, at_ms))


def cart_value(state: UserState, at_ms: int) -> float:
    """Value of the cart at ``at_ms``: each item at its latest add's price x qty."""
    return sum(line[3] for line in _open_lines(state, at_ms, at_ms))


def _open_lines(
    state: UserState, at_ms: int, added_until_ms: int
) -> list[list[Any]]:
    """Open lines last added by ``added_until_ms``; the cart forgets after 30 days."""
    since_ms = at_ms - CART_MEMORY_MS
    return [
        line
        for line in state.cart
        if line[2] < line[1] and since_ms < line[1] <= added_until_ms
    ]


def top_categories(
    state: UserState,
    at_ms: int,
    k: int = AFFINITY_TOP_K,
    half_life_ms: int = AFFINITY_HALF_LIFE_MS,
) -> list[tuple[str, float]]:
    """The k heaviest categories with their weights decayed to ``at_ms``."""
    scale = _decay(state, at_ms, half_life_ms)
    ranked = sorted(state.affinity, key=lambda entry: entry[1], reverse=True)
    return [(category, weight * scale) for category, weight in ranked[:k]]


def _decay(state: UserState, at_ms: int, half_life_ms: int) -> float:
    exponent = (at_ms - state.affinity_ref_ms) / half_life_ms
    return 2.0 ** -max(exponent, -AFFINITY_REBASE_HALF_LIVES)


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
        log1p(_gap_std_s(state)),
        log1p(cart_value(state, at_ms)),
        log1p(cart_items(state, at_ms)),
        log1p(abandoned_cart_items(state, at_ms, abandon_after_ms)),
    ]

    weights = [entry[1] for entry in state.affinity]
    total_weight = sum(weights)
    values += [
        max(weights) / total_weight if total_weight > 0.0 else 0.0,
        log1p(total_weight * _decay(state, at_ms, half_life_ms)),
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


def _gap_std_s(state: UserState) -> float:
    """Population standard deviation of the gaps between orders, in seconds."""
    if state.order_gap_count < 2:
        return 0.0
    return math.sqrt(max(state.order_gap_m2_s2, 0.0) / state.order_gap_count)


def _log_s(duration_ms: float) -> float:
    return math.log1p(max(duration_ms, 0) / 1000.0)
