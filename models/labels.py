"""Scoring moments and their labels, resolved in event time.

A scoring moment keeps the feature vector it was scored with until each target's
outcome is known: early when the outcome happens (any activity for churn, a purchase
for propensity), otherwise when the horizon has passed on the watermark.
"""

from __future__ import annotations

from typing import Any

from models.features import UserState

CHURN = "churn"
PURCHASE = "purchase"
TARGETS = (CHURN, PURCHASE)
MAX_PENDING = 8

Labelled = tuple[str, list[float], int]


def add_moment(state: UserState, at_ms: int, x: list[float]) -> int:
    """Remember a scoring moment; return how many old moments had to be dropped.

    The vector is kept to 4 decimals: it is written to the changelog with every
    change of the row, and full floats would more than double the row's size.
    """
    kept = round_4(x)
    state.pending.append({"ts_ms": at_ms, "x": kept, CHURN: None, PURCHASE: None})
    state.last_moment_ms = at_ms
    dropped = 0
    while len(state.pending) > MAX_PENDING:
        state.pending.pop(0)
        dropped += 1
    return dropped


# Rounding a float to given decimals is slow in CPython (a decimal conversion each
# time), and most values of a vector recur across users and moments: zeros, log1p
# of small counts. A bounded memo returns the same floats for a tenth of the cost.
_ROUNDED: dict[float, float] = {}
_ROUNDED_MAX = 1 << 16


def round_4(x: list[float]) -> list[float]:
    """``[round(v, 4) for v in x]``, value for value and type for type."""
    cache = _ROUNDED
    if len(cache) > _ROUNDED_MAX:
        cache.clear()
    get = cache.get
    out = []
    for v in x:
        if v == 0:
            # round keeps a zero as it is; and -0.0 == 0.0 would share a key.
            out.append(v)
        elif v.__class__ is float:
            r = get(v)
            if r is None:
                r = cache[v] = round(v, 4)
            out.append(r)
        else:
            # 1 == 1.0 would share a key too, and round(1, 4) is the int 1.
            out.append(round(v, 4))
    return out


def resolve_on_event(
    state: UserState,
    event_ts_ms: int,
    is_purchase: bool,
    churn_horizon_ms: int,
    purchase_horizon_ms: int,
) -> list[Labelled]:
    """Labels made known by an event of this user at ``event_ts_ms``.

    Only events strictly after a moment count: an event never labels the moment it
    created, nor others at the same instant.
    """
    out: list[Labelled] = []
    for moment in state.pending:
        elapsed_ms = event_ts_ms - moment["ts_ms"]
        if elapsed_ms <= 0:
            continue
        if moment[CHURN] is None and elapsed_ms <= churn_horizon_ms:
            moment[CHURN] = 0
            out.append((CHURN, moment["x"], 0))
        if is_purchase and moment[PURCHASE] is None and (
            elapsed_ms <= purchase_horizon_ms
        ):
            moment[PURCHASE] = 1
            out.append((PURCHASE, moment["x"], 1))
    _drop_resolved(state)
    return out


def resolve_on_watermark(
    state: UserState,
    watermark_ms: int,
    churn_horizon_ms: int,
    purchase_horizon_ms: int,
) -> list[Labelled]:
    """Labels made known by the passing of each horizon on the watermark."""
    out: list[Labelled] = []
    for moment in state.pending:
        if moment[CHURN] is None and moment["ts_ms"] + churn_horizon_ms <= watermark_ms:
            moment[CHURN] = 1
            out.append((CHURN, moment["x"], 1))
        if moment[PURCHASE] is None and (
            moment["ts_ms"] + purchase_horizon_ms <= watermark_ms
        ):
            moment[PURCHASE] = 0
            out.append((PURCHASE, moment["x"], 0))
    _drop_resolved(state)
    return out


def next_deadline_ms(
    state: UserState, churn_horizon_ms: int, purchase_horizon_ms: int
) -> int | None:
    """The earliest watermark at which a pending label resolves by its horizon."""
    # Runs after every event of the user: a running minimum, no list.
    earliest = None
    for moment in state.pending:
        if moment[CHURN] is None:
            deadline = moment["ts_ms"] + churn_horizon_ms
            if earliest is None or deadline < earliest:
                earliest = deadline
        if moment[PURCHASE] is None:
            deadline = moment["ts_ms"] + purchase_horizon_ms
            if earliest is None or deadline < earliest:
                earliest = deadline
    return earliest


def _drop_resolved(state: UserState) -> None:
    pending: list[dict[str, Any]] = state.pending
    if any(m[CHURN] is not None and m[PURCHASE] is not None for m in pending):
        state.pending = [
            m for m in pending if m[CHURN] is None or m[PURCHASE] is None
        ]
