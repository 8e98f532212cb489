"""`lifecycle evaluate` end to end: its own broker and worker, a slice of CDNOW."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

CUSTOMERS = 400


def test_evaluate_judges_the_stream_beside_the_baselines(tmp_path, shared_data):
    # The first customers of the 1/10 sample, whole histories: a small cohort
    # with the real protocol's dates.
    sample = shared_data / "cdnow" / "CDNOW_sample.txt"
    rows = [line for line in sample.read_text().splitlines()
            if int(line.split()[1]) <= CUSTOMERS]
    in_calibration = sum(1 for line in rows if line.split()[2] <= "19970930")
    path = tmp_path / "CDNOW_slice.txt"
    path.write_text("\n".join(rows) + "\n")

    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP"}
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "evaluate", "--dataset", "cdnow",
         "--data", str(path), "--speed", "max", "--json",
         "--out", str(tmp_path / "charts"), "--workdir", str(tmp_path / "var")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)["cdnow"]

    for key in ("auc", "ap", "churn_auc", "bgnbd_auc", "bgnbd_ap", "recency_auc",
                "recency_ap", "logit_auc"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["headline"] == "purchase_propensity"
    assert report["protocol"]["population"] == CUSTOMERS
    assert report["examples"] == CUSTOMERS

    # Only calibration was replayed, all of it applied, every customer read.
    stream = report["stream"]
    assert stream["events_sent"] == in_calibration
    assert stream["events_applied"] == in_calibration
    assert stream["replay_skipped"] == {
        "outside_time_range": len(rows) - in_calibration
    }
    assert stream["users_read"] == CUSTOMERS
    assert stream["users_missing"] == 0
    assert stream["models"]["purchase"]["learned"] > 0

    # BG/NBD ranks this cohort well above chance, as on the full data.
    assert report["bgnbd_auc"] > 0.65
    assert set(report["bgnbd_params"]) == {"r", "alpha", "a", "b"}
    assert (tmp_path / "charts" / "cdnow.png").stat().st_size > 10_000
