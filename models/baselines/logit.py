"""A batch logistic regression, fitted offline: the RFM baseline of the evaluation.

Features are standardised with the training means and deviations; the weights
minimise the mean log loss plus a small L2 penalty (intercept unpenalised), by
L-BFGS with the analytic gradient.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit, log_expit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Logit:
    mean: NDArray
    scale: NDArray
    weights: NDArray
    intercept: float

    def predict(self, features: ArrayLike) -> NDArray:
        """Probability of the positive class for each row."""
        z = (np.asarray(features, dtype=float) - self.mean) / self.scale
        return expit(z @ self.weights + self.intercept)


def fit_logit(features: ArrayLike, labels: ArrayLike, l2: float = 1e-4) -> Logit:
    """Fit on rows of ``features`` (n x k) and 0/1 ``labels`` (n)."""
    x = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=float).ravel()
    if x.ndim != 2 or x.shape[0] != y.size:
        raise ValueError(f"features {x.shape} do not match {y.size} labels")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    n, k = z.shape

    def objective(theta: NDArray) -> tuple[float, NDArray]:
        w, c = theta[:k], theta[k]
        logits = z @ w + c
        # -log p(y) for y in {0, 1}, computed without overflow.
        loss = -(y * log_expit(logits) + (1 - y) * log_expit(-logits)).mean()
        residual = (expit(logits) - y) / n
        grad = np.r_[z.T @ residual + 2 * l2 * w, residual.sum()]
        return float(loss + l2 * w @ w), grad

    result = minimize(
        objective, np.zeros(k + 1), jac=True, method="L-BFGS-B",
        options={"maxiter": 1000, "gtol": 1e-10},
    )
    model = Logit(mean, scale, result.x[:k], float(result.x[k]))
    log.info(
        "logit fit rows=%d features=%d positives=%d loss=%.5f converged=%s",
        n, k, int(y.sum()), result.fun, result.success,
    )
    return model
