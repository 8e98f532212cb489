"""How far offline models get on a purchase log's holdout, given its history.

The streaming goals of ``lifecycle evaluate`` (issue 4) ask for more than the
published anchors. This script asks whether the calibration period holds that
much: with no stream and no online learning, it builds each customer's purchase
history at monthly cut-offs inside calibration (recency, frequency, spend,
tenure, purchase days in the last 30/60/90/180/365 days, the same quarter one and
two years back, distinct items, lines and units per order, refunds, gaps and
their spread, spend in the last 90 days), labels each cut-off by a purchase in
the next 91 days, and fits a logistic regression and a small PyTorch MLP on all
of it. Both are then judged on the protocol's holdout, like the stream.

If these batch fits, which see every example at once and as often as they like,
stop short of a goal, the goal needs information the purchase history does not
hold, not a better learner. Numbers only: a diagnostic, not a test.

Usage::

    python scripts/quality_ceiling.py --dataset cdnow   # or online-retail
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.baselines.logit import fit_logit  # noqa: E402
from streams.demo import PRESETS, locate_dataset  # noqa: E402
from streams.evaluate.metrics import average_precision, roc_auc  # noqa: E402
from streams.evaluate.protocols import (  # noqa: E402
    PROTOCOLS,
    bought_between,
    customers_at,
    load_purchases,
    split_periods,
)
from streams.replay.sources import read_events  # noqa: E402

log = logging.getLogger("quality_ceiling")

LABEL_DAYS = 91
CUTS = 13  # monthly cut-offs, the last one a quarter before calibration ends
WINDOWS = (30, 60, 90, 180, 365)
COLUMNS = (
    "recency", "frequency", "mean_spend", "tenure",
    *(f"days_{w}d" for w in WINDOWS),
    "same_quarter_1y", "same_quarter_2y", "items", "lines_per_order",
    "units_per_order", "refunds", "silence_per_gap", "first_to_last",
    "rate_30d", "gap_std", "spend_90d",
)


class History:
    """Every customer's events as (day, is_purchase, item, units, value, order)."""

    def __init__(self, dataset: str, zone: str) -> None:
        tz = ZoneInfo(zone)
        self.rows: dict[str, list[tuple]] = defaultdict(list)
        days: dict[int, int] = {}
        stats: Counter[str] = Counter()
        for e in read_events(locate_dataset(dataset), PRESETS[dataset].fmt, stats):
            kind = e["event_type"]
            if kind not in ("purchase", "refund"):
                continue
            ms = e["event_ts"]
            day = days.get(ms)
            if day is None:
                day = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
                day = days[ms] = day.date().toordinal()
            units = e.get("quantity", 1)
            self.rows[e["user_id"]].append((
                day, kind == "purchase", e.get("item_id"), units,
                e.get("price", 0.0) * units, e.get("order_id"),
            ))

    def features(self, cut: date, ids: list[str]) -> np.ndarray:
        c = cut.toordinal()
        out = []
        for user in ids:
            rows = [r for r in self.rows[user] if r[0] <= c]
            buys = [r for r in rows if r[1]]
            days = sorted({r[0] for r in buys})
            orders = {r[5] for r in buys} or {None}
            n, first, last = len(days), days[0], days[-1]
            spend = sum(r[4] for r in buys)
            span = last - first
            mean_gap = span / (n - 1) if n > 1 else 0.0
            gaps = np.diff(days)
            values = [
                c - last, n, spend / n, c - first,
                *(sum(1 for d in days if d > c - w) for w in WINDOWS),
                sum(1 for d in days if c - 365 < d <= c - 365 + LABEL_DAYS),
                sum(1 for d in days if c - 730 < d <= c - 730 + LABEL_DAYS),
                len({r[2] for r in buys}), len(buys) / len(orders),
                sum(r[3] for r in buys) / len(orders),
                sum(1 for r in rows if not r[1]),
                (c - last) / mean_gap if mean_gap > 0 else 0.0, span,
                n / max(c - first, 1) * 30, gaps.std() if gaps.size > 1 else 0.0,
                sum(r[4] for r in buys if r[0] > c - 90),
            ]
            out.append(np.log1p(np.maximum(values, 0.0)))
        return np.array(out)


def judged(name: str, y: np.ndarray, s: np.ndarray) -> str:
    return f"  {name:<40} auc={roc_auc(y, s):.4f} ap={average_precision(y, s):.4f}"


def mlp_scores(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, epochs: int
) -> np.ndarray:
    import torch

    torch.manual_seed(0)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    xt = torch.tensor((x - mu) / sd, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1),
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        order = torch.randperm(len(yt))
        for i in range(0, len(yt), 256):
            batch = order[i:i + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(xt[batch]).squeeze(1), yt[batch]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        test = torch.tensor((x_test - mu) / sd, dtype=torch.float32)
        return net(test).squeeze(1).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(PROTOCOLS), default="cdnow")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    protocol = PROTOCOLS[args.dataset]
    purchases = load_purchases(
        locate_dataset(args.dataset), PRESETS[args.dataset].fmt, protocol.zone
    )
    split = split_periods(purchases, protocol)
    y = split.holdout_bought.astype(int)
    history = History(args.dataset, protocol.zone)
    end = protocol.calibration_end
    x_test = history.features(end, split.population)

    xs, ys = [], []
    for k in range(CUTS):
        cut = end - timedelta(days=LABEL_DAYS + 30 * k)
        ids = customers_at(purchases, cut).ids
        if ids.size == 0:
            continue
        xs.append(history.features(cut, ids.tolist()))
        ys.append(bought_between(
            purchases, ids, cut, cut + timedelta(days=LABEL_DAYS)
        ))
    x, labels = np.vstack(xs), np.concatenate(ys).astype(int)
    print(f"dataset={args.dataset} population={y.size} positives={y.sum()} "
          f"training_rows={labels.size} cuts={len(xs)} label_days={LABEL_DAYS}")
    rfm = [0, 1, 2, 3]
    print(judged("logit, recency/frequency/spend/tenure", y,
                 fit_logit(x[:, rfm], labels, l2=1e-3).predict(x_test[:, rfm])))
    print(judged(f"logit, all {len(COLUMNS)} columns", y,
                 fit_logit(x, labels, l2=1e-3).predict(x_test)))
    print(judged(f"mlp 32-16, all columns, {args.epochs} epochs", y,
                 mlp_scores(x, labels, x_test, args.epochs)))
    goal = {"cdnow": "0.78 / 0.66", "online-retail": "0.82 / 0.79"}[args.dataset]
    print(f"  goal (auc / ap): {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
