"""The network trains in another process: while a slow job runs, scoring and
learning answer at once; the new weights come in with a new version; they are
checkpointed, and a new scorer started on the directory scores the same."""

from __future__ import annotations

import pickle
import random
import time

import numpy as np

from models.features import FEATURE_NAMES
from models.labels import CHURN
from models.network import ExampleBuffer, NetworkConfig
from models.registry import STATE_FILE, network_file
from models.scoring import Scorer, ScorerConfig
from models.trainer import InlineExecutor

N = len(FEATURE_NAMES)
# The job sleeps this long after training: the calls below run meanwhile.
JOB_DELAY_S = 4.0
# Far above a scoring or learning call, far below the job.
PROMPT_S = 0.25

CONFIG = ScorerConfig(
    network=NetworkConfig(hidden=(8,), epochs=2, buffer_size=2000, min_examples=200),
    retrain_every=10**9,
    checkpoint_every=10**9,
    train_delay_s=JOB_DELAY_S,
)


def example(rng: random.Random) -> tuple[list[float], int]:
    x = [rng.uniform(0.0, 2.0) for _ in range(N)]
    return x, int(x[0] > 1.0)


def test_a_slow_training_blocks_nothing_and_its_weights_survive_a_restart(
    tmp_path,
):
    rng = random.Random(8)
    scorer = Scorer(config=CONFIG, models_dir=tmp_path)
    try:
        # The 200th label fills the buffer enough: the job is submitted.
        for _ in range(200):
            scorer.learn(CHURN, *example(rng))
        assert scorer.report()[CHURN]["network"]["training_now"]

        # While it runs, every call answers promptly and the old version serves.
        started = time.monotonic()
        slowest_s = 0.0
        calls = 0
        while time.monotonic() - started < JOB_DELAY_S / 2:
            x, y = example(rng)
            t0 = time.monotonic()
            scorer.score(x)
            scorer.learn(CHURN, x, y)
            slowest_s = max(slowest_s, time.monotonic() - t0)
            calls += 1
        assert scorer.model_versions()[CHURN]["mlp"] == "torch-mlp@0"
        assert scorer.report()[CHURN]["network"]["training_now"]
        assert calls > 100
        assert slowest_s < PROMPT_S

        # The result is picked up by a later call, under a new version.
        deadline = time.monotonic() + 120.0
        while scorer.model_versions()[CHURN]["mlp"] == "torch-mlp@0":
            assert time.monotonic() < deadline, "training never finished"
            time.sleep(0.05)
            scorer.score(example(rng)[0])
        assert scorer.model_versions()[CHURN]["mlp"] == "torch-mlp@1"
        trained_p = scorer._targets[CHURN].mlp.predict_one([2.0] * N)
        assert trained_p != 0.5
        scorer._registry.flush()
        assert (tmp_path / network_file(CHURN)).exists()
    finally:
        scorer.close()
    assert (tmp_path / STATE_FILE).exists()

    # A new scorer on the same directory: same versions, same scores.
    probes = [example(random.Random(i))[0] for i in range(10)]
    restarted = Scorer(config=CONFIG, models_dir=tmp_path)
    try:
        assert restarted.model_versions() == scorer.model_versions()
        assert [restarted.score(x) for x in probes] == [
            scorer.score(x) for x in probes
        ]
        assert restarted._targets[CHURN].mlp.predict_one([2.0] * N) == trained_p
    finally:
        restarted.close(timeout_s=0)


def test_a_network_checkpoint_alone_is_loaded_at_start(tmp_path):
    """Without the River checkpoint (say it was never written), the network's own
    file still brings its weights back."""
    rng = random.Random(9)
    config = ScorerConfig(
        network=NetworkConfig(hidden=(8,), epochs=2, min_examples=200),
        checkpoint_every=10**9,
    )
    scorer = Scorer(config=config, models_dir=tmp_path,
                    executor_factory=InlineExecutor)
    for _ in range(250):
        scorer.learn(CHURN, *example(rng))
    scorer._registry.flush()
    probe = np.full(N, 1.5)
    expected = scorer._targets[CHURN].mlp.weights.logit(probe)
    scorer._registry.close()

    fresh = Scorer(config=config, models_dir=tmp_path)
    try:
        assert fresh.model_versions()[CHURN]["mlp"] == "torch-mlp@1"
        assert fresh.model_versions()[CHURN]["logreg"] == "river-logreg@0"
        # The network itself; its online calibration lives in scorer.pkl only.
        assert fresh._targets[CHURN].mlp.weights.logit(probe) == expected
    finally:
        fresh.close(timeout_s=0)


def test_closing_does_not_wait_long_for_a_running_training(tmp_path):
    rng = random.Random(10)
    config = ScorerConfig(
        network=NetworkConfig(hidden=(8,), epochs=1, min_examples=200),
        checkpoint_every=10**9,
        train_delay_s=120.0,
    )
    scorer = Scorer(config=config, models_dir=tmp_path)
    for _ in range(200):
        scorer.learn(CHURN, *example(rng))
    assert scorer.report()[CHURN]["network"]["training_now"]
    time.sleep(0.5)  # the job is under way

    started = time.monotonic()
    scorer.close(timeout_s=0.5)
    assert time.monotonic() - started < 10.0
    # Nothing came of the stopped job, and the rest was still checkpointed.
    assert scorer.model_versions()[CHURN]["mlp"] == "torch-mlp@0"
    assert scorer.report()[CHURN]["network"]["trainings"]["failed"] == 0
    assert (tmp_path / STATE_FILE).exists()


def test_the_example_buffer_keeps_the_newest_and_pickles_what_it_holds():
    buffer = ExampleBuffer(capacity=4, n_features=2)
    for i in range(6):
        buffer.add([float(i), -float(i)], i % 2)
    x, y = buffer.snapshot()
    assert x[:, 0].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert y.tolist() == [0, 1, 0, 1] and buffer.positives == 2

    restored = pickle.loads(pickle.dumps(buffer))
    assert restored.snapshot()[0].tolist() == x.tolist()
    restored.add([6.0, -6.0], 1)
    assert restored.snapshot()[0][:, 0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert restored.positives == 3
    empty = pickle.loads(pickle.dumps(ExampleBuffer(capacity=3, n_features=2)))
    assert empty.size == 0 and empty.capacity == 3
