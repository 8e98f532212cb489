"""The clickstream protocol: every scoring moment after a time split, labelled from
the raw data.

The whole file is replayed; the models learn as they go. Each record of the
`user-scores` topic scored at or after the split (80% of the data's span) is a test
example: positive when the user buys within the purchase horizon after the moment.
Baselines are computed at the same moments from the raw events: recency (time since
the user's last event) and frequency (the user's events so far).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.replay.sources import read_events

log = logging.getLogger(__name__)

SPLIT_SHARE = 0.8


@dataclass(frozen=True)
class Clicks:
    """Events of a clickstream as arrays: user, event time, purchase flag."""

    user: NDArray
    ts_ms: NDArray
    purchase: NDArray

    @property
    def span_ms(self) -> tuple[int, int]:
        return int(self.ts_ms.min()), int(self.ts_ms.max())

    def split_ms(self, share: float = SPLIT_SHARE) -> int:
        first, last = self.span_ms
        return first + int((last - first) * share)


def load_clicks(path: Path, fmt: str) -> Clicks:
    stats: Counter[str] = Counter()
    users, stamps, bought = [], [], []
    for event in read_events(path, fmt, stats):
        users.append(event["user_id"])
        stamps.append(event["event_ts"])
        bought.append(event["event_type"] == "purchase")
    if not users:
        raise ValueError(f"{path} holds no events")
    return Clicks(np.asarray(users, dtype=object),
                  np.asarray(stamps, dtype=np.int64), np.asarray(bought))


@dataclass(frozen=True)
class MomentSplit:
    """Test moments, their labels, the streaming scores and the baselines."""

    y: NDArray
    scores: dict[str, NDArray]
    info: dict[str, Any]


def _keys(codes: NDArray, ts_ms: NDArray, base_ms: int) -> NDArray:
    # One sortable key per (user, time): times fit in 40 bits of ms (34 years).
    return codes.astype(np.int64) * (1 << 40) + (ts_ms - base_ms)


def label_moments(
    clicks: Clicks, records: list[dict[str, Any]], horizon_ms: int,
    split_ms: int | None = None,
) -> MomentSplit:
    """Judge every `user-scores` record scored at or after the split."""
    split_ms = clicks.split_ms() if split_ms is None else split_ms
    first_ms, last_ms = clicks.span_ms
    test = [r for r in records if r["scored_ts_ms"] >= split_ms]
    if not test:
        raise ValueError("no scoring moment after the split")
    ids, codes = np.unique(clicks.user, return_inverse=True)
    moment_user = np.array([r["user_id"] for r in test], dtype=object)
    moment_code = np.searchsorted(ids, moment_user)
    known = (moment_code < ids.size) & (
        ids[np.minimum(moment_code, ids.size - 1)] == moment_user
    )
    if not known.all():
        raise ValueError(f"{int((~known).sum())} scored users are not in the data")
    moment_ts = np.array([r["scored_ts_ms"] for r in test], dtype=np.int64)

    # Events of each user in time order; a moment sees the events up to its time.
    event_keys = np.sort(_keys(codes, clicks.ts_ms, first_ms))
    moment_keys = _keys(moment_code, moment_ts, first_ms)
    upto = np.searchsorted(event_keys, moment_keys, side="right")
    user_start = np.searchsorted(event_keys, _keys(moment_code, np.full_like(
        moment_ts, first_ms), first_ms), side="left")
    frequency = (upto - user_start).astype(float)
    last_seen = np.where(
        frequency > 0,
        (event_keys[np.maximum(upto - 1, 0)] & ((1 << 40) - 1)) + first_ms,
        first_ms,
    )
    recency_s = (moment_ts - last_seen) / 1000.0

    # Positive: a purchase strictly after the moment, within the horizon.
    buy_keys = np.sort(_keys(codes[clicks.purchase], clicks.ts_ms[clicks.purchase],
                             first_ms))
    after = np.searchsorted(buy_keys, moment_keys, side="right")
    until = np.searchsorted(buy_keys, moment_keys + horizon_ms, side="right")
    y = until > after

    scores = {
        "stream": np.array([r["purchase_propensity"] for r in test]),
        "stream_churn": 1.0 - np.array([r["churn_risk"] for r in test]),
        "recency": -recency_s,
        "frequency": frequency,
    }
    censored = float(np.mean(moment_ts + horizon_ms > last_ms))
    info = {
        "split_ms": split_ms,
        "data_end_ms": last_ms,
        "moments": len(test),
        "moments_before_split": len(records) - len(test),
        "users": int(np.unique(moment_code).size),
        "positives": int(y.sum()),
        "positive_share": round(float(y.mean()), 4),
        "horizon_s": horizon_ms / 1000,
        # Moments whose horizon runs past the end of the data: a purchase after
        # the end cannot be seen, so their label leans to 0.
        "censored_share": round(censored, 4),
        "moment_kinds": dict(Counter(r.get("moment", "?") for r in test)),
    }
    log.info("moments labelled %s",
             " ".join(f"{k}={v}" for k, v in info.items() if k != "moment_kinds"))
    return MomentSplit(y, scores, info)

