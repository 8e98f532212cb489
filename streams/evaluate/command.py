"""`lifecycle evaluate`: the streaming scores on real data, beside offline baselines.

For a purchase log (CDNOW, Online Retail) only the calibration period is replayed
into a fresh broker and worker; every population customer's scores as they stand at
the end of calibration are read from the worker and judged on the holdout, next to
BG/NBD, recency and an RFM logistic regression computed in the same run. For the
Taobao clickstream the whole slice is replayed and every scoring moment after the
80% time split is judged against recency and frequency. See README "Evaluation".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from streams.demo import PRESETS, locate_dataset
from streams.errors import LifecycleError
from streams.evaluate import report as reports
from streams.evaluate.metrics import average_ranks
from streams.evaluate.runner import StreamRun, run_stream
from streams.settings import Settings

log = logging.getLogger(__name__)

DATASETS = ("cdnow", "online-retail", "taobao")
# Goals the headline streaming scores should reach (issue of the evaluation).
GOALS = {
    "cdnow": {"auc": 0.78, "ap": 0.66},
    "online-retail": {"auc": 0.82, "ap": 0.79},
}
DAY_MS = 86_400_000


def json_key(dataset: str) -> str:
    return dataset.replace("-", "_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", choices=DATASETS,
        help="evaluate one dataset (default: all three, one after the other)",
    )
    parser.add_argument(
        "--data", type=Path,
        help="the dataset file, with --dataset (default: looked up)",
    )
    parser.add_argument(
        "--data-dir", type=Path,
        help="folder holding the datasets (default ../shared/data)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("evaluation"),
        help="folder for the PNG charts (default ./evaluation)",
    )
    parser.add_argument(
        "--speed",
        help="event-time speed-up of the replay, or max (default: the demo's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--workdir", type=Path, default=Path("var/evaluate"),
        help="where broker and worker logs go (default var/evaluate)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.replay.command import parse_speed

    if args.data and not args.dataset:
        raise LifecycleError("--data needs --dataset: which protocol applies?")
    try:
        speed = parse_speed(args.speed) if args.speed else None
    except argparse.ArgumentTypeError as exc:
        raise LifecycleError(f"--speed: {exc}") from None
    if settings.kafka_bootstrap:
        log.info("evaluate starts its own broker; KAFKA_BOOTSTRAP is not used")
        settings = settings.with_overrides(kafka_bootstrap=None)

    names = [args.dataset] if args.dataset else list(DATASETS)
    paths = {n: locate_dataset(n, args.data, args.data_dir) for n in names}
    workdir = args.workdir.resolve() / time.strftime("%Y%m%d-%H%M%S")
    results: dict[str, Any] = {}
    for name in names:
        default_speed = PRESETS[name].speed
        chosen = default_speed if args.speed is None else speed
        started = time.monotonic()
        log.info("evaluate start dataset=%s path=%s speed=%s", name, paths[name],
                 chosen or "max")
        if name == "taobao":
            result = evaluate_clicks(name, paths[name], settings, workdir / name,
                                     chosen, args.out)
        else:
            result = evaluate_period(name, paths[name], settings, workdir / name,
                                     chosen, args.out)
        result["seconds"] = round(time.monotonic() - started, 1)
        result["speed"] = chosen or "max"
        results[json_key(name)] = result
        log.info("evaluate done dataset=%s auc=%s ap=%s seconds=%s", name,
                 result["auc"], result["ap"], result["seconds"])
        if not args.json:
            print(reports.table(name, result), flush=True)
            print(flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def evaluate_period(
    name: str, path: Path, settings: Settings, workdir: Path,
    speed: float | None, out: Path,
) -> dict[str, Any]:
    """Calibration replayed, holdout judged; the baselines of the same split."""
    from streams.evaluate.baselines import period_baselines
    from streams.evaluate.protocols import PROTOCOLS, load_purchases, split_periods

    protocol = PROTOCOLS[name]
    preset = PRESETS[name]
    purchases = load_purchases(path, preset.fmt, protocol.zone)
    split = split_periods(purchases, protocol)
    if split.calibration.ids.size == 0:
        raise LifecycleError(f"{path}: no purchase in the calibration period")
    baselines = period_baselines(split)

    overrides = {**preset.overrides, **protocol.overrides}
    stream = run_stream(
        settings, overrides, path, preset.fmt, workdir,
        to_ms=protocol.calibration_end_ms, speed=speed,
        population=split.population, read_scores_topic=True,
    )
    # A customer the worker does not know ranks last.
    found = [stream.user_scores.get(u) for u in split.population]
    buy = np.array([s["purchase"] if s else 0.0 for s in found])
    churn = np.array([s["churn"] if s else 1.0 for s in found])
    scores = {"stream": buy, "stream_churn": 1.0 - churn, **baselines.scores}

    y = split.holdout_bought
    holdout_start = protocol.calibration_end + timedelta(days=1)
    target = (
        f"buys at least once from {holdout_start.isoformat()} to "
        f"{protocol.holdout_end.isoformat()}"
    )
    result = reports.build(
        target, y, scores, protocol.anchors, GOALS.get(name),
        protocol=split.describe(),
        settings={k: v for k, v in overrides.items() if k.endswith("horizon_s")},
        bgnbd_params=baselines.describe()["bgnbd_params"],
        stream=stream.describe(),
        diagnostics={
            **_recency_gap(stream, split.calibration.recency_days()),
            # Negative: the more recent the last purchase, the higher the score.
            "stream_recency_rank_corr": _rank_corr(
                buy, split.calibration.recency_days()
            ),
        },
    )
    result["chart"] = _chart(out, name, result, y, scores)
    return result


def evaluate_clicks(
    name: str, path: Path, settings: Settings, workdir: Path,
    speed: float | None, out: Path,
) -> dict[str, Any]:
    """The whole clickstream replayed; moments after the time split judged."""
    from streams.evaluate.moments import label_moments, load_clicks

    preset = PRESETS[name]
    clicks = load_clicks(path, preset.fmt)
    stream = run_stream(
        settings, preset.overrides, path, preset.fmt, workdir, speed=speed,
        read_scores_topic=True,
    )
    horizon_ms = int(preset.overrides["purchase_horizon_s"] * 1000)
    moments = label_moments(clicks, stream.records, horizon_ms)
    target = (
        "buys within purchase_horizon_s after each scoring moment of the last "
        "20% of the span"
    )
    result = reports.build(
        target, moments.y, moments.scores, protocol=moments.info,
        stream=stream.describe(),
    )
    result["chart"] = _chart(out, name, result, moments.y, moments.scores)
    return result


def _recency_gap(stream: StreamRun, population_recency_days: np.ndarray) -> dict:
    """How long users had been silent at the moments the models learned from,
    against how long they have been silent when they are judged."""
    inactive = np.array([
        (r["scored_ts_ms"] - r["last_event_ts_ms"]) / DAY_MS for r in stream.records
    ])
    quantiles = (0.5, 0.9, 0.99)

    def spread(values: np.ndarray) -> dict[str, float] | None:
        if values.size == 0:
            return None
        points = np.quantile(values, quantiles)
        return {f"p{int(q * 100)}": round(float(v), 2)
                for q, v in zip(quantiles, points, strict=True)}

    return {
        "moments": int(inactive.size),
        "moment_inactive_days": spread(inactive),
        "judged_inactive_days": spread(population_recency_days),
    }


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation of two score arrays."""
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return round(float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1]), 4)


def _chart(out: Path, name: str, result: dict[str, Any], y: np.ndarray,
           scores: dict[str, np.ndarray]) -> str | None:
    from streams.evaluate.chart import draw_report

    try:
        return str(draw_report(out / f"{name}.png", name, result, y, scores))
    except (ImportError, OSError) as exc:
        print(f"lifecycle evaluate: no chart for {name}: {exc}", file=sys.stderr)
        return None
