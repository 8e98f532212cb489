"""The cart: one line per item, open while its latest add follows its latest close."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models.features.schema import DAY_MS, HOUR_MS

if TYPE_CHECKING:
    from models.features.state import UserState

# Cart lines are [item_id, add_ts_ms, close_ts_ms, value]; open while added after
# their last close. Closed lines are kept a while so that a late add of an item
# already bought or removed does not reopen it.
CART_LINES = 16
CART_KINDS = frozenset({"cart_add", "cart_remove", "purchase"})
CART_MEMORY_MS = 30 * DAY_MS
CART_CLOSED_KEEP_MS = DAY_MS
ABANDON_AFTER_MS = 24 * HOUR_MS


def fold_cart(
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
