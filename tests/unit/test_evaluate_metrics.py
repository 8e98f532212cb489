"""AUC and average precision against examples worked by hand."""

import numpy as np
import pytest

from streams.evaluate.metrics import (
    auc_covariance,
    auc_standard_errors,
    average_precision,
    average_ranks,
    roc_auc,
    roc_curve,
    summarise,
)


def test_ranks_of_equal_values_are_their_mean_rank():
    assert average_ranks([5, 1, 5, 3, 5]).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_auc_counts_pairs_the_positive_wins():
    # Pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes: 3/4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auc_counts_a_tie_between_classes_as_half():
    # Pairs: (0.9 vs 0.9) 1/2, (0.9 vs 0.1) 1, (0.5 vs 0.9) 0, (0.5 vs 0.1) 1.
    assert roc_auc([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1]) == pytest.approx(2.5 / 4)
    assert roc_auc([0, 1, 0, 1], [3, 3, 3, 3]) == pytest.approx(0.5)


def test_auc_of_a_perfect_and_a_reversed_ranking():
    y = [0, 0, 0, 1, 1]
    assert roc_auc(y, [1, 2, 3, 4, 5]) == 1.0
    assert roc_auc(y, [5, 4, 3, 2, 1]) == 0.0


def test_auc_is_undefined_with_one_class():
    assert roc_auc([1, 1], [0.2, 0.3]) is None
    assert roc_auc([0, 0], [0.2, 0.3]) is None


def test_auc_equals_the_pairwise_count_on_random_data_with_ties():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 20, 300).astype(float)
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (
        pos[:, None] == neg[None, :]
    ).sum()
    assert roc_auc(y, s) == pytest.approx(wins / (pos.size * neg.size))


def test_average_precision_weights_precision_by_recall_gained():
    # Ranked 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg):
    # recall 1/2 at precision 1, recall 1 at precision 2/3.
    ap = average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_average_precision_takes_a_run_of_ties_as_one_threshold():
    # Threshold 0.9 holds one positive and one negative: precision 1/2, recall
    # 1/2. Threshold 0.5 adds the second positive: precision 2/3, recall 1.
    ap = average_precision([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1])
    assert ap == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert average_precision([0, 1, 0, 1], [1, 1, 1, 1]) == pytest.approx(0.5)


def test_average_precision_of_a_perfect_ranking_is_one_and_needs_a_positive():
    assert average_precision([0, 1, 1], [0.1, 0.7, 0.9]) == pytest.approx(1.0)
    assert average_precision([0, 0], [0.1, 0.2]) is None


def test_roc_curve_runs_from_origin_to_one_one():
    fpr, tpr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)


def test_mismatched_or_non_binary_input_is_refused():
    with pytest.raises(ValueError, match="labels"):
        roc_auc([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.5, 0.6])
    with pytest.raises(ValueError, match="finite"):
        average_precision([0, 1], [0.5, float("nan")])


def test_summarise_rounds_both_figures():
    assert summarise([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == {
        "auc": 0.75, "ap": 0.8333,
    }


def test_the_docstring_examples_hold():
    import doctest

    from streams.evaluate import metrics

    assert doctest.testmod(metrics).failed == 0


def _components_by_pairs(y, values):
    """The AUC's components the slow way: every positive against every negative."""
    y = np.asarray(y, dtype=bool)
    values = np.asarray(values, dtype=float)
    pos, neg = values[y], values[~y]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return wins.mean(axis=1), wins.mean(axis=0)


def test_auc_covariance_matches_the_pairwise_components_with_ties():
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.3
    a = np.round(rng.random(300) + 0.5 * y, 1)  # ties on purpose
    b = np.round(rng.random(300) + 0.2 * y, 2)
    aucs, cov = auc_covariance(y, [a, b])
    (a10, a01), (b10, b01) = _components_by_pairs(y, a), _components_by_pairs(y, b)
    assert aucs == pytest.approx([a10.mean(), b10.mean()])
    assert aucs[0] == pytest.approx(roc_auc(y, a))
    m, n = a10.size, a01.size
    expected_ab = np.cov(a10, b10)[0, 1] / m + np.cov(a01, b01)[0, 1] / n
    assert cov[0, 1] == pytest.approx(expected_ab)
    assert cov[0, 0] == pytest.approx(a10.var(ddof=1) / m + a01.var(ddof=1) / n)


def test_standard_errors_shrink_with_more_examples_and_pair_the_difference():
    rng = np.random.default_rng(5)

    def figures(n):
        y = rng.random(n) < 0.4
        score = rng.random(n) + 0.6 * y
        # A copy with a little noise: nearly the same ranking.
        twin = score + 0.01 * rng.random(n)
        return auc_standard_errors(y, {"stream": score, "twin": twin}, "stream")

    small, large = figures(400), figures(40_000)
    assert large["stream"]["auc_se"] < small["stream"]["auc_se"] / 5
    # Paired: the difference of two near-identical scores is known far better
    # than either AUC alone.
    assert large["twin"]["stream_minus_auc_se"] < large["stream"]["auc_se"] / 5
    assert "stream_minus_auc" not in large["stream"]
    assert auc_standard_errors([1, 1], {"stream": [0.1, 0.2]}, "stream") is None
