"""Drift: a lasting shift in the models' errors retrains the network once; a burst
that passes retrains nothing."""

from __future__ import annotations

import random

from models.drift import DriftMonitor
from models.features import FEATURE_NAMES
from models.labels import CHURN
from models.network import NetworkConfig
from models.scoring import Scorer, ScorerConfig
from models.trainer import InlineExecutor

N = len(FEATURE_NAMES)


def flipped_stream(n_before: int, n_after: int, seed: int = 1):
    """Labels follow feature 0 (with 5% noise), then the opposite of it."""
    rng = random.Random(seed)
    for i in range(n_before + n_after):
        x = [rng.uniform(0.0, 2.0) for _ in range(N)]
        y = int(x[0] > 1.0) ^ int(rng.random() < 0.05)
        yield (y if i < n_before else 1 - y), x


def test_a_concept_flip_causes_exactly_one_extra_network_retraining():
    config = ScorerConfig(
        network=NetworkConfig(hidden=(8,), epochs=3, buffer_size=4000,
                              min_examples=300),
        retrain_every=2500, window=2000, min_judged=100, drift_cooldown=5000,
    )
    scorer = Scorer(config=config, executor_factory=InlineExecutor)
    before, after = 6000, 8000
    drift_at = []
    for i, (y, x) in enumerate(flipped_stream(before, after)):
        drifts = scorer.drift.drifts.get(CHURN, 0)
        scorer.learn(CHURN, x, y)
        if scorer.drift.drifts.get(CHURN, 0) > drifts:
            drift_at.append(i)

    report = scorer.report()[CHURN]
    trainings = report["network"]["trainings"]
    assert report["drifts"] == 1
    # Seen after the flip, and soon: within the confirmation delay plus a few
    # hundred examples for ADWIN to cut.
    assert before < drift_at[0] < before + 2000
    assert trainings["drift"] == 1
    assert trainings["failed"] == 0
    # The scheduled ones went on as usual: the first at 300 buffered examples,
    # then every 2500 labels.
    assert trainings["scheduled"] >= 4
    # And the models recovered: judged on the last 2000 labels, the blend ranks
    # well again.
    assert report["rolling_auc"] > 0.85


def test_a_burst_of_errors_that_passes_is_not_a_drift():
    monitor = DriftMonitor(cooldown=1000, warmup=100, confirm=500)
    rng = random.Random(2)
    declared = 0
    for i in range(6000):
        monitor.tick(CHURN)
        # Errors around 0.1, except 300 examples around 0.9 (a sweep's burst).
        level = 0.9 if 3000 <= i < 3300 else 0.1
        error = min(max(rng.gauss(level, 0.05), 0.0), 1.0)
        declared += monitor.update(CHURN, "logreg", error)
    assert declared == 0
    assert monitor.dismissed[CHURN] >= 1


def test_several_models_seeing_one_shift_make_one_drift():
    monitor = DriftMonitor(cooldown=3000, warmup=100, confirm=300)
    rng = random.Random(3)
    declared = 0
    for i in range(6000):
        monitor.tick(CHURN)
        for model, lag in (("logreg", 0), ("tree", 150), ("mlp", 400)):
            level = 0.7 if i >= 3000 + lag else 0.2
            error = min(max(rng.gauss(level, 0.1), 0.0), 1.0)
            declared += monitor.update(CHURN, model, error)
    assert declared == 1
    assert monitor.drifts == {CHURN: 1}
