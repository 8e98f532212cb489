"""Seeded synthetic clickstreams for `lifecycle bench`, in the input contract (v1).

:func:`synthetic_events` imitates a shop: sessions of a few events, users who come
back with Zipf-like frequency, popular and obscure items, mostly views, some carts
and favourites, few purchases, and event time that advances steadily. The same seed
and size give the same events, so runs compare. :func:`new_user_events` gives one
event per user, every user new: each yields one ``user-scores`` message at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

Event = dict[str, Any]

# 2026-01-01T00:00:00Z; any instant inside the contract's range would do.
START_TS_MS = 1_767_225_600_000
# Mean event time between two events of the whole stream: about 14 events per
# second of event time, the density of the Taobao slice.
MEAN_GAP_MS = 70
# Sessions open at once; they interleave, so a user's events are ~15 s apart.
OPEN_SESSIONS = 200
# A session continues after each event with this probability (mean length 2.5).
SESSION_CONTINUE_P = 0.6
# Zipf-Mandelbrot shape of how often users return and how popular items are.
USER_ZIPF_S, USER_ZIPF_Q = 0.8, 50.0
ITEM_ZIPF_S, ITEM_ZIPF_Q = 0.9, 50.0
CATEGORIES = 800
# Event types after a session's first view, with their weights.
FOLLOW_TYPES = ("view", "cart_add", "favorite", "cart_remove", "purchase")
FOLLOW_WEIGHTS = (0.82, 0.09, 0.04, 0.02, 0.03)


def zipf_sampler(
    rng: np.random.Generator, size: int, s: float, q: float
) -> Iterator[int]:
    """Endless ranks 0..size-1 with P(k) proportional to 1 / (k + 1 + q) ** s."""
    weights = 1.0 / (np.arange(1, size + 1) + q) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    while True:
        for rank in np.searchsorted(cdf, rng.random(4096)):
            yield int(min(rank, size - 1))


class _Session:
    __slots__ = ("user", "items", "left")

    def __init__(self, user: int, length: int) -> None:
        self.user = user
        self.items: list[int] = []
        self.left = length


def synthetic_events(count: int, seed: int = 1) -> Iterator[Event]:
    """``count`` events of a synthetic shop, in event-time order."""
    rng = np.random.default_rng(seed)
    n_users = max(count, 100)
    n_items = max(count // 4, 100)
    users = zipf_sampler(rng, n_users, USER_ZIPF_S, USER_ZIPF_Q)
    items = zipf_sampler(rng, n_items, ITEM_ZIPF_S, ITEM_ZIPF_Q)
    # Users are ranked by how often they return; the id hides the rank, so
    # heavy users spread over partitions like any others.
    user_ids = rng.permutation(n_users)
    prices = np.round(np.exp(rng.normal(3.0, 1.0, n_items)), 2)
    gaps_ms = rng.exponential(MEAN_GAP_MS, count)
    follow = rng.choice(len(FOLLOW_TYPES), size=count, p=FOLLOW_WEIGHTS)
    picks = rng.integers(0, OPEN_SESSIONS, count)

    def new_session() -> _Session:
        return _Session(next(users), int(rng.geometric(1.0 - SESSION_CONTINUE_P)))

    sessions = [new_session() for _ in range(OPEN_SESSIONS)]
    ts_ms = float(START_TS_MS)
    for i in range(count):
        ts_ms += gaps_ms[i]
        slot = int(picks[i])
        session = sessions[slot]
        kind = FOLLOW_TYPES[follow[i]] if session.items else "view"
        if kind == "view":
            item = next(items)
            session.items.append(item)
        else:
            # Carts, favourites and purchases are of something seen this session.
            item = session.items[int(rng.integers(len(session.items)))]

        event: Event = {
            "event_id": f"bench-{seed}-{i}",
            "user_id": f"u{user_ids[session.user]}",
            "event_type": kind,
            "event_ts": int(ts_ms),
            "item_id": f"i{item}",
            "category_id": f"c{item * 7919 % CATEGORIES}",
            "price": float(prices[item]),
        }
        if kind == "purchase":
            event["quantity"] = 1 + int(rng.integers(3))
            event["order_id"] = f"o{seed}-{i}"
        yield event

        session.left -= 1
        if session.left <= 0:
            sessions[slot] = new_session()


def new_user_events(
    count: int, prefix: str, start_ts_ms: int, seed: int = 2,
    gap_ms: int = MEAN_GAP_MS,
) -> Iterator[Event]:
    """``count`` views, each by a user never seen before (``<prefix><n>``),
    ``gap_ms`` of event time apart."""
    rng = np.random.default_rng(seed)
    n_items = max(count // 4, 100)
    items = zipf_sampler(rng, n_items, ITEM_ZIPF_S, ITEM_ZIPF_Q)
    for i in range(count):
        item = next(items)
        yield {
            "event_id": f"{prefix}{i}",
            "user_id": f"{prefix}{i}",
            "event_type": "view",
            "event_ts": start_ts_ms + i * gap_ms,
            "item_id": f"i{item}",
            "category_id": f"c{item * 7919 % CATEGORIES}",
        }


class NewestTs:
    """Remembers the newest event time of streams sent so far."""

    def __init__(self) -> None:
        self.ts_ms = 0

    def noting(self, events: Iterable[Event]) -> Iterator[Event]:
        for event in events:
            if event["event_ts"] > self.ts_ms:
                self.ts_ms = event["event_ts"]
            yield event
