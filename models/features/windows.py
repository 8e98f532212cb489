"""Counts per event type in sliding event-time windows, kept as tiers of buckets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.features.schema import DAY_MS, HOUR_MS, MINUTE_MS, N_TYPES

if TYPE_CHECKING:
    from models.features.state import UserState

# Bucketed counts per event type, as (bucket width, buckets kept). Bucket i holds
# events in (i * width, (i + 1) * width], so a window ending on an edge is exact.
TIERS = ((5 * MINUTE_MS, 12), (HOUR_MS, 24), (DAY_MS, 30))
# The sliding windows of the feature vector, by name.
WINDOWS = (("1h", HOUR_MS), ("24h", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS))


def count_event(
    buckets: list[list[list[int]]], ts_ms: int, newest_ms: int, type_index: int
) -> None:
    """Count one event of ``type_index`` at ``ts_ms`` in every tier."""
    column = type_index + 1
    for (width_ms, kept), rows in zip(TIERS, buckets, strict=True):
        index = (ts_ms - 1) // width_ms
        # Most events land in the newest bucket of each tier: counted here.
        if rows and rows[-1][0] == index and index > (newest_ms - 1) // width_ms - kept:
            rows[-1][column] += 1
        else:
            _count(rows, index, (newest_ms - 1) // width_ms - kept, column)


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


def window_counts(state: UserState, at_ms: int, window_ms: int) -> list[int]:
    """Events per type in ``(at_ms - window_ms, at_ms]``, to bucket precision.

    The finest tier that keeps the whole window answers; the window's start is
    rounded up to the next edge of that tier's buckets.
    """
    tier, width_ms, span = _plan(window_ms)
    top = (at_ms - 1) // width_ms
    return list(_sum_rows(state.buckets[tier], top - span, top))


def feature_window_counts(
    buckets: list[list[list[int]]], at_ms: int
) -> list[list[int]]:
    """Counts per type in each window of WINDOWS at ``at_ms``; do not mutate them."""
    out = []
    for tier, width_ms, span in _WINDOW_PLANS:
        top = (at_ms - 1) // width_ms
        out.append(_sum_rows(buckets[tier], top - span, top))
    return out


def _plan(window_ms: int) -> tuple[int, int, int]:
    """(tier, bucket width, buckets spanned) that answer a window."""
    for tier, (width_ms, kept) in enumerate(TIERS):
        if width_ms * kept >= window_ms:
            return tier, width_ms, window_ms // width_ms
    raise ValueError(
        f"window_ms={window_ms} is longer than the {width_ms * kept} ms kept"
    )


_WINDOW_PLANS = tuple(_plan(window_ms) for _, window_ms in WINDOWS)
_NO_COUNTS = [0] * N_TYPES


def _sum_rows(rows: list[list[int]], floor: int, top: int) -> list[int]:
    """Counts per type summed over the buckets in ``(floor, top]``.

    The result may be a row's own list or a shared one: callers copy it before
    changing it. Rows are in bucket order, so a tier wholly inside the window,
    the common case, is summed without a filter.
    """
    if not rows:
        return _NO_COUNTS
    if rows[0][0] > floor and rows[-1][0] <= top:
        inside = rows
    else:
        inside = [row for row in rows if floor < row[0] <= top]
        if not inside:
            return _NO_COUNTS
    if len(inside) == 1:
        return inside[0][1:]
    return list(map(sum, zip(*inside, strict=True)))[1:]
