"""What every part of the user feature store shares: event types and time units."""

from __future__ import annotations

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

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
