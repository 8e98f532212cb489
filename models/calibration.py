"""Online Platt scaling: ``sigmoid(a * z + b)`` over a model's log-odds ``z``.

A model whose scores rank well but are too sure of themselves (a tree's leaf
frequencies of 0 and 1, a network meeting inputs beyond its training range) gets
its probabilities corrected by two parameters learned by SGD on log loss, one
labelled example at a time. The slope stays non-negative: calibration may flatten
a model's ranking down to the base rate, never invert it.

>>> c = Platt(rate=0.05)
>>> for _ in range(500):
...     c.learn(4.0, 0)  # sure of a positive, always wrong
>>> c.slope, round(c.predict(4.0), 2)
(0.0, 0.04)
"""

from __future__ import annotations

import math

# Log-odds are clipped to this before scaling, which bounds each SGD step.
Z_LIMIT = 10.0


class Platt:
    """Two parameters, ``slope`` and ``intercept``, learned online."""

    def __init__(self, rate: float = 0.01) -> None:
        self.rate = rate
        self.slope = 1.0
        self.intercept = 0.0

    def predict(self, z: float) -> float:
        return sigmoid(self.slope * _clip(z) + self.intercept)

    def learn(self, z: float, y: int) -> None:
        """One SGD step on the log loss of ``y`` given log-odds ``z``."""
        z = _clip(z)
        gradient = sigmoid(self.slope * z + self.intercept) - (1.0 if y else 0.0)
        self.slope = max(0.0, self.slope - self.rate * gradient * z)
        self.intercept -= self.rate * gradient


def sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _clip(z: float) -> float:
    if not math.isfinite(z):
        return 0.0 if math.isnan(z) else math.copysign(Z_LIMIT, z)
    return min(max(z, -Z_LIMIT), Z_LIMIT)
