"""The adaptive tree's probabilities read in place against River's own."""

from __future__ import annotations

import pickle
import random

from river import tree

from models.hat import AdaptiveTree, MajorityLeaf, hat_proba_one
from models.river_models import TreeModel

FEATURES = ("a", "b", "c", "d")


def drifting_stream(seed: int, n: int) -> list[tuple[dict[str, float], bool]]:
    """A label that follows one feature, then another, then the first inverted:
    enough for the tree to split, grow alternate trees and switch to them."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x = {name: rng.uniform(0.0, 1.0) for name in FEATURES}
        x["d"] = rng.choice([0.0, 1e6])
        phase = 3 * i // n
        if phase == 0:
            y = x["a"] > 0.5
        elif phase == 1:
            y = x["b"] + 0.1 * rng.random() > 0.6
        else:
            y = x["a"] < 0.3
        rows.append((x, y))
    return rows


def test_probabilities_match_river_while_the_tree_grows_and_adapts() -> None:
    model = tree.HoeffdingAdaptiveTreeClassifier(
        grace_period=50, max_depth=6, leaf_prediction="mc", seed=3
    )
    probe = drifting_stream(9, 50)
    alternates = 0
    assert hat_proba_one(model, probe[0][0]) == model.predict_proba_one(probe[0][0])
    for i, (x, y) in enumerate(drifting_stream(1, 9000)):
        assert hat_proba_one(model, x) == model.predict_proba_one(x)
        model.learn_one(x, y)
        if i % 500 == 0:
            for p, _ in probe:
                assert hat_proba_one(model, p) == model.predict_proba_one(p)
        alternates = max(alternates, model.n_alternate_trees)
    assert model.height > 1
    assert alternates > 0


def test_a_missing_feature_takes_rivers_road() -> None:
    model = tree.HoeffdingAdaptiveTreeClassifier(
        grace_period=50, leaf_prediction="mc", seed=1
    )
    for x, y in drifting_stream(2, 2000):
        model.learn_one(x, y)
    for x, _ in drifting_stream(4, 100):
        del x["a"]
        assert hat_proba_one(model, x) == model.predict_proba_one(x)


def test_adaptive_tree_learns_and_predicts_as_rivers_tree() -> None:
    ours = AdaptiveTree(grace_period=50, max_depth=6, leaf_prediction="mc", seed=7)
    theirs = tree.HoeffdingAdaptiveTreeClassifier(
        grace_period=50, max_depth=6, leaf_prediction="mc", seed=7
    )
    probe = [x for x, _ in drifting_stream(5, 30)]
    for i, (x, y) in enumerate(drifting_stream(6, 9000)):
        assert ours.predict_proba_one(x) == theirs.predict_proba_one(x)
        ours.learn_one(x, y)
        theirs.learn_one(x, y)
        if i % 300 == 0:
            for p in probe:
                assert ours.predict_proba_one(p) == theirs.predict_proba_one(p)
    assert ours.summary == theirs.summary
    assert ours.n_alternate_trees > 0 or ours.n_switch_alternate_trees > 0


def test_adaptive_tree_pickles_and_goes_on_learning_the_same() -> None:
    model = AdaptiveTree(grace_period=50, leaf_prediction="mc", seed=2)
    rows = drifting_stream(8, 4000)
    for x, y in rows[:3000]:
        model.learn_one(x, y)
    copy = pickle.loads(pickle.dumps(model))
    for x, y in rows[3000:]:
        assert copy.predict_proba_one(x) == model.predict_proba_one(x)
        copy.learn_one(x, y)
        model.learn_one(x, y)
    assert copy.summary == model.summary


def test_a_tree_from_an_older_checkpoint_is_upgraded_and_agrees() -> None:
    old = tree.HoeffdingAdaptiveTreeClassifier(
        grace_period=50, max_depth=6, leaf_prediction="mc", seed=4
    )
    rows = drifting_stream(11, 9000)
    for x, y in rows[:5000]:
        old.learn_one(x, y)
    model = TreeModel(seed=4)
    model.tree = old
    model.features = FEATURES

    restored = pickle.loads(pickle.dumps(model))

    assert type(restored.tree) is AdaptiveTree
    leaves = list(restored.tree._root.iter_leaves())
    assert leaves and all(type(leaf) is MajorityLeaf for leaf in leaves)
    for x, y in rows[5000:]:
        assert restored.tree.predict_proba_one(x) == old.predict_proba_one(x)
        restored.tree.learn_one(x, y)
        old.learn_one(x, y)
    assert restored.tree.summary == old.summary
