"""The array scaler against River's StandardScaler, alone and inside the logistic
model: same statistics, same scaled values, same probabilities."""

from __future__ import annotations

import pickle
import random

import pytest
from river import compose, linear_model, optim, preprocessing

from models.features import FEATURE_NAMES
from models.river_models import (
    LEARNING_RATE,
    LogisticModel,
    clip_scaled,
    with_array_scaler,
)
from models.scaling import ArrayScaler
from models.vectors import bounded, prepare

NAMES = FEATURE_NAMES[:6]


def odd_stream(seed: int, n: int = 400) -> list[dict[str, float]]:
    """Dicts over NAMES: ordinary values, values of 1e6, ints, a feature constant
    for a while and then changing, one never sent, keys missing now and then, and
    some in another order."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x = {name: rng.gauss(0.0, 3.0) for name in NAMES[:3]}
        x[NAMES[3]] = 2.0 if i < n // 2 else rng.uniform(0.0, 1.0)
        x[NAMES[4]] = rng.choice([0.0, 1e6, -1e6, 7])
        if rng.random() < 0.1:
            del x[NAMES[rng.randrange(3)]]
        if rng.random() < 0.05:
            x = dict(reversed(list(x.items())))
        rows.append(x)
    return rows


def full_row(x: dict[str, float]) -> dict[str, float]:
    """All NAMES in order (the fast path), NAMES[5] always 0."""
    return {name: x.get(name, 0.0) for name in NAMES}


@pytest.mark.parametrize("complete", [True, False], ids=["in_order", "any_keys"])
def test_array_scaler_matches_rivers_standard_scaler(complete: bool) -> None:
    ours, theirs = ArrayScaler(NAMES), preprocessing.StandardScaler()
    for x in odd_stream(1):
        x = full_row(x) if complete else x
        assert ours.transform_one(x) == pytest.approx(
            theirs.transform_one(x), rel=1e-12, abs=1e-12
        )
        ours.learn_one(x)
        theirs.learn_one(x)
    for i, name in enumerate(NAMES):
        assert ours.counts[i] == theirs.counts.get(name, 0)
        assert ours.means[i] == pytest.approx(theirs.means[name], rel=1e-12)
        assert ours.vars[i] == pytest.approx(theirs.vars[name], rel=1e-12)


def test_a_feature_constant_so_far_scales_to_zero_then_moves() -> None:
    scaler = ArrayScaler(NAMES)
    for _ in range(5):
        scaler.learn_one(full_row({NAMES[0]: 3.0}))
    assert scaler.transform_one(full_row({NAMES[0]: 1e6}))[NAMES[0]] == 0.0
    scaler.learn_one(full_row({NAMES[0]: 4.0}))
    reference = preprocessing.StandardScaler()
    for value in [3.0] * 5 + [4.0]:
        reference.learn_one({NAMES[0]: value})
    assert scaler.transform_one(full_row({NAMES[0]: 5.0}))[NAMES[0]] == (
        pytest.approx(reference.transform_one({NAMES[0]: 5.0})[NAMES[0]], rel=1e-12)
    )


def test_keys_outside_the_names_are_scaled_as_river_would() -> None:
    ours, theirs = ArrayScaler(NAMES), preprocessing.StandardScaler()
    for i in range(50):
        x = {NAMES[0]: float(i), "unheard_of": float(i % 7)}
        ours.learn_one(x)
        theirs.learn_one(x)
    x = {"unheard_of": 3.5, NAMES[0]: 2.0}
    assert ours.transform_one(x) == pytest.approx(theirs.transform_one(x), rel=1e-12)


def river_pipeline() -> compose.Pipeline:
    """The logistic model as it was built before the array scaler."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        compose.FuncTransformer(clip_scaled),
        linear_model.LogisticRegression(
            optimizer=optim.SGD(LEARNING_RATE), l2=1e-4, clip_gradient=5.0
        ),
    )


def feature_rows(seed: int, n: int) -> list[tuple[dict[str, float], int]]:
    """Full feature dicts (as Vector.named builds them) with a learnable label;
    a feature constant for half the stream, one at 1e6 at times."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        raw = {name: rng.uniform(0.0, 5.0) for name in FEATURE_NAMES}
        raw[FEATURE_NAMES[3]] = 1.0 if i < n // 2 else rng.uniform(0.0, 9.0)
        raw[FEATURE_NAMES[7]] = 1e6 if rng.random() < 0.02 else 0.5
        raw[FEATURE_NAMES[-1]] = 0.0
        y = int(raw[FEATURE_NAMES[0]] - raw[FEATURE_NAMES[5]] + rng.gauss(0, 1) > 0)
        rows.append((prepare(raw).named(), y))
    return rows


def test_logistic_model_predicts_as_with_rivers_scaler() -> None:
    model, reference = LogisticModel(), river_pipeline()
    for x, y in feature_rows(3, 1500):
        expected = reference.predict_proba_one(x)[True]
        assert model.pipeline.predict_proba_one(x)[True] == pytest.approx(
            expected, abs=1e-9
        )
        assert model.predict_one(x) == pytest.approx(bounded(expected), abs=1e-9)
        model.learn_one(x, y)
        reference.learn_one(x, bool(y))

    ours = list(model.pipeline.steps.values())[-1]
    theirs = list(reference.steps.values())[-1]
    expected_weights = theirs._weights.to_dict()
    assert ours._weights.to_dict() == pytest.approx(expected_weights, abs=1e-12)
    assert ours.intercept == pytest.approx(theirs.intercept, abs=1e-12)


def test_scores_on_arrays_match_the_pipeline_on_odd_input() -> None:
    model = LogisticModel()
    for x, y in feature_rows(6, 800):
        model.learn_one(x, y)
    rng = random.Random(2)
    odd = [
        {},
        {FEATURE_NAMES[0]: 1e6, FEATURE_NAMES[3]: -1e6},
        {name: 1e6 for name in FEATURE_NAMES},
        {name: rng.uniform(-50.0, 50.0) for name in FEATURE_NAMES[::3]},
        {FEATURE_NAMES[-1]: 3.0},  # never anything but 0 while learning
    ]
    for x in odd:
        named = prepare(x).named()
        expected = bounded(model.pipeline.predict_proba_one(named)[True])
        assert model.predict_one(x) == pytest.approx(expected, abs=1e-9)


def test_a_checkpoint_with_rivers_scaler_restores_with_the_same_predictions() -> None:
    old = LogisticModel()
    old.pipeline = river_pipeline()
    rows = feature_rows(4, 600)
    for x, y in rows[:500]:
        old.learn_one(x, y)

    restored = pickle.loads(pickle.dumps(old))

    assert isinstance(next(iter(restored.pipeline.steps.values())), ArrayScaler)
    for x, y in rows[500:]:
        assert restored.predict_one(x) == pytest.approx(old.predict_one(x), abs=1e-9)
        restored.learn_one(x, y)
        old.learn_one(x, y)


def test_array_scaler_pickles_with_its_statistics() -> None:
    scaler = ArrayScaler(NAMES)
    for x in odd_stream(5, 100):
        scaler.learn_one(x)
    copy = pickle.loads(pickle.dumps(scaler))
    x = full_row({NAMES[0]: 1.5, NAMES[4]: 1e6})
    assert copy.transform_one(x) == scaler.transform_one(x)
    assert with_array_scaler(LogisticModel().pipeline).steps.keys() == (
        LogisticModel().pipeline.steps.keys()
    )
