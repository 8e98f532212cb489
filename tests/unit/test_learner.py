"""The learner process: it learns what an in-process scorer learns, in the same
order, and the worker's scores follow its snapshots; a learner that dies is
started again without stopping the scores."""

from __future__ import annotations

import os
import pickle
import random
import signal
import threading
import time
from multiprocessing import get_context

import orjson
import pytest

from models.features import FEATURE_NAMES
from models.labels import CHURN, PURCHASE
from models.learner import LearnerClient, _Channel, snapshot
from models.network import NetworkConfig
from models.scoring import Scorer, ScorerConfig
from models.vectors import prepare

# The network never trains here: when its weights arrive depends on a training
# process's timing, and with it the blend; everything else is deterministic.
CONFIG = ScorerConfig(network=NetworkConfig(min_examples=10**9), reweigh_every=50)


def examples(n: int, seed: int = 3) -> list[tuple[str, list[float], int]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = [rng.random() for _ in FEATURE_NAMES]
        x[5] *= 1e6 if i % 97 == 0 else 1.0  # now and then, a wild value
        y = int(x[0] + 0.5 * rng.random() > 0.8)
        out.append((CHURN if i % 2 else PURCHASE, x, y))
    return out


def wait_until_learned(client: LearnerClient, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while client.learned[CHURN] + client.learned[PURCHASE] < n:
        assert time.monotonic() < deadline, client.stats()
        time.sleep(0.05)
        client.poll()


@pytest.fixture
def client():
    learner = LearnerClient(CONFIG, models_dir=None, snapshot_s=0.05)
    yield learner
    learner.close()


def test_the_learner_process_learns_what_an_inline_scorer_learns(client):
    inline = Scorer(config=CONFIG)
    probes = [x for _, x, _ in examples(20, seed=9)]
    for target, x, y in examples(3000):
        inline.learn(target, x, y)
        client.learn(target, x, y)
    client.flush()
    wait_until_learned(client, 3000)

    assert client.backlog == 0
    assert client.versions() == inline.versions()
    assert client.model_versions() == inline.model_versions()
    for x in probes:
        assert client.score(x) == inline.score(x)
    assert client.report()[CHURN]["learned"] == inline.report()[CHURN]["learned"]
    # Score messages embed the snapshot's figures, serialised once.
    message = orjson.loads(orjson.dumps({"models": client.published_metadata()}))
    assert message["models"] == inline.metadata() == client.metadata()
    inline.close()


def test_scores_stay_finite_and_inside_0_1_before_any_snapshot_of_learning(client):
    for x in ([0.0] * len(FEATURE_NAMES), [1e12] * len(FEATURE_NAMES)):
        scores = client.score(x)
        assert set(scores) == {CHURN, PURCHASE}
        assert all(0.0 < s < 1.0 for s in scores.values())


def test_a_killed_learner_is_started_again_and_what_it_had_not_learned_counted(
    client,
):
    batch = examples(2000)
    for target, x, y in batch[:1000]:
        client.learn(target, x, y)
    client.flush()
    wait_until_learned(client, 1000)
    before = client.score(batch[0][1])

    os.kill(client.stats()["pid"], signal.SIGKILL)
    for target, x, y in batch[1000:]:
        client.learn(target, x, y)  # handed to a dead learner: lost
    client.flush()
    deadline = time.monotonic() + 30
    while client.restarts == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        client.poll()
        # Scores go on from the last snapshot meanwhile.
        assert client.score(batch[0][1]) == before

    stats = client.stats()
    assert stats["restarts"] == 1
    assert stats["lost"] == 1000
    assert stats["backlog"] == 0
    # Without a checkpoint the new learner starts afresh, and learns on.
    for target, x, y in batch[:200]:
        client.learn(target, x, y)
    client.flush()
    deadline = time.monotonic() + 60
    while client.stats()["learned"] < 200:  # by the new learner
        assert time.monotonic() < deadline, client.stats()
        time.sleep(0.05)
        client.poll()
    wait_until_learned(client, 200)
    assert client.stats()["alive"]
    assert client.stats()["rss_mb"] > 10


def test_close_lets_the_learner_finish_and_checkpoint(tmp_path):
    learner = LearnerClient(CONFIG, models_dir=tmp_path, snapshot_s=60)
    for target, x, y in examples(1500):
        learner.learn(target, x, y)
    learner.close()  # queued examples are handed over, learned, checkpointed
    learner.close()  # a second close does nothing
    assert learner.processed == 1500

    restored = Scorer(config=CONFIG, models_dir=tmp_path)
    assert restored.labels == 1500
    assert restored.versions() == learner.versions()
    restored.close()


def test_a_snapshot_scores_as_the_scorer_does_without_the_trees_split_statistics():
    scorer = Scorer(config=CONFIG)
    for target, x, y in examples(6000):
        scorer.learn(target, x, y)
    blob = snapshot(scorer, processed=6000)
    views = pickle.loads(blob)["views"]
    for target in (CHURN, PURCHASE):
        t = scorer._targets[target]
        assert any(model.name == "tree" for model, _ in t.active)
        for x in (x for _, x, _ in examples(200, seed=11)):
            v = prepare(x)
            assert views[target].predict(v) == t.predict(v)
        # The leaves' split statistics are what make a grown tree big.
        assert len(blob) < len(pickle.dumps(t.tree)) / 4
    scorer.close()


def test_a_killed_learner_has_checkpointed_what_it_learned_on_its_timer(tmp_path):
    learner = LearnerClient(CONFIG, models_dir=tmp_path, snapshot_s=0.05,
                            checkpoint_s=0.2)
    for target, x, y in examples(1000):
        learner.learn(target, x, y)
    learner.flush()
    wait_until_learned(learner, 1000)
    time.sleep(1.0)  # a few checkpoint periods
    os.kill(learner.stats()["pid"], signal.SIGKILL)
    learner._closed = True  # a crash: no goodbye
    learner._process.join(5)

    restored = Scorer(config=CONFIG, models_dir=tmp_path)
    assert restored.labels == 1000
    restored.close()


def _send_a_megabyte(receive_end, send_end) -> None:
    send_end.send_bytes(b"x" * 1_000_000)  # blocks once the pipe is full


def test_a_learner_killed_halfway_through_a_message_reads_as_gone_not_as_a_wait():
    context = get_context("spawn")
    channel = _Channel(context)
    writer = context.Process(target=_send_a_megabyte, args=channel.learner_ends)
    writer.start()
    channel.started()
    time.sleep(1.0)  # part of the message is in the pipe, the rest never comes
    writer.kill()
    writer.join(5)

    outcome: list[BaseException | object] = []

    def read() -> None:
        try:
            outcome.append(channel.receive(1.0))
        except BaseException as exc:  # noqa: BLE001 - what we look at
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the worker would wait for ever"
    assert isinstance(outcome[0], EOFError | OSError)
    channel.close()
