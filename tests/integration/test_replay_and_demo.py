"""Real data through the real commands: replay into a worker, and the demo."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, read_json

pytestmark = pytest.mark.integration

TAOBAO = Path("taobao-userbehavior/UserBehavior_head110k.csv")


def lifecycle(*args: str, env: dict[str, str] | None = None, timeout_s: float = 300):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout_s,
    )


def first_rows(path: Path, n: int) -> list[list[str]]:
    with open(path, newline="") as handle:
        return [row for _, row in zip(range(n), csv.reader(handle), strict=False)]


def test_replaying_a_file_twice_applies_each_event_once(
    kafka, start_worker, shared_data
):
    path = shared_data / TAOBAO
    rows = first_rows(path, 2000)
    worker = start_worker(LIFECYCLE_SESSION_GAP_S="600")
    env = {"KAFKA_BOOTSTRAP": kafka}

    for attempt in (1, 2):
        done = lifecycle("replay", str(path), "--limit", "2000", "--json",
                         "--no-progress", env=env)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["events_sent"] == 2000
        assert summary["send_failures"] == {}
        worker.wait_received(2000 * attempt)

    stats = worker.stats()
    assert stats["counts"]["events"] == 2000
    assert stats["counts"]["duplicates"] == 2000
    assert stats["users_local"] == len({row[0] for row in rows})

    # Event time comes from the data: the user's first event time is the file's.
    user_id, _, _, _, ts_s = rows[0]
    user = worker.get(f"/users/{user_id}/")
    assert user["first_ts_ms"] == int(ts_s) * 1000
    views = sum(1 for r in rows if r[0] == user_id and r[3] == "pv")
    assert user["counts"][0] == views
    scores = [s for s in read_json(kafka, "user-scores") if s["user_id"] == user_id]
    assert scores and scores[0]["scored_ts_ms"] == int(ts_s) * 1000


def test_replay_counts_rejected_rows_and_names_the_reason(kafka, tmp_path):
    lines = [
        {"uid": 1, "kind": "pv", "at": 1_511_658_000},
        {"uid": 2, "kind": "pv", "at": "not a time"},
        {"uid": 3, "kind": "teleport", "at": 1_511_658_001},
        {"uid": 4, "kind": "buy", "at": "2017-11-26T01:00:02Z"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    done = lifecycle(
        "replay", str(path), "--format", "jsonl", "--json", "--no-progress",
        "--map", "user_id=uid", "--map", "event_type=kind", "--map", "event_ts=at",
        "--type-map", "pv=view", "--type-map", "buy=purchase",
        env={"KAFKA_BOOTSTRAP": kafka},
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows_read"] == 4
    assert summary["events_sent"] == 2
    assert sum(summary["rejected"].values()) == 2
    sent = read_json(kafka, "clickstream")
    assert sorted(e["user_id"] for e in sent) == ["1", "4"]
    assert {e["event_type"] for e in sent} == {"view", "purchase"}


def test_a_file_read_as_the_wrong_format_is_an_error(kafka, shared_data):
    env = {"KAFKA_BOOTSTRAP": kafka}
    done = lifecycle(
        "replay", str(shared_data / "cdnow/CDNOW_master.txt"), "--format", "taobao",
        "--no-progress", env=env, timeout_s=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "could be read as format taobao" in done.stderr
    assert "check --format" in done.stderr
    done = lifecycle(
        "replay", str(shared_data / TAOBAO), "--from", "2017-11-27",
        "--to", "2017-11-26", "--no-progress", env=env, timeout_s=120,
    )
    assert done.returncode == 2
    assert "--from must be before --to" in done.stderr


def test_replay_fails_loudly_when_the_broker_is_unreachable(tmp_path, shared_data):
    dead = f"127.0.0.1:{_closed_port()}"
    done = lifecycle(
        "replay", str(shared_data / TAOBAO), "--limit", "10", "--no-progress",
        env={"KAFKA_BOOTSTRAP": dead}, timeout_s=120,
    )
    assert done.returncode != 0
    assert dead in done.stderr
    # Said once, in one line, the error's name once.
    said = [line for line in done.stderr.splitlines() if "cannot reach Kafka" in line]
    assert len(said) == 1, done.stderr[-2000:]
    assert said[0].count("KafkaTimeoutError") <= 1
    # And nothing else: not the client library's line per refused attempt.
    assert len(done.stderr.splitlines()) <= 3, done.stderr[-2000:]
    assert "ECONNREFUSED" not in done.stderr


def test_demo_runs_a_real_dataset_end_to_end(tmp_path, shared_data):
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP"}
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--dataset", "taobao",
         "--data-root", str(shared_data), "--limit", "4000", "--speed", "max",
         "--json", "--workdir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    rows = first_rows(shared_data / TAOBAO, 4000)
    assert summary["events_in"] == 4000
    assert summary["rejected"] == {}
    assert summary["users"] == len({row[0] for row in rows})
    assert summary["scores"] >= summary["users"]
    assert summary["recommendations"] > 0
    assert summary["events_per_s"] > 0
    # The live view printed recommendations as they arrived.
    assert "REC   user=" in done.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_file_ordered_by_customer_is_replayed_in_event_time_order(
    kafka, start_worker, shared_data
):
    # CDNOW lists each customer's whole history in turn; sent in file order, time
    # would jump back 18 months at every customer and most events would be late.
    worker = start_worker(LIFECYCLE_GRACE_S="86400", LIFECYCLE_USER_TTL_S="63072000",
                          LIFECYCLE_CHURN_HORIZON_S="7776000",
                          LIFECYCLE_PURCHASE_HORIZON_S="7776000")
    done = lifecycle(
        "replay", str(shared_data / "cdnow" / "CDNOW_sample.txt"), "--json",
        "--no-progress", env={"KAFKA_BOOTSTRAP": kafka},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events_sent"] == 6919
    stats = worker.wait_received(6919)
    assert stats["rejected"] == {}
    assert stats["counts"]["events"] == 6919
    assert stats["users_local"] == 2357


def test_exactly_once_without_broker_transactions_says_so_in_one_line(
    kafka, tmp_path
):
    # The bundled broker has no transactions.
    done = lifecycle(
        "worker",
        env={"KAFKA_BOOTSTRAP": kafka, "LIFECYCLE_PROCESSING_GUARANTEE": "exactly_once",
             "LIFECYCLE_DATA_DIR": str(tmp_path / "state"),
             "LIFECYCLE_WEB_PORT": str(_closed_port())},
        timeout_s=120,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lifecycle worker: LIFECYCLE_PROCESSING_GUARANTEE="
                           "exactly_once needs a broker with transactions")
    assert "use at_least_once" in last


def test_a_recorded_topic_is_copied_whole_and_a_missing_one_creates_nothing(
    kafka, shared_data
):
    from kafka import KafkaAdminClient

    from tests.integration.conftest import read_topic

    env = {"KAFKA_BOOTSTRAP": kafka}
    done = lifecycle(
        "replay", str(shared_data / TAOBAO), "--limit", "300", "--topic", "recorded",
        "--no-progress", "--json", env=env, timeout_s=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the worker reads 'clickstream'" in done.stderr  # not the usual topic

    done = lifecycle("replay", "--copy-from", "recorded", "--topic", "copied",
                     "--no-progress", "--json", env=env, timeout_s=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["events_sent"] == 300

    def records(topic):
        return sorted((r.key, r.value, r.timestamp) for r in read_topic(kafka, topic))

    assert records("copied") == records("recorded")

    # A source that does not exist: an error, and no target topic left behind.
    done = lifecycle("replay", "--copy-from", "nosuchtopic", "--topic", "copytest",
                     "--no-progress", env=env, timeout_s=120)
    assert done.returncode == 2
    assert "topic nosuchtopic does not exist" in done.stderr
    # Nor may a replay write into a topic lifecycle publishes.
    done = lifecycle("replay", str(shared_data / TAOBAO), "--topic", "user-scores",
                     env=env, timeout_s=120)
    assert done.returncode == 2 and "is an output topic of lifecycle" in done.stderr
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        assert "copytest" not in admin.list_topics()
    finally:
        admin.close()
