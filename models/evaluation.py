"""Progressive evaluation: a model judged on each example before it learns it.

:class:`Progressive` keeps, per model and target, the last ``window`` predictions
with their outcomes (for rolling figures) and running sums over every example (for
long-run ones). An update costs a few array writes; the figures are computed when
asked for:

- ROC-AUC: the chance that a positive example scores above a negative one (ties
  count half). Rolling: exact, over the window. Long-run: from histograms of
  scores in 1000 bins per outcome, so within about 0.001 of the exact value.
- log loss: mean of ``-log p`` of the outcome that happened.
- calibration: expected calibration error over 10 equal-width score bins (the
  bins' gaps between mean score and observed rate, weighted by their share of
  examples), next to the mean score and the observed positive rate.

>>> e = Progressive(window=4)
>>> for y, p in [(1, 0.9), (0, 0.2), (1, 0.6), (0, 0.7)]:
...     e.update(y, p)
>>> e.rolling_auc(), round(e.rolling_log_loss(), 4)
(0.75, 0.5108)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

AUC_BINS = 1000
CALIBRATION_BINS = 10


class Progressive:
    """Quality of one model on examples it had not yet learned from."""

    def __init__(self, window: int = 10_000) -> None:
        self.p = np.zeros(window, dtype=np.float64)
        self.y = np.zeros(window, dtype=np.float64)
        self.size = 0
        self.next = 0
        self.judged = 0
        self.positives = 0
        self.loss_sum = 0.0
        self.hist = [[0] * AUC_BINS, [0] * AUC_BINS]

    def update(self, y: int, p: float) -> None:
        """Record the prediction ``p`` (strictly inside (0, 1)) for outcome ``y``."""
        i = self.next
        self.p[i] = p
        self.y[i] = y
        self.next = (i + 1) % len(self.p)
        if self.size < len(self.p):
            self.size += 1
        self.judged += 1
        self.positives += y
        self.loss_sum -= math.log(p if y else 1.0 - p)
        self.hist[y][min(int(p * AUC_BINS), AUC_BINS - 1)] += 1

    # -- figures ------------------------------------------------------------

    def rolling_log_loss(self) -> float | None:
        if not self.size:
            return None
        p, y = self.p[: self.size], self.y[: self.size]
        return float(-np.mean(np.log(np.where(y > 0.5, p, 1.0 - p))))

    def rolling_auc(self) -> float | None:
        if not self.size:
            return None
        return roc_auc(self.y[: self.size], self.p[: self.size])

    def auc(self) -> float | None:
        """Long-run AUC from the score histograms; None until both outcomes."""
        neg, pos = np.array(self.hist[0], float), np.array(self.hist[1], float)
        n_neg, n_pos = neg.sum(), pos.sum()
        if not n_neg or not n_pos:
            return None
        below = np.cumsum(neg) - neg  # negatives in lower bins
        wins = float(pos @ below) + 0.5 * float(pos @ neg)
        return float(wins / (n_pos * n_neg))

    def calibration(self) -> tuple[float, float, float] | None:
        """(expected calibration error, mean score, positive rate), rolling."""
        if not self.size:
            return None
        p, y = self.p[: self.size], self.y[: self.size]
        bins = np.minimum((p * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
        gap = np.bincount(bins, weights=p - y, minlength=CALIBRATION_BINS)
        return float(np.abs(gap).sum() / self.size), float(p.mean()), float(y.mean())

    def report(self) -> dict[str, Any]:
        calibration = self.calibration()
        ece, mean_score, rate = calibration if calibration else (None, None, None)
        return {
            "judged": self.judged,
            "positives": self.positives,
            "auc": _round(self.auc()),
            "rolling_auc": _round(self.rolling_auc()),
            "log_loss": _round(self.loss_sum / self.judged if self.judged else None),
            "rolling_log_loss": _round(self.rolling_log_loss()),
            "ece": _round(ece),
            "mean_score": _round(mean_score),
            "positive_rate": _round(rate),
        }


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Exact ROC-AUC by ranks (ties share their mean rank); None without both
    outcomes."""
    positive = y > 0.5
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if not n_pos or not n_neg:
        return None
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    rank_sum = float(mean_rank[inverse][positive].sum())
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
