"""Ranking quality of a score against binary outcomes: ROC-AUC and average precision.

Both handle tied scores the usual way: a tie between a positive and a negative
counts one half in the AUC, and a run of equal scores is one threshold of the
precision-recall curve.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray

log = logging.getLogger(__name__)


def _checked(y: ArrayLike, scores: ArrayLike) -> tuple[NDArray, NDArray]:
    labels = np.asarray(y, dtype=float).ravel()
    values = np.asarray(scores, dtype=float).ravel()
    if labels.shape != values.shape:
        raise ValueError(f"{labels.size} labels but {values.size} scores")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be 0 or 1")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite")
    return labels.astype(bool), values


def average_ranks(values: ArrayLike) -> NDArray:
    """1-based ranks of the values, equal values sharing their mean rank.

    >>> average_ranks([0.3, 0.1, 0.3]).tolist()
    [2.5, 1.0, 2.5]
    """
    values = np.asarray(values, dtype=float).ravel()
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]

    # Each run of equal values gets the mean of the positions it spans.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def roc_auc(y: ArrayLike, scores: ArrayLike) -> float | None:
    """Probability that a random positive outranks a random negative (ties: 1/2).

    None when only one class is present.

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    labels, values = _checked(y, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = average_ranks(values)[labels].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _threshold_counts(labels: NDArray, values: NDArray) -> tuple[NDArray, NDArray]:
    """True and false positives above each distinct score, highest score first."""
    order = np.argsort(-values, kind="mergesort")
    ordered = values[order]
    hits = labels[order]
    # The last position of each run of equal scores closes one threshold.
    last = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    true_pos = np.cumsum(hits)[last]
    false_pos = (last + 1) - true_pos
    return true_pos.astype(float), false_pos.astype(float)


def average_precision(y: ArrayLike, scores: ArrayLike) -> float | None:
    """Mean of the precision at each threshold, weighted by the recall it adds.

    None when there is no positive.

    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    labels, values = _checked(y, scores)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return None
    true_pos, false_pos = _threshold_counts(labels, values)
    precision = true_pos / (true_pos + false_pos)
    recall_gain = np.diff(np.r_[0.0, true_pos]) / n_pos
    return float(np.sum(recall_gain * precision))


def roc_curve(y: ArrayLike, scores: ArrayLike) -> tuple[NDArray, NDArray]:
    """False and true positive rates at each distinct threshold, from (0, 0)."""
    labels, values = _checked(y, scores)
    n_pos = max(int(labels.sum()), 1)
    n_neg = max(labels.size - int(labels.sum()), 1)
    true_pos, false_pos = _threshold_counts(labels, values)
    return np.r_[0.0, false_pos / n_neg], np.r_[0.0, true_pos / n_pos]


def summarise(y: ArrayLike, scores: ArrayLike) -> dict[str, float | None]:
    """AUC and AP of one score, rounded for reports."""
    auc = roc_auc(y, scores)
    ap = average_precision(y, scores)
    return {
        "auc": None if auc is None else round(auc, 4),
        "ap": None if ap is None else round(ap, 4),
    }
