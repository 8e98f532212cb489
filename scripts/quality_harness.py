"""Where the streaming scores of a purchase log lose quality, without a broker.

Drives :class:`streams.pipeline.UserPipeline` over the calibration events of CDNOW
or Online Retail the way the worker does (events in time order, a partition swept
each time its watermark moves a step, a last sweep once every partition is idle),
keeps every labelled example the scorer learns from, then reads each population
customer's vector at the watermark. It prints the AUC and AP on the holdout of:

- the online models as the worker would serve them (blend and each model);
- an offline logistic regression fitted on the very examples the stream learned
  from (all of them, and per kind of scoring moment);
- recency alone.

An offline fit that ranks well where the online models do not points at the
learners; one that ranks badly too points at the examples, labels or features.
Numbers only: this is a diagnostic, not a test.

Usage::

    python scripts/quality_harness.py --dataset online-retail [--no-network]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.baselines.logit import fit_logit  # noqa: E402
from models.features import FEATURE_NAMES, feature_values  # noqa: E402
from models.labels import PURCHASE  # noqa: E402
from streams import pipeline as pipeline_module  # noqa: E402
from streams.app import partition_for  # noqa: E402
from streams.demo import PRESETS, locate_dataset  # noqa: E402
from streams.evaluate.metrics import average_precision, roc_auc  # noqa: E402
from streams.evaluate.protocols import (  # noqa: E402
    PROTOCOLS,
    load_purchases,
    split_periods,
)
from streams.events import normalize_event  # noqa: E402
from streams.pipeline import UserPipeline  # noqa: E402
from streams.replay.sources import read_events  # noqa: E402
from streams.settings import Settings  # noqa: E402

log = logging.getLogger("quality_harness")

WALL_MS = 4_000_000_000_000


class Harness:
    """One offline pass of the pipeline, with every learned example kept."""

    def __init__(self, dataset: str, network: bool) -> None:
        self.dataset = dataset
        preset = PRESETS[dataset]
        self.protocol = PROTOCOLS[dataset]
        overrides = {**preset.overrides, **self.protocol.overrides}
        self.settings = Settings().with_overrides(**overrides)
        self.table: dict[str, Any] = {}
        self.pipeline = UserPipeline(
            self.settings, self._publish, self._write, self._delete
        )
        if not network:
            for t in self.pipeline.scorer._targets.values():
                t.models = (t.logreg, t.tree)
        # Examples: (target, x, y, kind, moment ts, resolved at ts).
        self.examples: list[tuple[str, list[float], int, str, int, int]] = []
        self._moments: dict[int, tuple[str, int]] = {}
        self._kind = "activity"
        self._now_ms = 0
        self._patch()

    def _publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        pass

    def _write(self, state: Any) -> None:
        self.table[state.user_id] = state

    def _delete(self, state: Any) -> None:
        self.table.pop(state.user_id, None)

    def _patch(self) -> None:
        """Tag each moment with its kind and time, and keep each example."""
        pipe = self.pipeline
        score = pipe._score
        add_moment = pipeline_module.add_moment
        learn = pipe.scorer.learn
        moments = self._moments

        def tagged_score(state: Any, at_ms: int, moment: str) -> dict[str, float]:
            self._kind = moment
            return score(state, at_ms, moment)

        def tagged_add(state: Any, at_ms: int, x: list[float]) -> int:
            dropped = add_moment(state, at_ms, x)
            newest = state.pending[-1]
            if newest["ts_ms"] == at_ms:  # kept, not thinned out at once
                moments[id(newest["x"])] = (self._kind, at_ms)
            return dropped

        def kept_learn(target: str, x: list[float], y: int) -> None:
            kind, at_ms = moments.get(id(x), ("?", 0))
            self.examples.append((target, x, y, kind, at_ms, self._now_ms))
            learn(target, x, y)

        pipe._score = tagged_score  # type: ignore[method-assign]
        pipeline_module.add_moment = tagged_add  # type: ignore[assignment]
        pipe.scorer.learn = kept_learn  # type: ignore[method-assign]

    def run(self, path: Path) -> None:
        stats: Counter[str] = Counter()
        end_ms = self.protocol.calibration_end_ms
        events = [
            e for e in read_events(path, PRESETS[self.dataset].fmt, stats)
            if e["event_ts"] < end_ms
        ]
        events.sort(key=lambda e: e["event_ts"])
        pipe = self.pipeline
        n = self.settings.partitions
        started = time.monotonic()
        for i, raw in enumerate(events):
            event = normalize_event(raw)
            self._now_ms = event["event_ts_ms"]
            partition = partition_for(event["user_id"], n)
            now_s = i * 1e-4
            state = pipe.on_event(
                event, partition, self.table.get(event["user_id"]), now_s, WALL_MS
            )
            if state is not None:
                self._write(state)
            if pipe.sweep_due(partition):
                pipe.sweep(partition, self.table.get, now_s)
        # Every partition idle: the sweeps reach the worker's watermark.
        for p in range(n):
            pipe.sweep(p, self.table.get, len(events) * 1e-4 + 3600.0)
        pipe.scorer.close(timeout_s=60.0)
        log.info("run done events=%d seconds=%.1f examples=%d", len(events),
                 time.monotonic() - started, len(self.examples))


def judged(name: str, y: np.ndarray, s: np.ndarray) -> str:
    return (f"  {name:<34} auc={roc_auc(y, s):.4f} "
            f"ap={average_precision(y, s):.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(PROTOCOLS), default="cdnow")
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument(
        "--save", type=Path,
        help="write the purchase examples and population vectors here (.npz); "
        "derived from the dataset, so keep it out of the repository",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)

    path = locate_dataset(args.dataset)
    protocol = PROTOCOLS[args.dataset]
    split = split_periods(load_purchases(path, PRESETS[args.dataset].fmt,
                                         protocol.zone), protocol)
    harness = Harness(args.dataset, network=not args.no_network)
    harness.run(path)
    pipe = harness.pipeline
    scorer = pipe.scorer
    watermark_ms = pipe.watermark.value_ms

    # End-of-calibration vectors of the population, as GET /users/{id}/ reads them.
    y = split.holdout_bought.astype(int)
    rows = [harness.table.get(u) for u in split.population]
    missing = sum(r is None for r in rows)
    xs = np.array([
        feature_values(r, max(watermark_ms, r.last_ts_ms)) if r is not None
        else [0.0] * len(FEATURE_NAMES) for r in rows
    ])
    print(f"dataset={args.dataset} population={y.size} positives={y.sum()} "
          f"missing={missing} watermark_ms={watermark_ms}")

    # Examples of the purchase target.
    ex = [e for e in harness.examples if e[0] == PURCHASE]
    ex_x = np.array([e[1] for e in ex])
    ex_y = np.array([e[2] for e in ex])
    kinds = np.array([e[3] for e in ex])
    lag_days = np.array([(e[5] - e[4]) / 86_400_000 for e in ex])
    print(f"purchase examples={len(ex)} positive_rate={ex_y.mean():.3f}")
    for kind in sorted(set(kinds)):
        mask = kinds == kind
        print(f"  kind={kind:<12} n={mask.sum():>7} "
              f"positive_rate={ex_y[mask].mean():.3f} "
              f"median_lag_days={np.median(lag_days[mask]):.1f}")
    pending = sum(len(r.pending) for r in harness.table.values())
    print(f"moments still pending at the end={pending} "
          f"dropped={pipe.counts['moments_dropped']}")

    if args.save:
        np.savez(
            args.save, ex_x=ex_x, ex_y=ex_y, kinds=kinds,
            moment_ms=np.array([e[4] for e in ex]),
            resolved_ms=np.array([e[5] for e in ex]), xs=xs, y=y,
            watermark_ms=watermark_ms, horizon_ms=pipe._buy_h_ms,
        )

    # (1) The online models.
    print("online models at the watermark:")
    t = scorer._targets[PURCHASE]
    blend = np.array([scorer.score(x)[PURCHASE] for x in xs])
    print(judged("blend (published)", y, blend))
    for model in t.models:
        if model.ready:
            s = np.array([model.predict_one(x) for x in xs])
            print(judged(model.name, y, s))
    print(f"  weights={ {k: round(w, 3) for k, w in t.blend.weights.items()} }")

    # (2) Offline logistic regressions on the same examples.
    print("offline logit on the stream's own examples:")
    varying = ex_x.std(axis=0) > 0
    fit = fit_logit(ex_x[:, varying], ex_y, l2=1e-3)
    print(judged("all examples", y, fit.predict(xs[:, varying])))
    for kind in sorted(set(kinds)):
        mask = kinds == kind
        if len(set(ex_y[mask])) == 2 and mask.sum() > 100:
            fit = fit_logit(ex_x[mask][:, varying], ex_y[mask], l2=1e-3)
            print(judged(f"only {kind}", y, fit.predict(xs[:, varying])))
    # Moments whose horizon ended before the watermark: both outcomes could be
    # known. Later ones were learned only when positive (censored).
    complete = np.array([e[4] for e in ex]) + pipe._buy_h_ms <= watermark_ms
    print(f"  censored examples (horizon past the watermark, all positive)="
          f"{(~complete).sum()}")
    fit = fit_logit(ex_x[complete][:, varying], ex_y[complete], l2=1e-3)
    print(judged("complete horizons only", y, fit.predict(xs[:, varying])))
    mask = complete & (kinds == "interval")
    fit = fit_logit(ex_x[mask][:, varying], ex_y[mask], l2=1e-3)
    print(judged("complete, interval only", y, fit.predict(xs[:, varying])))
    # The newest examples only, as a learner that forgets would see them.
    recent = slice(-20_000, None)
    fit = fit_logit(ex_x[recent][:, varying], ex_y[recent], l2=1e-3)
    print(judged("newest 20k examples", y, fit.predict(xs[:, varying])))

    # (3) Recency alone.
    rec = FEATURE_NAMES.index("log_recency_s")
    since = FEATURE_NAMES.index("log_since_purchase_s")
    print("single features:")
    print(judged("-log_recency_s", y, -xs[:, rec]))
    print(judged("-log_since_purchase_s", y, -xs[:, since]))
    for name in ("log_orders", "log_monetary_total", "log_tenure_s",
                 *FEATURE_NAMES[67:]):
        print(judged(name, y, xs[:, FEATURE_NAMES.index(name)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
