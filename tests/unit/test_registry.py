"""Checkpoint files: whole or absent, ignored when unusable, one writer per
directory."""

from __future__ import annotations

import pickle

import numpy as np

from models.features import FEATURE_NAMES
from models.network import NetworkWeights
from models.registry import STATE_FILE, Registry, atomic_write, network_file


def weights(version: int, names: tuple[str, ...] = FEATURE_NAMES) -> NetworkWeights:
    rng = np.random.default_rng(version)
    n = len(names)
    return NetworkWeights(
        version=version, feature_names=names, mean=rng.normal(size=n),
        scale=rng.random(n) + 0.5,
        layers=((rng.normal(size=(4, n)), rng.normal(size=4)),
                (rng.normal(size=(1, 4)), rng.normal(size=1))),
        trained_on=123, meta={"reason": "test"},
    )


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, b"old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_state_and_network_round_trip(tmp_path):
    registry = Registry(tmp_path)
    registry.save_state({"answer": 42})
    registry.save_network("churn", weights(3))
    registry.close()

    again = Registry(tmp_path)
    assert again.load_state() == {"answer": 42}
    loaded = again.load_network("churn")
    original = weights(3)
    assert loaded.version == 3 and loaded.trained_on == 123
    assert loaded.meta == {"reason": "test"}
    x = np.linspace(-1.0, 1.0, len(FEATURE_NAMES))
    assert loaded.logit(x) == original.logit(x)
    assert again.load_network("purchase") is None


def test_unusable_checkpoints_are_ignored(tmp_path):
    (tmp_path / STATE_FILE).write_bytes(b"not a pickle")
    (tmp_path / network_file("churn")).write_bytes(b"not an npz")
    registry = Registry(tmp_path)
    assert registry.load_state() is None
    assert registry.load_network("churn") is None

    # Written for another feature layout: its columns mean other things.
    other = ("a", "b")
    with open(tmp_path / STATE_FILE, "wb") as f:
        pickle.dump({"format": 1, "feature_names": list(other), "state": {}}, f)
    registry.save_network("purchase", weights(1, other))
    registry.close()
    assert Registry(tmp_path).load_state() is None
    assert Registry(tmp_path).load_network("purchase") is None


def test_a_second_writer_on_one_directory_is_refused(tmp_path):
    first, second = Registry(tmp_path), Registry(tmp_path)
    first.save_state({"by": "first"})
    first.flush()
    assert second.save_state({"by": "second"}) is None  # nothing pickled nor written
    second.close()
    assert not second.writable
    assert Registry(tmp_path).load_state() == {"by": "first"}

    # Once the first lets go, the directory is free again.
    first.close()
    third = Registry(tmp_path)
    third.save_state({"by": "third"})
    third.close()
    assert Registry(tmp_path).load_state() == {"by": "third"}


def test_a_scorer_starts_afresh_from_checkpoints_of_the_older_67_columns(tmp_path):
    from models.labels import PURCHASE
    from models.scoring import Scorer

    old = FEATURE_NAMES[:67]
    with open(tmp_path / STATE_FILE, "wb") as f:
        pickle.dump({"format": 1, "feature_names": list(old), "state": {}}, f)
    registry = Registry(tmp_path)
    registry.save_network(PURCHASE, weights(5, old))
    registry.close()

    scorer = Scorer(models_dir=tmp_path)
    try:
        assert scorer.labels == 0
        assert scorer.model_versions()[PURCHASE]["mlp"] == "torch-mlp@0"
        x = [0.5] * len(FEATURE_NAMES)
        scorer.learn(PURCHASE, x, 1)
        assert 0.0 < scorer.score(x)[PURCHASE] < 1.0
        # A pending moment kept with the old 67 columns is skipped, not learned.
        scorer.learn(PURCHASE, [0.5] * 67, 1)
        assert scorer.skipped == 1 and scorer.learned[PURCHASE] == 1
    finally:
        scorer.close(timeout_s=1.0)
