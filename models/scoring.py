"""Churn risk and purchase propensity from River models that learn one example at a
time, judged progressively on each example before learning from it."""

from __future__ import annotations

import logging
import math
from collections import deque

from river import compose, linear_model, metrics, optim, preprocessing

from models.features import FEATURE_NAMES
from models.labels import CHURN, PURCHASE, TARGETS

log = logging.getLogger(__name__)

# Scores never touch 0 or 1, so downstream logs and odds stay finite.
SCORE_FLOOR = 1e-6
# Features are log-scaled, so real values stay far inside this; anything beyond is
# an input error that must not blow up a model's weights.
FEATURE_LIMIT = 1e6


def clean_features(x: list[float]) -> dict[str, float]:
    """Name the values and make each one finite and bounded."""
    if len(x) != len(FEATURE_NAMES):
        raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {len(x)}")
    # The common case, every value in range, is checked by builtins that loop in
    # C: this runs several times per event. A NaN or an infinity makes the sum
    # NaN or infinite, which fails its comparison.
    if _within(x, FEATURE_LIMIT):
        return dict(zip(FEATURE_NAMES, x, strict=True))
    return {
        name: min(max(v, -FEATURE_LIMIT), FEATURE_LIMIT) if math.isfinite(v) else 0.0
        for name, v in zip(FEATURE_NAMES, x, strict=True)
    }


# A scaled feature beyond this many standard deviations is clipped. A feature that
# was constant (say, price while a shop sent none) has a variance near zero, and
# its first real values would otherwise scale to thousands and saturate the model.
SCALED_LIMIT = 5.0


def _within(values: list[float], limit: float) -> bool:
    """True if every value is finite and within +-limit."""
    if not values:
        return True
    total = sum(values)
    return (
        -limit * len(values) <= total <= limit * len(values)
        and max(values) <= limit
        and min(values) >= -limit
    )


def clip_scaled(x: dict[str, float]) -> dict[str, float]:
    """Bound every scaled feature to +-SCALED_LIMIT."""
    if _within(list(x.values()), SCALED_LIMIT):
        return x
    return {
        k: v if -SCALED_LIMIT <= v <= SCALED_LIMIT
        else (SCALED_LIMIT if v > 0 else -SCALED_LIMIT)
        for k, v in x.items()
    }


def new_pipeline() -> compose.Pipeline:
    """A scaled logistic regression: the first, simple scorer."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        compose.FuncTransformer(clip_scaled),
        linear_model.LogisticRegression(
            optimizer=optim.SGD(0.02), l2=1e-4, clip_gradient=5.0
        ),
    )


class Scorer:
    """One online model per target, with progressive quality figures."""

    def __init__(self, auc_window: int = 10_000) -> None:
        self.models = {target: new_pipeline() for target in TARGETS}
        self.learned = {target: 0 for target in TARGETS}
        self.positives = {target: 0 for target in TARGETS}
        # Labels arrive in bursts (a sweep resolves many at once), so a short
        # rolling window can hold one class only; keep a long-run figure too.
        self.auc = {target: metrics.ROCAUC() for target in TARGETS}
        self.rolling_auc = {
            target: metrics.RollingROCAUC(window_size=auc_window)
            for target in TARGETS
        }
        # Outcomes in each rolling window, to tell when its AUC is undefined.
        self.recent = {target: deque(maxlen=auc_window) for target in TARGETS}
        self.logloss = {target: metrics.LogLoss() for target in TARGETS}

    def score(self, x: list[float]) -> dict[str, float]:
        """Churn risk and purchase propensity for one feature vector."""
        features = clean_features(x)
        return {
            CHURN: self._predict(CHURN, features),
            PURCHASE: self._predict(PURCHASE, features),
        }

    def learn(self, target: str, x: list[float], y: int) -> None:
        """Judge the model on one labelled example, then learn from it."""
        features = clean_features(x)
        p = self._predict(target, features)
        self.auc[target].update(bool(y), p)
        self.rolling_auc[target].update(bool(y), p)
        self.recent[target].append(y)
        self.logloss[target].update(bool(y), p)
        self.models[target].learn_one(features, bool(y))
        self.learned[target] += 1
        self.positives[target] += y

    def versions(self) -> dict[str, str]:
        return {
            target: f"river-logreg@{self.learned[target]}" for target in TARGETS
        }

    def report(self) -> dict[str, dict[str, float | int | None]]:
        """Progressive quality per target, on examples seen before learning.

        AUC is None until both outcomes have been seen.
        """
        out: dict[str, dict[str, float | int | None]] = {}
        for target in TARGETS:
            learned, positives = self.learned[target], self.positives[target]
            both = 0 < positives < learned
            recent = self.recent[target]
            both_recent = 0 < sum(recent) < len(recent)
            out[target] = {
                "learned": learned,
                "positives": positives,
                "auc": round(float(self.auc[target].get()), 4) if both else None,
                "rolling_auc": (
                    round(float(self.rolling_auc[target].get()), 4)
                    if both_recent else None
                ),
                "log_loss": round(float(self.logloss[target].get()), 4),
            }
        return out

    def _predict(self, target: str, features: dict[str, float]) -> float:
        proba = self.models[target].predict_proba_one(features).get(True, 0.5)
        if not math.isfinite(proba):
            log.warning("non-finite score target=%s; using 0.5", target)
            proba = 0.5
        return min(max(proba, SCORE_FLOOR), 1.0 - SCORE_FLOOR)
