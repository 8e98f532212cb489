"""Item recommendations from co-occurrence learned on the stream, with a popularity
fallback for users and items the stream has not taught us about yet."""

from __future__ import annotations

import heapq
from collections import Counter
from operator import itemgetter

# Items a user touched within this many of their recent items count as co-occurring.
CONTEXT_ITEMS = 5
# Popular items kept for the fallback, refreshed every TOP_REFRESH observations.
TOP_ITEMS = 50
TOP_REFRESH = 1000

_by_count = itemgetter(1)


class CoOccurrence:
    """Counts of items seen together in one user's recent history, bounded in size.

    ``max_items`` caps tracked items (the least popular are forgotten first) and
    ``max_neighbours`` caps the neighbour list kept per item.
    """

    def __init__(self, max_items: int = 200_000, max_neighbours: int = 50) -> None:
        self.max_items = max_items
        self.max_neighbours = max_neighbours
        self.neighbours: dict[str, dict[str, int]] = {}
        self.popularity: Counter[str] = Counter()
        self._top: list[tuple[str, int]] = []
        self._observed_since_top = 0
        # What the next refresh of the popular list must look at besides the list
        # itself: items counted since the last refresh (None: every item). The
        # order each item was first counted in breaks ties, as Counter's does.
        self._touched: set[str] | None = set()
        self._first_seen: dict[str, int] = {}

    def observe(self, item_id: str, recent_items: list[str]) -> None:
        """Count ``item_id`` as seen after the user's recent items."""
        popularity = self.popularity
        count = popularity.get(item_id)
        if count is None:
            self._first_seen[item_id] = len(self._first_seen)
            popularity[item_id] = 1
        else:
            popularity[item_id] = count + 1
        if self._touched is not None:
            self._touched.add(item_id)
        for other in recent_items[-CONTEXT_ITEMS:]:
            if other == item_id:
                continue
            self._bump(item_id, other)
            self._bump(other, item_id)

        self._observed_since_top += 1
        # While few items are known the list is cheap to rebuild, and it matters.
        if self._observed_since_top >= TOP_REFRESH or len(self._top) < TOP_ITEMS:
            self._refresh_top()
        if len(self.popularity) > self.max_items * 1.2:
            self._forget_rare()

    def recommend(
        self, recent_items: list[str], k: int
    ) -> list[tuple[str, float, str]]:
        """Up to k (item_id, score, reason) for a user with these recent items."""
        exclude = set(recent_items)
        neighbours = self.neighbours
        scores: dict[str, int] = {}
        get = scores.get
        for weight, item in enumerate(recent_items[-CONTEXT_ITEMS:], start=1):
            counts = neighbours.get(item)
            if counts is None:
                continue
            for other, count in counts.items():
                if other not in exclude:
                    scores[other] = get(other, 0) + weight * count
        ranked = _top_k(scores, k)
        picked = [(item, float(score), "co_occurrence") for item, score in ranked]
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
            counts = self.neighbours[item] = {}
        counts[other] = counts.get(other, 0) + 1
        if len(counts) > 2 * self.max_neighbours:
            self.neighbours[item] = dict(_top_k(counts, self.max_neighbours))

    def _refresh_top(self) -> None:
        """The TOP_ITEMS most popular items, as popularity.most_common would rank.

        Counts only grow between refreshes, so an item neither in the last list
        nor counted since ranks below all 50 of that list, and cannot enter it:
        the refresh ranks those few candidates instead of every item.
        """
        touched = self._touched
        if touched is None:
            self._top = self.popularity.most_common(TOP_ITEMS)
        else:
            popularity, first_seen = self.popularity, self._first_seen
            candidates = touched.union(item for item, _ in self._top)
            ranked = sorted(
                candidates, key=lambda item: (-popularity[item], first_seen[item])
            )
            self._top = [(item, popularity[item]) for item in ranked[:TOP_ITEMS]]
        self._touched = set()
        self._observed_since_top = 0

    def _forget_rare(self) -> None:
        keep = dict(self.popularity.most_common(self.max_items))
        self.popularity = Counter(keep)
        self.neighbours = {
            item: counts for item, counts in self.neighbours.items() if item in keep
        }
        # The rebuilt counter holds its items in popularity order, which is now
        # the order that breaks ties; the next refresh ranks every item.
        self._first_seen = {item: i for i, item in enumerate(keep)}
        self._touched = None


def _top_k(counts: dict[str, int], k: int) -> list[tuple[str, int]]:
    """The k largest counts, ranked as Counter.most_common ranks them.

    That is a stable sort by count, ties in the dict's order. Only the entries
    at or above the k-th largest count can be among them, and they are found
    without sorting the rest.
    """
    if k <= 0:
        return []
    if len(counts) > 4 * k:
        least = heapq.nlargest(k, counts.values())[-1]
        entries = [entry for entry in counts.items() if entry[1] >= least]
    else:
        entries = list(counts.items())
    entries.sort(key=_by_count, reverse=True)
    return entries[:k]
