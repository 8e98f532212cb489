"""The evaluation's report of one dataset: flat keys for machines, a table for
people."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.evaluate.metrics import auc_standard_errors, summarise

log = logging.getLogger(__name__)

# Scorers in report order, with the words the table shows for each.
LABELS = {
    "stream": "stream purchase_propensity (headline)",
    "stream_churn": "stream 1 - churn_risk",
    "bgnbd": "BG/NBD expected holdout purchases",
    "bgnbd_p_alive": "BG/NBD P(alive)",
    "logit": "RFM logistic regression",
    "recency": "recency alone",
    "frequency": "frequency alone",
}
# Flat key prefix of each scorer: "stream" is the headline "auc" / "ap".
PREFIX = {"stream": "", "stream_churn": "churn_"}


def build(
    target: str,
    y: NDArray,
    scores: dict[str, NDArray],
    anchors: dict[str, dict[str, float]] | None = None,
    goals: dict[str, float] | None = None,
    **details: Any,
) -> dict[str, Any]:
    """Judge every scorer on ``y`` and lay the figures out, headline first."""
    scorers = {name: summarise(y, values) for name, values in scores.items()}
    if "stream" in scores:
        # Standard errors, and each baseline's AUC below the stream's, paired on
        # the same examples: whether a gap is more than chance.
        errors = auc_standard_errors(y, scores, "stream") or {}
        for name, figures in errors.items():
            scorers[name].update(figures)
    report: dict[str, Any] = {}
    for name, quality in scorers.items():
        prefix = PREFIX.get(name, f"{name}_")
        report[f"{prefix}auc"] = quality["auc"]
        report[f"{prefix}ap"] = quality["ap"]
        if "auc_se" in quality:
            report[f"{prefix}auc_se"] = quality["auc_se"]
    report["headline"] = "purchase_propensity"
    report["target"] = target
    report["examples"] = int(np.size(y))
    report["positives"] = int(np.sum(y))
    report["scorers"] = scorers
    report["anchors"] = anchors or {}
    report["goals"] = goals or {}
    if goals:
        report["goals_met"] = {
            metric: scorers["stream"][metric] is not None
            and scorers["stream"][metric] >= value
            for metric, value in goals.items()
        }
    report.update(details)
    return report


def table(name: str, report: dict[str, Any]) -> str:
    """A few lines per dataset: each scorer's AUC and AP beside the published."""
    share = report["positives"] / max(report["examples"], 1)
    lines = [
        f"{name}: {report['target']}",
        f"  examples={report['examples']:,} positives={report['positives']:,} "
        f"({share:.1%})",
        f"  {'scorer':<40}{'AUC':>7}{'+-SE':>7}{'AP':>8}   published / goal;"
        " stream's AUC less this one's",
    ]
    for scorer, quality in report["scorers"].items():
        anchor = report["anchors"].get(scorer)
        note = ""
        if anchor:
            note = f"{anchor['auc']:.3f} / {anchor['ap']:.3f}"
        elif scorer == "stream" and report["goals"]:
            goals = report["goals"]
            met = report.get("goals_met", {})
            marks = ", ".join(
                f"{m.upper()} {'met' if met.get(m) else 'not met'}" for m in goals
            )
            note = f"goal {goals['auc']:.2f} / {goals['ap']:.2f} ({marks})"
        gap = quality.get("stream_minus_auc")
        if gap is not None:
            paired = (
                f"stream {gap:+.3f} +- {quality['stream_minus_auc_se']:.3f}"
            )
            note = f"{note}; {paired}" if note else paired
        lines.append(
            f"  {LABELS.get(scorer, scorer):<40}{_num(quality['auc']):>7}"
            f"{_num(quality.get('auc_se')):>7}{_num(quality['ap']):>8}   {note}"
        )
    stream = report.get("stream", {})
    if stream:
        seconds = stream.get("seconds", {})
        lines.append(
            f"  stream: events={stream.get('events_sent', 0):,} "
            f"users_read={stream.get('users_read', 0):,} "
            f"missing={stream.get('users_missing', 0)} "
            f"seconds={seconds.get('total', 0)}"
        )
    if report.get("chart"):
        lines.append(f"  chart: {report['chart']}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
