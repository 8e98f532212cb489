"""A real worker keeps what its models learned across a restart, and every score
names the versions of all the models behind it."""

from __future__ import annotations

import random
import time
from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import produce, read_json, wait_for

pytestmark = pytest.mark.integration

T0_S = 1_511_658_000  # 2017-11-26T01:00:00Z


def events(n_users: int = 40, per_user: int = 30, seed: int = 5):
    """Users active in bursts over two hours of event time, in time order."""
    rng = random.Random(seed)
    out = []
    for u in range(n_users):
        ts = T0_S + rng.randint(0, 600)
        for i in range(per_user):
            ts += rng.choice((5, 20, 90, 400))
            kind = "purchase" if rng.random() < 0.05 else "view"
            out.append((ts, f"u{u}", kind, f"u{u}-{i}"))
    out.sort()
    return [
        (user.encode(), orjson.dumps({"event_id": eid, "user_id": user,
                                      "event_type": kind, "event_ts": ts,
                                      "item_id": f"i{len(eid) * 7 % 50}"}))
        for ts, user, kind, eid in out
    ]


def children(pid: int) -> list[int]:
    """Processes descended from ``pid`` (Linux /proc): the learner process and
    the training processes, wherever they hang. Python's multiprocessing
    resource tracker is left out: it is no worker of ours, and it exits on its
    own only once its parent's pipe has closed, a moment after the parent."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found.extend(sorted(frontier))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def settled_learning(worker) -> dict[str, int] | None:
    """What the models learned, once the learner process has learned all it was
    handed and its snapshot says so, and nothing more comes in 3 s."""
    first = learned(worker)
    learner = worker.stats().get("learner")  # absent when learning inline
    if learner is not None and (
        learner["backlog"] or sum(first.values()) != learner["learned"]
    ):
        return None
    time.sleep(3)
    return first if learned(worker) == first else None


def learned(worker) -> dict[str, int]:
    models = worker.get("/models/")["models"]
    return {target: report["learned"] for target, report in models.items()}


def test_models_are_checkpointed_at_shutdown_and_restored_at_start(
    kafka, start_worker, tmp_path
):
    models_dir = Path(tmp_path) / "models-a"
    env = {
        "LIFECYCLE_APP_ID": "models-restart",
        "LIFECYCLE_MODELS_DIR": str(models_dir),
        "LIFECYCLE_SESSION_GAP_S": "60",
        "LIFECYCLE_CHURN_HORIZON_S": "120",
        "LIFECYCLE_PURCHASE_HORIZON_S": "120",
        "LIFECYCLE_GRACE_S": "1",
    }
    worker = start_worker(**env)
    messages = events(n_users=60, per_user=40)
    produce(kafka, "clickstream", messages)
    worker.wait_received(len(messages), timeout_s=120)
    before = wait_for(
        lambda: (lambda n: n if n["churn"] > 200 and n["purchase"] > 200 else None)(
            learned(worker)
        ),
        120, "labels learned", worker,
    )

    # Every score names each model's version, and the blend is what it publishes.
    scores = read_json(kafka, "user-scores")
    assert scores
    last = scores[-1]
    assert last["model_versions"]["churn"].startswith("blend@")
    assert set(last["models"]["churn"]) == {"logreg", "tree", "mlp", "blend"}
    assert last["models"]["churn"]["logreg"]["version"].startswith("river-logreg@")
    view = worker.get("/models/")
    assert set(view["all_model_versions"]["purchase"]) == {
        "logreg", "tree", "mlp", "blend"
    }
    assert "ece" in view["models"]["churn"]["models"]["tree"]

    # The network trained in the worker's training process and was swapped in.
    wait_for(
        lambda: worker.get("/models/")["all_model_versions"]["churn"]["mlp"]
        != "torch-mlp@0",
        180, "a network trained", worker,
    )
    trainers = children(worker.process.pid)
    assert trainers, "training runs in a child process"

    # A clean stop writes the checkpoint and ends the training process; a new
    # worker reads the checkpoint back.
    settled = wait_for(lambda: settled_learning(worker), 60,
                       "learning to settle", worker)
    versions = worker.get("/models/")["all_model_versions"]
    worker.stop()
    assert not [pid for pid in trainers if alive(pid)]
    assert (models_dir / "scorer.pkl").exists()
    assert "models checkpoint" in worker.log_path.read_text(errors="replace")

    again = start_worker(**env)
    restored = learned(again)
    assert restored == settled
    assert again.get("/models/")["all_model_versions"] == versions
    assert restored["churn"] >= before["churn"]
    assert "models restored" in again.log_path.read_text(errors="replace")
