"""One PNG per dataset: ROC curves of every scorer, and AUC and AP side by side
with the published anchors and the goals."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.evaluate.metrics import roc_curve

log = logging.getLogger(__name__)

# At most this many points per ROC curve: enough for a picture, small files.
CURVE_POINTS = 2000


def _thin(fpr: NDArray, tpr: NDArray) -> tuple[NDArray, NDArray]:
    if fpr.size <= CURVE_POINTS:
        return fpr, tpr
    keep = np.unique(np.r_[np.linspace(0, fpr.size - 1, CURVE_POINTS).astype(int)])
    return fpr[keep], tpr[keep]


def draw(
    path: Path,
    title: str,
    y: NDArray,
    scores: dict[str, NDArray],
    quality: dict[str, dict[str, float | None]],
    anchors: dict[str, dict[str, float]] | None = None,
    goals: dict[str, float] | None = None,
) -> Path:
    """Write the chart of one dataset to ``path`` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    anchors = anchors or {}
    figure, (roc_axes, bar_axes) = plt.subplots(1, 2, figsize=(13, 5.5))
    figure.suptitle(title)

    # Left: ROC curves.
    for name, values in scores.items():
        fpr, tpr = _thin(*roc_curve(y, values))
        auc = quality.get(name, {}).get("auc")
        label = f"{name} (AUC {auc:.3f})" if auc is not None else name
        roc_axes.plot(fpr, tpr, label=label, linewidth=1.4)
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_axes.set_xlabel("false positive rate")
    roc_axes.set_ylabel("true positive rate")
    roc_axes.set_title("ROC")
    roc_axes.legend(loc="lower right", fontsize=8)

    # Right: AUC and AP per scorer, published anchors as markers.
    names = list(scores)
    position = np.arange(len(names))
    width = 0.38
    for offset, metric in ((-width / 2, "auc"), (width / 2, "ap")):
        heights = [quality.get(n, {}).get(metric) or 0.0 for n in names]
        bars = bar_axes.bar(position + offset, heights, width, label=metric.upper())
        bar_axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
        published = [anchors.get(n, {}).get(metric) for n in names]
        marks = [(p + offset, v) for p, v in zip(position, published, strict=True)
                 if v is not None]
        if marks:
            bar_axes.scatter(*zip(*marks, strict=True), marker="_", s=400,
                             color="black", zorder=3,
                             label="published" if metric == "auc" else None)
    for metric, value in (goals or {}).items():
        bar_axes.axhline(value, linestyle="--", linewidth=1,
                         color="tab:blue" if metric == "auc" else "tab:orange",
                         label=f"goal {metric.upper()} {value}")
    bar_axes.set_xticks(position, names, rotation=20, ha="right", fontsize=8)
    bar_axes.set_ylim(0, 1.05)
    bar_axes.set_title("AUC and AP" + (" (black: published)" if anchors else ""))
    bar_axes.legend(loc="upper right", fontsize=7)

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    log.info("chart written path=%s", path)
    return path


def draw_report(path: Path, name: str, report: dict[str, Any], y: NDArray,
                scores: dict[str, NDArray]) -> Path:
    """The chart of one dataset's report, as built by the command."""
    quality = {k: v for k, v in report["scorers"].items()}
    return draw(
        path, f"lifecycle evaluate: {name} ({report['target']})", y, scores,
        quality, report.get("anchors"), report.get("goals"),
    )
