"""Item recommendations from co-occurrence learned on the stream, with a popularity
fallback for users and items the stream has not taught us about yet."""

from __future__ import annotations

from collections import Counter

# Items a user touched within this many of their recent items count as co-occurring.
CONTEXT_ITEMS = 5


class CoOccurrence:
    """Counts of items seen together in one user's recent history, bounded in size.

    ``max_items`` caps tracked items (the least popular are forgotten first) and
    ``max_neighbours`` caps the neighbour list kept per item.
    """

    def __init__(self, max_items: int = 200_000, max_neighbours: int = 50) -> None:
        self.max_items = max_items
        self.max_neighbours = max_neighbours
        self.neighbours: dict[str, Counter[str]] = {}
        self.popularity: Counter[str] = Counter()
        self._top: list[tuple[str, int]] = []
        self._observed_since_top = 0

    def observe(self, item_id: str, recent_items: list[str]) -> None:
        """Count ``item_id`` as seen after the user's recent items."""
        self.popularity[item_id] += 1
        for other in recent_items[-CONTEXT_ITEMS:]:
            if other == item_id:
                continue
            self._bump(item_id, other)
            self._bump(other, item_id)

        self._observed_since_top += 1
        # While few items are known the list is cheap to rebuild, and it matters.
        if self._observed_since_top >= 1000 or len(self._top) < 50:
            self._refresh_top()
        if len(self.popularity) > self.max_items * 1.2:
            self._forget_rare()

    def recommend(
        self, recent_items: list[str], k: int
    ) -> list[tuple[str, float, str]]:
        """Up to k (item_id, score, reason) for a user with these recent items."""
        exclude = set(recent_items)
        scores: Counter[str] = Counter()
        for weight, item in enumerate(recent_items[-CONTEXT_ITEMS:], start=1):
            for other, count in self.neighbours.get(item, {}).items():
                if other not in exclude:
                    scores[other] += weight * count
        picked = [
            (item, float(score), "co_occurrence")
            for item, score in scores.most_common(k)
        ]
        if len(picked) < k:
            taken = exclude | {item for item, _, _ in picked}
            for item, count in self._top:
                if item not in taken:
                    picked.append((item, float(count), "popular"))
                    if len(picked) == k:
                        break
        return picked

    def _bump(self, item: str, other: str) -> None:
        counts = self.neighbours.get(item)
        if counts is None:
            counts = self.neighbours[item] = Counter()
        counts[other] += 1
        if len(counts) > 2 * self.max_neighbours:
            top = counts.most_common(self.max_neighbours)
            self.neighbours[item] = Counter(dict(top))

    def _refresh_top(self) -> None:
        self._top = self.popularity.most_common(50)
        self._observed_since_top = 0

    def _forget_rare(self) -> None:
        keep = dict(self.popularity.most_common(self.max_items))
        self.popularity = Counter(keep)
        self.neighbours = {
            item: counts for item, counts in self.neighbours.items() if item in keep
        }
