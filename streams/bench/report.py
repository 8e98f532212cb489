"""The table `lifecycle bench` prints for a person (``--json`` prints the dict)."""

from __future__ import annotations

from typing import Any

LATENCY_BASIS = {
    "pipeline": "half the pipeline's rate",
    "new_users": "half the rate new users are taken in at, the lower max",
}


def format_table(r: dict[str, Any]) -> str:
    """The results for a person: rates, latency, memory."""

    def num(value: Any, digits: int = 0, unit: str = "") -> str:
        return "-" if value is None else f"{value:,.{digits}f}{unit}"

    def ms(key: str) -> str:
        return num(r.get(key), 1, " ms")

    taobao = "taobao_pipeline_eps" in r

    def row(label: str, key: str, digits: int = 0) -> str:
        cells = [r.get(key)] + ([r.get(f"taobao_{key}")] if taobao else [])
        return f"  {label:<28}" + "".join(f"{num(c, digits):>12}" for c in cells)

    lines = [
        f"lifecycle bench  broker={r['broker']} cpus={r['cpus']} "
        f"seed={r['seed']} elapsed_s={r['bench_elapsed_s']}",
        f"  {'events/s':<28}{'synthetic':>12}" + (f"{'taobao':>12}" if taobao else ""),
        row("events in the stream", "events"),
        row("bare aiokafka consumer", "bare_eps"),
        row("do-nothing Faust agent", "faust_floor_eps"),
        row("full pipeline", "pipeline_eps"),
        row("pipeline / Faust floor", "ratio_to_floor", 3),
        "",
        f"  latency, produce to score read, at {num(r['latency_rate_eps'])} "
        f"events/s ({LATENCY_BASIS.get(r.get('latency_rate_basis'), 'half a max')})",
        f"    {num(r['latency_events'])} new users, "
        f"{num(r['latency_missing'])} without a score",
        f"    p50 {ms('p50_ms')}   p99 {ms('p99_ms')}   max {ms('max_ms')}",
        f"    to the score's Kafka timestamp: p50 {ms('p50_ms_to_output_ts')}   "
        f"p99 {ms('p99_ms_to_output_ts')}",
        f"    p50 of the first fifth sent {ms('p50_ms_first_fifth')}, of the "
        f"last fifth {ms('p50_ms_last_fifth')}",
        "",
        f"  memory: {num(r['rss_mb_per_100k_users'], 1, ' MB')} resident per "
        f"100k users, {num(r['rss_users_added'])} users added, taken in at "
        f"{num(r.get('new_user_eps'))} new users/s",
        f"    worker {num(r['worker_rss_mb_before'], 1, ' MB')} -> "
        f"{num(r['worker_rss_mb'], 1, ' MB')}, users_local "
        f"{num(r['users_local'])}",
    ]
    if r.get("broker_rss_mb") is not None:
        lines.append(
            f"    bundled broker {num(r['broker_rss_mb'], 1, ' MB')} (records "
            "are kept in memory)"
        )
    lines.append(f"  logs: {r['workdir']}")
    return "\n".join(lines)
