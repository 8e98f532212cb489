"""The scorer: probabilities strictly inside (0, 1) on odd input, and a feature
that was always zero cannot saturate it when it first shows up. (Training runs
inline here; tests/unit/test_training_off_loop.py runs it in its own process.)"""

import pickle
import random

import pytest

from models.features import FEATURE_NAMES
from models.labels import CHURN, PURCHASE
from models.scoring import Scorer
from models.trainer import InlineExecutor

N = len(FEATURE_NAMES)


def trained(seed: int = 3, zero_column: int | None = None) -> Scorer:
    rng = random.Random(seed)
    scorer = Scorer(executor_factory=InlineExecutor)
    for _ in range(2000):
        x = [rng.random() for _ in range(N)]
        if zero_column is not None:
            x[zero_column] = 0.0
        scorer.learn(CHURN, x, int(x[0] > 0.5))
        scorer.learn(PURCHASE, x, int(x[1] > 0.7))
    return scorer


@pytest.mark.parametrize(
    "odd",
    [
        [0.0] * N,
        [1e12] * N,
        [-1e12] * N,
        [float("nan")] * N,
        [float("inf")] * N,
    ],
)
def test_scores_stay_strictly_between_zero_and_one(odd):
    scores = trained().score(odd)
    assert all(0.0 < p < 1.0 for p in scores.values())


def test_learning_does_not_change_its_input():
    scorer = trained()
    x = [0.5] * N
    scorer.learn(CHURN, x, 1)
    assert x == [0.5] * N


def test_a_feature_that_was_always_zero_does_not_saturate_the_model():
    column = FEATURE_NAMES.index("log_viewed_price_mean")
    scorer = trained(zero_column=column)
    x = [0.5] * N
    x[column] = 6.2
    for _ in range(4):
        scorer.learn(PURCHASE, x, 1)
    assert 0.001 < scorer.score(x)[PURCHASE] < 0.999


def test_scorer_pickles_and_seeded_copies_agree():
    a, b = trained(seed=9), trained(seed=9)
    x = [0.3] * N
    restored = pickle.loads(pickle.dumps(a))
    assert restored.score(x) == a.score(x) == b.score(x)


def test_auc_is_undefined_until_both_outcomes_were_seen():
    scorer = Scorer(executor_factory=InlineExecutor)
    for _ in range(10):
        scorer.learn(CHURN, [0.1] * N, 1)
    assert scorer.report()[CHURN]["auc"] is None
    assert scorer.report()[CHURN]["rolling_auc"] is None


def test_a_stale_vector_of_another_length_is_skipped_when_learned():
    scorer = Scorer(executor_factory=InlineExecutor)
    scorer.learn(CHURN, [0.5] * (N - 3), 1)
    assert scorer.skipped == 1
    assert scorer.learned[CHURN] == 0


def test_every_score_names_the_versions_of_every_model():
    scorer = trained()
    versions = scorer.model_versions()
    assert scorer.versions() == {
        CHURN: versions[CHURN]["blend"], PURCHASE: versions[PURCHASE]["blend"]
    }
    assert versions[CHURN]["blend"] == "blend@2000"
    assert versions[CHURN]["logreg"] == "river-logreg@2000"
    assert versions[CHURN]["tree"] == "river-hat@2000"
    # Trained at 500 buffered examples, then every 5000 labels: once so far.
    assert versions[CHURN]["mlp"] == "torch-mlp@1"
    meta = scorer.metadata()[CHURN]
    assert set(meta) == {"logreg", "tree", "mlp", "blend"}
    assert sum(meta[name]["weight"] for name in ("logreg", "tree", "mlp")) == (
        pytest.approx(1.0, abs=1e-3)
    )
    report = scorer.report()[CHURN]
    assert report["models"]["mlp"]["judged"] == 1500
    assert report["network"]["trainings"] == {
        "scheduled": 1, "drift": 0, "failed": 0
    }
