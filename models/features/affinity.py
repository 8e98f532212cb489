"""Category affinity: exponentially decayed weights of the heaviest categories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.features.schema import DAY_MS

if TYPE_CHECKING:
    from models.features.state import UserState

AFFINITY_HALF_LIFE_MS = 7 * DAY_MS
AFFINITY_TOP_K = 8
# Affinity weights are stored relative to a reference time; past this many
# half-lives they are rescaled to a newer one before they can overflow.
AFFINITY_REBASE_HALF_LIVES = 32.0


def fold_affinity(
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


def top_categories(
    state: UserState,
    at_ms: int,
    k: int = AFFINITY_TOP_K,
    half_life_ms: int = AFFINITY_HALF_LIFE_MS,
) -> list[tuple[str, float]]:
    """The k heaviest categories with their weights decayed to ``at_ms``."""
    scale = decay(state, at_ms, half_life_ms)
    ranked = sorted(state.affinity, key=lambda entry: entry[1], reverse=True)
    return [(category, weight * scale) for category, weight in ranked[:k]]


def decay(state: UserState, at_ms: int, half_life_ms: int) -> float:
    exponent = (at_ms - state.affinity_ref_ms) / half_life_ms
    return 2.0 ** -max(exponent, -AFFINITY_REBASE_HALF_LIVES)
