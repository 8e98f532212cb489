"""One contract, every model: the logistic regression, the tree, the network and the
scorer that blends them.

Each must leave its input alone, pickle and restore with the same predictions, agree
with a copy built from the same seed, and keep its probabilities finite and strictly
inside (0, 1) on odd input: a feature that was always missing, a category where a
number belongs, values a million times larger than usual, a field nobody declared.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from models.features import FEATURE_NAMES
from models.labels import CHURN
from models.network import NetworkConfig, NetworkModel
from models.river_models import LogisticModel, TreeModel
from models.scoring import Scorer, ScorerConfig
from models.trainer import InlineExecutor, TrainJob, train

N = len(FEATURE_NAMES)
# Never sent during warm-up: "a feature that has only ever been missing".
ABSENT = FEATURE_NAMES[N - 2]
SMALL_NETWORK = NetworkConfig(
    hidden=(8,), epochs=2, buffer_size=1000, min_examples=100, min_per_class=5
)


def example(rng: random.Random) -> tuple[dict[str, float], int]:
    """A feature dict without ABSENT, and a label that depends on two features."""
    x = {name: rng.uniform(0.0, 5.0) for name in FEATURE_NAMES if name != ABSENT}
    score = x[FEATURE_NAMES[0]] - x[FEATURE_NAMES[5]] + rng.gauss(0.0, 1.0)
    return x, int(score > 0.0)


class Adapter:
    """The common face of a model in this test: learn(x, y) and predict(x)."""

    def __init__(self, model: Any, learn: Callable, predict: Callable) -> None:
        self.model, self._learn, self._predict = model, learn, predict

    def learn(self, x: Any, y: int) -> None:
        self._learn(self.model, x, y)

    def predict(self, x: Any) -> float:
        return self._predict(self.model, x)

    def pickled(self) -> Adapter:
        return Adapter(pickle.loads(pickle.dumps(self.model)), self._learn,
                       self._predict)


def warm(adapter: Adapter, seed: int, n: int = 600) -> Adapter:
    rng = random.Random(seed)
    for _ in range(n):
        adapter.learn(*example(rng))
    return adapter


def river_model(cls: type) -> Callable[[int], Adapter]:
    def make(seed: int) -> Adapter:
        return warm(
            Adapter(cls(seed), lambda m, x, y: m.learn_one(x, y),
                    lambda m, x: m.predict_one(x)),
            seed,
        )
    return make


def network(seed: int) -> Adapter:
    """A network trained (in this process) on its warm-up buffer."""
    adapter = warm(
        Adapter(NetworkModel(seed, SMALL_NETWORK), lambda m, x, y: m.learn_one(x, y),
                lambda m, x: m.predict_one(x)),
        seed,
    )
    model = adapter.model
    x, y = model.buffer.snapshot()
    job = TrainJob(CHURN, 1, x, y, FEATURE_NAMES, seed, SMALL_NETWORK, "test")
    assert model.install(train(job).weights)
    return adapter


def scorer(seed: int) -> Adapter:
    config = ScorerConfig(
        seed=seed, network=SMALL_NETWORK, retrain_every=300, reweigh_every=50,
        figures_every=100, min_judged=50, window=500,
    )
    model = Scorer(config=config, executor_factory=InlineExecutor)
    adapter = warm(
        Adapter(model, lambda m, x, y: m.learn(CHURN, x, y),
                lambda m, x: m.score(x)[CHURN]),
        seed,
    )
    # Every model has a say in the blend, so the contract covers the mix.
    assert model.model_versions()[CHURN]["mlp"] != "torch-mlp@0"
    return adapter


MODELS = {
    "logreg": river_model(LogisticModel),
    "tree": river_model(TreeModel),
    "mlp": network,
    "scorer": scorer,
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def make(request: pytest.FixtureRequest) -> Callable[[int], Adapter]:
    return MODELS[request.param]


@pytest.fixture(scope="module")
def trained(make: Callable[[int], Adapter]) -> Adapter:
    return make(7)


def probes() -> list[dict[str, float]]:
    rng = random.Random(99)
    return [example(rng)[0] for _ in range(20)]


def odd_inputs() -> dict[str, Any]:
    x, _ = example(random.Random(5))
    as_list = [x.get(name, 0.0) for name in FEATURE_NAMES]
    return {
        "absent_feature_appears_huge": {**x, ABSENT: 1e9},
        "absent_feature_missing": dict(x),
        "category_where_a_number_belongs": {**x, FEATURE_NAMES[0]: "electronics"},
        "unseen_field_with_a_category": {**x, "channel": "tv", "coupon": None},
        "million_times_larger": [v * 1e6 for v in as_list],
        "million_times_larger_negative": [-v * 1e6 for v in as_list],
        "nan_and_infinity": [
            (math.nan, math.inf, -math.inf)[i % 3] for i in range(N)
        ],
        "all_zero": [0.0] * N,
        "empty_dict": {},
    }


def test_learning_and_scoring_leave_the_input_unchanged(trained: Adapter) -> None:
    model = copy.deepcopy(trained)
    x_dict, _ = example(random.Random(3))
    x_list = [x_dict.get(name, 0.0) for name in FEATURE_NAMES]
    for x in (x_dict, x_list):
        before = copy.deepcopy(x)
        model.predict(x)
        model.learn(x, 1)
        model.learn(x, 0)
        assert x == before


def test_a_pickled_model_predicts_the_same_and_learns_the_same(
    trained: Adapter,
) -> None:
    model = copy.deepcopy(trained)
    restored = model.pickled()
    assert [restored.predict(x) for x in probes()] == [
        model.predict(x) for x in probes()
    ]
    rng = random.Random(11)
    for _ in range(50):
        x, y = example(rng)
        model.learn(x, y)
        restored.learn(x, y)
    assert [restored.predict(x) for x in probes()] == [
        model.predict(x) for x in probes()
    ]


def test_two_models_built_from_one_seed_agree(
    make: Callable[[int], Adapter], trained: Adapter
) -> None:
    again = make(7)
    assert [again.predict(x) for x in probes()] == [
        trained.predict(x) for x in probes()
    ]


def test_scores_stay_finite_and_strictly_inside_zero_one_on_odd_input(
    trained: Adapter,
) -> None:
    model = copy.deepcopy(trained)
    for name, x in odd_inputs().items():
        p = model.predict(x)
        assert math.isfinite(p) and 0.0 < p < 1.0, name
        model.learn(x, 1)
        model.learn(x, 0)
    # Having learned from all that, it still scores ordinary input sensibly.
    for x in probes():
        p = model.predict(x)
        assert math.isfinite(p) and 0.0 < p < 1.0


def test_a_vector_of_the_wrong_length_is_refused_when_scored(
    trained: Adapter,
) -> None:
    with pytest.raises(ValueError, match=f"expected {N} features"):
        trained.predict([0.0] * (N + 1))
