"""Offline baselines of a period protocol, computed in the same run as the stream.

Each baseline gives one score per population customer, higher meaning more likely
to buy in the holdout: BG/NBD's expected holdout purchases and P(alive), recency
alone, and a logistic regression on RFM features trained one quarter earlier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.baselines import bgnbd
from models.baselines.logit import fit_logit
from streams.evaluate.protocols import PeriodSplit

log = logging.getLogger(__name__)

WEEK_DAYS = 7.0


@dataclass(frozen=True)
class Baselines:
    scores: dict[str, NDArray]
    bgnbd_params: bgnbd.BgNbdParams

    def describe(self) -> dict[str, Any]:
        return {"bgnbd_params": self.bgnbd_params.to_dict()}


def period_baselines(split: PeriodSplit) -> Baselines:
    """Scores of every baseline, aligned with ``split.population``."""
    calibration = split.calibration

    # BG/NBD in weeks, as published: fitted on calibration only.
    summary = calibration.bgnbd_summary(WEEK_DAYS)
    params = bgnbd.fit(summary)
    holdout_weeks = split.protocol.holdout_days / WEEK_DAYS
    expected = bgnbd.expected_purchases(params, summary, holdout_weeks)
    alive = bgnbd.p_alive(params, summary)

    # RFM logistic regression: features at the earlier split, labels up to the end
    # of calibration, then applied to features at the end of calibration.
    training = split.training
    logit = fit_logit(training.rfm_features(), split.training_bought)
    logit_scores = logit.predict(calibration.rfm_features())

    scores = {
        "bgnbd": expected,
        "bgnbd_p_alive": alive,
        "recency": -calibration.recency_days(),
        "logit": logit_scores,
    }
    for name, values in scores.items():
        if not np.all(np.isfinite(values)):
            bad = int(np.sum(~np.isfinite(values)))
            log.warning("baseline has non-finite scores name=%s count=%d", name, bad)
            scores[name] = np.nan_to_num(values, nan=0.0, posinf=1e12, neginf=-1e12)
    return Baselines(scores, params)
