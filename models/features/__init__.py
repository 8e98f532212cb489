"""Per-user state and the feature vector computed from it, in event time.

A :class:`UserState` is what the worker keeps per user in its changelog-backed
table. :func:`apply_event` folds one normalised event into it; :func:`feature_vector`
turns it into numbers at a given event time, in the order of :data:`FEATURE_NAMES`.
Every part of the state is bounded per user; docs/features.md defines each column.

One module per part of the row: ``windows`` (bucketed counts), ``sessions``,
``orders`` (RFM figures), ``cart``, ``affinity`` (categories), ``state`` (the row
and its serialised form), ``folding`` (one event into the row) and ``vector``.
"""

from models.features.affinity import (
    AFFINITY_HALF_LIFE_MS,
    AFFINITY_REBASE_HALF_LIVES,
    AFFINITY_TOP_K,
    top_categories,
)
from models.features.cart import (
    ABANDON_AFTER_MS,
    CART_CLOSED_KEEP_MS,
    CART_KINDS,
    CART_LINES,
    CART_MEMORY_MS,
    abandoned_cart_items,
    cart_items,
    cart_value,
)
from models.features.folding import RECENT_ITEMS, apply_event, is_duplicate
from models.features.orders import RECENT_ORDERS
from models.features.schema import (
    DAY_MS,
    EVENT_TYPES,
    HOUR_MS,
    MINUTE_MS,
    N_TYPES,
    TYPE_INDEX,
)
from models.features.state import ROW_FIELDS, ROW_VERSION, UserState
from models.features.vector import (
    FEATURE_NAMES,
    feature_dict,
    feature_values,
    feature_vector,
)
from models.features.windows import TIERS, WINDOWS, window_counts

__all__ = [
    "ABANDON_AFTER_MS",
    "AFFINITY_HALF_LIFE_MS",
    "AFFINITY_REBASE_HALF_LIVES",
    "AFFINITY_TOP_K",
    "CART_CLOSED_KEEP_MS",
    "CART_KINDS",
    "CART_LINES",
    "CART_MEMORY_MS",
    "DAY_MS",
    "EVENT_TYPES",
    "FEATURE_NAMES",
    "HOUR_MS",
    "MINUTE_MS",
    "N_TYPES",
    "RECENT_ITEMS",
    "RECENT_ORDERS",
    "ROW_FIELDS",
    "ROW_VERSION",
    "TIERS",
    "TYPE_INDEX",
    "WINDOWS",
    "UserState",
    "abandoned_cart_items",
    "apply_event",
    "cart_items",
    "cart_value",
    "feature_dict",
    "feature_values",
    "feature_vector",
    "is_duplicate",
    "top_categories",
    "window_counts",
]
