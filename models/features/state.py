"""The row the worker keeps per user, and how it is read and written."""

from __future__ import annotations

import operator
from typing import Any

import orjson

from models.features.schema import N_TYPES
from models.features.windows import TIERS

# Version 2 added windows, orders, cart lines, affinity and prices, and changed the
# vector layout, so version 1 rows are upgraded when read. Version 3 holds what
# version 2 holds, written as an array, [3, then each of ROW_FIELDS], not as an
# object: without a name per field a row is some 40% smaller and quicker to
# write, and it is written at every change of the user. Version 4 has the layout
# of version 3, but keeps the vectors of pending moments packed (a text, see
# models.vectors.pack) where version 3 kept lists of numbers; a worker that reads
# version 3 refuses it rather than feed a model text. Version 5 adds ``offsets``
# at the end: where in its input the row's last events were read (see
# UserState). Versions 1 and 2 (objects), 3 and 4 are still read, and written
# back as version 5.
ROW_VERSION = 5
ARRAY_VERSIONS = (3, 4, ROW_VERSION)
# Offsets not known (a row written before version 5, or no event by that road).
NO_OFFSET = -1


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
        # Added in row version 5.
        "offsets",
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
        # The highest offset of a message applied to this row, read from the
        # user's partition of the clickstream and of the re-keyed topic: the
        # partition's highest tells a worker that takes it over which messages
        # it reads again (streams.pipeline: they are not judged late).
        self.offsets = [NO_OFFSET, NO_OFFSET]

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(self.__slots__, _read_all(self), strict=True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        """A row from its object form: what versions 1 and 2 wrote."""
        state = cls(data["user_id"], data.get("partition", 0))
        for name in cls.__slots__:
            if name in data:
                setattr(state, name, data[name])
        if data.get("row_version", 1) < 2:
            _upgrade_from_v1(state)
        # A version 2 row holds what version 3 holds; only the layout differs.
        state.row_version = ROW_VERSION
        return state

    def dumps(self) -> bytes:
        return orjson.dumps((ROW_VERSION, *_read_row(self)))

    @classmethod
    def loads(cls, raw: bytes) -> UserState:
        data = orjson.loads(raw)
        if isinstance(data, dict):
            return cls.from_dict(data)
        version = data[0] if isinstance(data, list) and data else None
        fields = ROW_FIELDS if version == ROW_VERSION else FIELDS_BEFORE_5
        if version not in ARRAY_VERSIONS or len(data) != len(fields) + 1:
            raise ValueError(
                f"not a user row of version {ROW_VERSION} or older: "
                f"{raw[:60]!r} ({len(raw)} bytes)"
            )
        state = cls.__new__(cls)
        for name, value in zip(fields, data[1:], strict=True):
            setattr(state, name, value)
        if fields is FIELDS_BEFORE_5:
            state.offsets = [NO_OFFSET, NO_OFFSET]
        state.row_version = ROW_VERSION
        return state


# The fields of a row, in order after its version.
ROW_FIELDS = tuple(name for name in UserState.__slots__ if name != "row_version")
# ... of a version 3 or 4 row.
FIELDS_BEFORE_5 = tuple(name for name in ROW_FIELDS if name != "offsets")
# One C call reads them all: a row is written at every change of its user.
_read_row = operator.attrgetter(*ROW_FIELDS)
_read_all = operator.attrgetter(*UserState.__slots__)


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
