"""The worker's learner process: it learns beside the stream, and when it is
killed the worker starts another and goes on, losing no event."""

from __future__ import annotations

import os
import signal

import pytest

from tests.integration.conftest import produce, wait_for
from tests.integration.test_faults import as_messages, stream

pytestmark = pytest.mark.integration

SHORT_HORIZONS = {
    "LIFECYCLE_LEARNER": "process",
    "LIFECYCLE_SESSION_GAP_S": "30",
    "LIFECYCLE_CHURN_HORIZON_S": "60",
    "LIFECYCLE_PURCHASE_HORIZON_S": "60",
}


def test_a_killed_learner_is_replaced_and_the_stream_loses_nothing(
    kafka, start_worker
):
    worker = start_worker(LIFECYCLE_APP_ID="learner-kill", **SHORT_HORIZONS)
    events = stream(4_000, 40)
    produce(kafka, "clickstream", as_messages(events[:2_000]))
    worker.wait_received(2_000)
    first = wait_for(
        lambda: (s := worker.stats())["learner"]["learned"] > 200 and s,
        60, lambda: f"the learner to learn from the first half: {worker.stats()}",
        worker,
    )
    learner = first["learner"]
    assert learner["alive"] and learner["restarts"] == 0
    assert first["models"]["churn"]["learned"] > 0  # snapshots reach the worker

    os.kill(learner["pid"], signal.SIGKILL)
    produce(kafka, "clickstream", as_messages(events[2_000:]))
    worker.wait_received(4_000)
    after = wait_for(
        lambda: (s := worker.stats())["learner"]["restarts"] == 1
        and s["learner"]["alive"] and s["learner"]["backlog"] == 0 and s,
        60, "a new learner, caught up", worker,
    )
    assert after["learner"]["pid"] != learner["pid"]
    assert after["counts"]["events"] == 4_000
    assert after["consumer_generation"] == first["consumer_generation"]
    # The new learner learns on from the second half's labels.
    wait_for(
        lambda: worker.stats()["learner"]["learned"] > 0, 60,
        "the new learner to learn", worker,
    )
    assert "learner process died" in worker.log_tail(400)
