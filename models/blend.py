"""The published score: the models' probabilities mixed by their recent log loss.

Each model's weight is ``exp(-(L - L_best) / temperature)``, normalised, where ``L``
is the model's mean log loss over its recent progressive predictions (see
:mod:`models.evaluation`) and ``L_best`` the lowest among the models. Log loss is
the figure that rewards both ranking and calibration, and the published score is
read as a probability, so it is the one that decides. With the default temperature
of 0.02, a model 0.05 nats worse than the best gets about a twelfth of the best
one's weight, and one 0.10 nats worse next to nothing. Weights below ``floor`` are
set to zero (that model is not even computed at scoring time). Only models judged
on at least ``min_judged`` recent examples take part; until one is, the fallback
model (the logistic regression) scores alone.

A mixture of probabilities is a probability, and its log loss is never worse than
the weighted mean of its parts' losses.

>>> b = Blend(("logreg", "tree"), fallback="logreg")
>>> b.reweigh({"logreg": 0.50, "tree": 0.45})
>>> round(b.weights["tree"], 3), b.combine({"logreg": 0.2, "tree": 0.4})
(0.924, 0.3848...)
"""

from __future__ import annotations

import math


class Blend:
    """Weights of the models of one target and their mix."""

    def __init__(
        self,
        names: tuple[str, ...],
        fallback: str,
        temperature: float = 0.02,
        floor: float = 0.01,
    ) -> None:
        self.names = names
        self.fallback = fallback
        self.temperature = temperature
        self.floor = floor
        self.weights: dict[str, float] = {fallback: 1.0}

    def reweigh(self, losses: dict[str, float | None]) -> None:
        """New weights from each model's recent log loss (None: not eligible)."""
        eligible = {
            name: loss
            for name, loss in losses.items()
            if loss is not None and math.isfinite(loss)
        }
        if not eligible:
            self.weights = {self.fallback: 1.0}
            return
        best = min(eligible.values())
        raw = {
            name: math.exp(-(loss - best) / self.temperature)
            for name, loss in eligible.items()
        }
        total = sum(raw.values())
        kept = {name: w / total for name, w in raw.items() if w / total >= self.floor}
        total = sum(kept.values())
        self.weights = {name: w / total for name, w in kept.items()}

    def combine(self, predictions: dict[str, float]) -> float:
        """The weighted mean of the models' probabilities."""
        return sum(w * predictions.get(name, 0.5) for name, w in self.weights.items())
