"""A slow step must stall neither the stream, nor its timers, nor group membership."""

from __future__ import annotations

import os
import time

import orjson
import pytest

from tests.integration.conftest import produce, wait_for
from tests.integration.test_faults import T0_MS, as_messages, stream

pytestmark = pytest.mark.integration

# The example is a minute; half a minute shows the same (events applied
# within seconds, ticks, no rebalance) at half the suite time. Set
# LIFECYCLE_SLOW_STEP_S=60 to run the full minute.
SLOW_CPU_S = int(os.environ.get("LIFECYCLE_SLOW_STEP_S", "30"))


def _network(worker, target="purchase"):
    return worker.get("/models/")["models"][target]["network"]


def test_a_slow_training_step_stalls_neither_events_nor_timers_nor_the_group(
    kafka, start_worker
):
    worker = start_worker(
        LIFECYCLE_APP_ID="slow-step",
        LIFECYCLE_TRAIN_EXTRA_CPU_S=str(SLOW_CPU_S),
        LIFECYCLE_SESSION_GAP_S="30",
        LIFECYCLE_CHURN_HORIZON_S="60",
        LIFECYCLE_PURCHASE_HORIZON_S="60",
    )
    # One event a second over 60 users: each user every minute, so every event
    # ends a session and labels the moments before it; the network's first
    # training starts once 500 examples of a target are held.
    produce(kafka, "clickstream", as_messages(stream(3_000, 60)))
    wait_for(lambda: _network(worker)["training_now"], 180,
             lambda: "the first (slowed) network training to start: "
             f"{worker.get('/models/')['models']}", worker)
    before = worker.stats()
    started_s = time.monotonic()

    # While the training burns its minute of CPU, new users keep arriving; each
    # must be applied within seconds, as the stream never waits for the training.
    lags_s = []
    probe_ts_ms = T0_MS + 3_000 * 1000
    for i in range(SLOW_CPU_S // 5):
        user = f"probe{i}"
        event = {"event_id": f"p{i}", "user_id": user, "event_type": "view",
                 "event_ts": probe_ts_ms + i * 1000}
        sent_s = time.monotonic()
        produce(kafka, "clickstream", [(user.encode(), orjson.dumps(event))])
        wait_for(lambda u=user: _known(worker, u), 15,
                 f"{user} applied during the training", worker)
        lags_s.append(time.monotonic() - sent_s)
        time.sleep(2)

    during = worker.stats()
    assert _network(worker)["training_now"], (
        "the probes must overlap the training; it ended after "
        f"{time.monotonic() - started_s:.0f}s"
    )
    assert max(lags_s) < 15
    # Timers kept firing: the sweep ran on its ticks throughout.
    assert during["counts"]["sweeps"] > before["counts"]["sweeps"] + SLOW_CPU_S // 3
    # And the worker never lost its place in the consumer group.
    assert during["consumer_generation"] == before["consumer_generation"]

    # The slow training completes and its weights are swapped in with a version.
    wait_for(lambda: _network(worker)["trainings"]["scheduled"] >= 1, 240,
             "the slow training to finish", worker)
    versions = worker.get("/models/")["all_model_versions"]["purchase"]
    assert versions["mlp"] != "torch-mlp@0"
    assert worker.stats()["consumer_generation"] == before["consumer_generation"]


def _known(worker, user_id):
    try:
        return worker.get(f"/users/{user_id}/")["n_events"] == 1
    except OSError:
        return False
