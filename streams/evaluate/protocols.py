"""The evaluation protocols of the purchase logs: periods, population and targets.

A purchase log is split into a calibration period and a holdout period by calendar
day in the shop's time zone. The population is every customer with a purchase in
calibration; the target is whether that customer buys at least once in the
holdout. Purchases are read with the replay's own readers, so the user ids and
event times here are exactly those the worker sees.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from models.baselines.bgnbd import Summary
from streams.replay.sources import read_events

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass(frozen=True)
class PeriodProtocol:
    """Calibration and holdout of one purchase log, with its published anchors.

    Dates are calendar days in ``zone``, each end inclusive. The RFM logistic
    regression is trained on features at ``lr_split`` with labels from the days
    after it up to the end of calibration.
    """

    dataset: str
    calibration_end: date
    holdout_end: date
    lr_split: date
    zone: str
    # Settings of the worker on top of the demo preset of the dataset.
    overrides: dict[str, Any] = field(default_factory=dict)
    # Published figures of the same protocol: {"bgnbd": {"auc": .., "ap": ..}}.
    anchors: dict[str, dict[str, float]] = field(default_factory=dict)

    def day_start_ms(self, day: date) -> int:
        """Epoch ms of 00:00 of ``day`` in the protocol's zone."""
        start = datetime.combine(day, time(0), tzinfo=ZoneInfo(self.zone))
        return int(start.timestamp() * 1000)

    @property
    def calibration_end_ms(self) -> int:
        """First instant after calibration: events before it are replayed."""
        return self.day_start_ms(self.calibration_end + timedelta(days=1))

    @property
    def holdout_days(self) -> int:
        return (self.holdout_end - self.calibration_end).days


PROTOCOLS = {
    # Fader, Hardie & Lee (2005): 39 weeks of calibration, 39 of holdout.
    "cdnow": PeriodProtocol(
        "cdnow", date(1997, 9, 30), date(1998, 6, 30), date(1997, 6, 30), "UTC",
        # A purchase log of CDs: a quarter for a purchase, half a year of silence
        # for churn.
        {"purchase_horizon_s": 90 * DAY_S, "churn_horizon_s": 180 * DAY_S,
         "user_ttl_s": 400 * DAY_S},
        {"bgnbd": {"auc": 0.763, "ap": 0.648}, "logit": {"auc": 0.770, "ap": 0.647},
         "recency": {"auc": 0.759, "ap": 0.612}},
    ),
    # Twenty-one months of calibration, the last quarter of the data as holdout.
    "online-retail": PeriodProtocol(
        "online-retail", date(2011, 9, 9), date(2011, 12, 9), date(2011, 6, 10),
        "Europe/London",
        # Calibration spans 21 months: no customer of it may be evicted.
        {"user_ttl_s": 3 * 365 * DAY_S},
        {"bgnbd": {"auc": 0.801, "ap": 0.770}, "logit": {"auc": 0.792, "ap": 0.764},
         "recency": {"auc": 0.764, "ap": 0.685}},
    ),
}


@dataclass(frozen=True)
class Purchases:
    """Every purchase of a log: user id, calendar day number (proleptic ordinal in
    the protocol's zone) and value."""

    user: NDArray
    day: NDArray
    value: NDArray


def load_purchases(path: Path, fmt: str, zone: str) -> Purchases:
    """Purchases of a dataset file, read by the replay's reader for ``fmt``."""
    stats: Counter[str] = Counter()
    users: list[str] = []
    stamps: list[int] = []
    values: list[float] = []
    for event in read_events(path, fmt, stats):
        if event["event_type"] != "purchase":
            continue
        users.append(event["user_id"])
        stamps.append(event["event_ts"])
        values.append(event.get("price", 0.0) * event.get("quantity", 1))

    # Days of the few distinct instants, in the shop's zone.
    tz = ZoneInfo(zone)
    unique_ms, inverse = np.unique(np.asarray(stamps, dtype=np.int64),
                                   return_inverse=True)
    unique_day = np.array([
        datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).date().toordinal()
        for ms in unique_ms.tolist()
    ], dtype=np.int64)
    log.info("purchases read path=%s purchases=%d skipped=%d",
             path, len(users), sum(stats.values()))
    return Purchases(
        np.asarray(users, dtype=object), unique_day[inverse],
        np.asarray(values, dtype=float),
    )


@dataclass(frozen=True)
class Customers:
    """Per-customer summaries at the end of ``cut`` (inclusive), sorted by id."""

    ids: NDArray
    first_day: NDArray
    last_day: NDArray
    n_days: NDArray
    spend: NDArray
    cut: date

    @property
    def cut_day(self) -> int:
        return self.cut.toordinal()

    def recency_days(self) -> NDArray:
        return (self.cut_day - self.last_day).astype(float)

    def tenure_days(self) -> NDArray:
        return (self.cut_day - self.first_day).astype(float)

    def bgnbd_summary(self, unit_days: float = 7.0) -> Summary:
        """Repeat purchase days, time of the last and age, in weeks by default:
        same-day purchases are one, as in the BG/NBD literature."""
        return Summary.of(
            self.n_days - 1,
            (self.last_day - self.first_day) / unit_days,
            self.tenure_days() / unit_days,
        )

    def rfm_features(self) -> NDArray:
        """Log recency, frequency, mean spend per purchase day and tenure."""
        return np.column_stack([
            np.log1p(self.recency_days()),
            np.log1p(self.n_days),
            np.log1p(np.maximum(self.spend, 0.0) / self.n_days),
            np.log1p(self.tenure_days()),
        ])


def customers_at(purchases: Purchases, cut: date) -> Customers:
    """Summaries of every customer with a purchase on or before ``cut``."""
    mask = purchases.day <= cut.toordinal()
    ids, code = np.unique(purchases.user[mask], return_inverse=True)
    day = purchases.day[mask]
    n = ids.size
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, code, day)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, code, day)
    spend = np.bincount(code, weights=purchases.value[mask], minlength=n)

    # Distinct purchase days: unique (customer, day) pairs.
    pairs = np.unique(code.astype(np.int64) * 10_000_000 + day)
    n_days = np.bincount(pairs // 10_000_000, minlength=n)
    return Customers(ids, first, last, n_days, spend, cut)


def bought_between(
    purchases: Purchases, ids: NDArray, after: date, until: date
) -> NDArray:
    """For each id, whether it bought on a day in (after, until]."""
    mask = (purchases.day > after.toordinal()) & (purchases.day <= until.toordinal())
    buyers = np.unique(purchases.user[mask])
    return np.isin(ids, buyers)


@dataclass(frozen=True)
class PeriodSplit:
    """What every scorer of one period protocol is judged on."""

    protocol: PeriodProtocol
    calibration: Customers
    holdout_bought: NDArray
    training: Customers
    training_bought: NDArray

    @property
    def population(self) -> list[str]:
        return self.calibration.ids.tolist()

    def describe(self) -> dict[str, Any]:
        return {
            "calibration_end": self.protocol.calibration_end.isoformat(),
            "holdout_end": self.protocol.holdout_end.isoformat(),
            "population": int(self.calibration.ids.size),
            "positives": int(self.holdout_bought.sum()),
            "positive_share": round(float(self.holdout_bought.mean()), 4),
            "lr_split": self.protocol.lr_split.isoformat(),
            "lr_training_rows": int(self.training.ids.size),
        }


def split_periods(purchases: Purchases, protocol: PeriodProtocol) -> PeriodSplit:
    """Population, holdout target and the logistic regression's training set."""
    calibration = customers_at(purchases, protocol.calibration_end)
    holdout = bought_between(
        purchases, calibration.ids, protocol.calibration_end, protocol.holdout_end
    )
    training = customers_at(purchases, protocol.lr_split)
    training_bought = bought_between(
        purchases, training.ids, protocol.lr_split, protocol.calibration_end
    )
    split = PeriodSplit(protocol, calibration, holdout, training, training_bought)
    log.info(
        "protocol split dataset=%s %s", protocol.dataset,
        " ".join(f"{k}={v}" for k, v in split.describe().items()),
    )
    return split
