from streams.bench.command import REQUIRED_KEYS, latency_drift
from streams.bench.report import format_table


def results(**changes):
    body = {
        "broker": "bundled", "cpus": 2, "seed": 1, "bench_elapsed_s": 60.0,
        "events": 1000, "bare_eps": 100_000, "faust_floor_eps": 10_000,
        "pipeline_eps": 2_000, "ratio_to_floor": 0.2, "latency_rate_eps": 500,
        "latency_rate_basis": "new_users", "latency_events": 2500,
        "latency_missing": 0, "p50_ms": 40.0, "p99_ms": 120.0, "max_ms": 150.0,
        "p50_ms_to_output_ts": 35.0, "p99_ms_to_output_ts": 110.0,
        "p50_ms_first_fifth": 40.0, "p50_ms_last_fifth": 41.0,
        "rss_mb_per_100k_users": 480.0, "rss_users_added": 20_000,
        "new_user_eps": 1_000, "worker_rss_mb_before": 300.0,
        "worker_rss_mb": 396.0, "users_local": 45_000, "broker_rss_mb": 200.0,
        "workdir": "var/bench/x",
    }
    body.update(changes)
    return body


def test_the_table_names_every_required_figure_and_the_latency_basis():
    table = format_table(results())
    assert set(REQUIRED_KEYS) <= set(results())
    assert "0.200" in table
    assert "half the rate new users are taken in at" in table
    assert "1,000 new users/s" in table


def test_the_table_takes_a_run_without_a_new_user_rate():
    table = format_table(results(new_user_eps=None, latency_rate_basis="pipeline"))
    assert "half the pipeline's rate" in table


def test_latency_drift_compares_the_first_and_last_fifth():
    steady = latency_drift([10.0] * 50)
    assert steady == {"p50_ms_first_fifth": 10.0, "p50_ms_last_fifth": 10.0}
    growing = latency_drift([float(i) for i in range(100)])
    assert growing["p50_ms_last_fifth"] > growing["p50_ms_first_fifth"]
