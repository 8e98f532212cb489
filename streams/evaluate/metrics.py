"""Ranking quality of a score against binary outcomes: ROC-AUC and average precision.

Both handle tied scores the usual way: a tie between a positive and a negative
counts one half in the AUC, and a run of equal scores is one threshold of the
precision-recall curve. :func:`auc_covariance` gives the standard errors of AUCs
judged on the same examples, and of their differences (DeLong, DeLong and
Clarke-Pearson, 1988), so a report can say whether one score really ranks better.
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


def auc_covariance(
    y: ArrayLike, scores: list[ArrayLike]
) -> tuple[NDArray, NDArray] | None:
    """AUCs of several scores on the same examples, and their covariance matrix.

    Each positive's share of negatives it outranks, and each negative's share of
    positives that outrank it (ties: one half), are the AUC's components; the
    covariance is that of their means. The variance of the difference of two
    AUCs is then ``cov[a, a] + cov[b, b] - 2 * cov[a, b]``. Midranks make it
    O(n log n) per score. None when only one class is present.
    """
    labels = _checked(y, scores[0])[0] if scores else np.zeros(0, dtype=bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if not scores or n_pos == 0 or n_neg == 0:
        return None
    # Per score: components over positives (v10) and over negatives (v01).
    v10 = np.empty((len(scores), n_pos))
    v01 = np.empty((len(scores), n_neg))
    for k, values in enumerate(scores):
        values = _checked(labels, values)[1]
        ranks = average_ranks(values)
        pos, neg = values[labels], values[~labels]
        # A positive's rank among all, less its rank among positives, counts
        # the negatives below it (ties one half); likewise for negatives.
        v10[k] = (ranks[labels] - average_ranks(pos)) / n_neg
        v01[k] = 1.0 - (ranks[~labels] - average_ranks(neg)) / n_pos
    aucs = v10.mean(axis=1)
    cov = np.atleast_2d(np.cov(v10)) / n_pos + np.atleast_2d(np.cov(v01)) / n_neg
    return aucs, cov


def auc_standard_errors(
    y: ArrayLike, scores: dict[str, ArrayLike], reference: str
) -> dict[str, dict[str, float]] | None:
    """Per score, the AUC's standard error and, but for ``reference``, its
    difference from the reference's AUC with that difference's standard error
    (both judged on the same examples, so the errors are paired)."""
    names = list(scores)
    found = auc_covariance(y, [scores[name] for name in names])
    if found is None:
        return None
    aucs, cov = found
    ref = names.index(reference)
    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(names):
        figures = {"auc_se": round(float(np.sqrt(max(cov[k, k], 0.0))), 4)}
        if k != ref:
            var = cov[ref, ref] + cov[k, k] - 2.0 * cov[ref, k]
            figures[f"{reference}_minus_auc"] = round(float(aucs[ref] - aucs[k]), 4)
            figures[f"{reference}_minus_auc_se"] = round(
                float(np.sqrt(max(var, 0.0))), 4
            )
        out[name] = figures
    return out


def summarise(y: ArrayLike, scores: ArrayLike) -> dict[str, float | None]:
    """AUC and AP of one score, rounded for reports."""
    auc = roc_auc(y, scores)
    ap = average_precision(y, scores)
    return {
        "auc": None if auc is None else round(auc, 4),
        "ap": None if ap is None else round(ap, 4),
    }
