"""Progressive figures checked against references computed by hand or brute force,
the blend's weights, and the docstring examples of the models package."""

from __future__ import annotations

import doctest
import importlib
import math
import random

import numpy as np
import pytest

from models.blend import Blend
from models.evaluation import Progressive, roc_auc

DOCUMENTED = (
    "models.vectors", "models.evaluation", "models.blend", "models.calibration",
)


@pytest.mark.parametrize("module", DOCUMENTED)
def test_docstring_examples_run(module):
    result = doctest.testmod(
        importlib.import_module(module), optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0 and result.failed == 0


def brute_force_auc(y, p):
    pos = [pi for yi, pi in zip(y, p, strict=True) if yi]
    neg = [pi for yi, pi in zip(y, p, strict=True) if not yi]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def test_rolling_auc_equals_the_pairwise_count_with_ties():
    rng = random.Random(4)
    y = [int(rng.random() < 0.3) for _ in range(400)]
    # Scores on a coarse grid, so that many tie.
    p = [round(min(max(0.3 * yi + rng.random() * 0.7, 0.01), 0.99), 1) for yi in y]
    e = Progressive(window=1000)
    for yi, pi in zip(y, p, strict=True):
        e.update(yi, pi)
    assert e.rolling_auc() == pytest.approx(brute_force_auc(y, p), abs=1e-12)
    # The long-run figure comes from 1000-bin histograms: equal here, since every
    # score falls on its own bin.
    assert e.auc() == pytest.approx(brute_force_auc(y, p), abs=1e-12)


def test_rolling_figures_cover_only_the_window():
    e = Progressive(window=3)
    for y, p in [(1, 0.1), (0, 0.9), (1, 0.8), (0, 0.3), (1, 0.6)]:
        e.update(y, p)
    # The window holds the last three: (1, 0.8), (0, 0.3), (1, 0.6).
    assert e.rolling_auc() == 1.0
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.6)) / 3
    assert e.rolling_log_loss() == pytest.approx(expected)
    # The long-run log loss covers all five.
    report = e.report()
    assert report["judged"] == 5 and report["positives"] == 3
    all_five = -(
        math.log(0.1) + math.log(0.1) + math.log(0.8) + math.log(0.7)
        + math.log(0.6)
    ) / 5
    assert report["log_loss"] == pytest.approx(all_five, abs=1e-4)


def test_expected_calibration_error_by_hand():
    e = Progressive(window=10)
    # Bin 0.2-0.3: scores 0.25 x2, outcomes 0, 1 -> gap |0.25 - 0.5|, weight 2/4.
    # Bin 0.9-1.0: scores 0.95 x2, outcomes 0, 0 -> gap |0.95 - 0|, weight 2/4.
    for y, p in [(0, 0.25), (1, 0.25), (0, 0.95), (0, 0.95)]:
        e.update(y, p)
    ece, mean_score, rate = e.calibration()
    assert ece == pytest.approx(0.25 * 2 / 4 + 0.95 * 2 / 4)
    assert mean_score == pytest.approx(0.6)
    assert rate == pytest.approx(0.25)


def test_auc_is_undefined_until_both_outcomes_were_seen():
    e = Progressive(window=10)
    for _ in range(5):
        e.update(1, 0.7)
    assert e.auc() is None and e.rolling_auc() is None
    assert roc_auc(np.array([1.0, 1.0]), np.array([0.2, 0.4])) is None


def test_the_blend_follows_recent_log_loss():
    blend = Blend(("logreg", "tree", "mlp"), fallback="logreg")
    assert blend.weights == {"logreg": 1.0}
    # The network is not judged yet: it has no say.
    blend.reweigh({"logreg": 0.40, "tree": 0.40, "mlp": None})
    assert blend.weights == {"logreg": 0.5, "tree": 0.5}
    # A model 0.1 nats worse falls below the floor and leaves the mix.
    blend.reweigh({"logreg": 0.50, "tree": 0.40, "mlp": 0.41})
    assert set(blend.weights) == {"tree", "mlp"}
    assert blend.weights["tree"] == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert sum(blend.weights.values()) == pytest.approx(1.0)
    # Nothing eligible: back to the fallback alone.
    blend.reweigh({"logreg": None, "tree": float("nan"), "mlp": None})
    assert blend.weights == {"logreg": 1.0}
