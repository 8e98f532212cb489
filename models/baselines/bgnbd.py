"""The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005), fitted offline.

A customer buys at a Poisson rate drawn from Gamma(r, alpha) and, after each
purchase, drops out with a probability drawn from Beta(a, b). Each customer is
summarised by ``x`` (repeat purchases in the calibration period), ``t_x`` (time of
the last purchase since the first) and ``T`` (time from the first purchase to the
end of calibration), all in one time unit (weeks in the literature).

The fit maximises the log-likelihood over log-parameters with L-BFGS and the
analytic gradient; the gradient is checked against finite differences in the tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> NDArray:
        return np.array([self.r, self.alpha, self.a, self.b])

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items()}


@dataclass(frozen=True)
class Summary:
    """Per-customer calibration summaries, as float arrays of equal length."""

    x: NDArray
    t_x: NDArray
    T: NDArray

    @classmethod
    def of(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Summary:
        arrays = [np.asarray(v, dtype=float).ravel() for v in (x, t_x, T)]
        if len({a.size for a in arrays}) != 1:
            raise ValueError("x, t_x and T must have the same length")
        x_, t_x_, T_ = arrays
        if np.any(x_ < 0) or np.any(t_x_ < 0) or np.any(t_x_ > T_ + 1e-9):
            raise ValueError("need x >= 0 and 0 <= t_x <= T")
        return cls(x_, t_x_, T_)


def _terms(
    params: NDArray, data: Summary
) -> tuple[NDArray, NDArray, NDArray, list[NDArray], list[NDArray]]:
    """The two log-terms of each customer's likelihood and their derivatives with
    respect to (r, alpha, a, b).

    L = exp(l1) + [x > 0] exp(l2), with
    l1 = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x) - lnB(a, b)
         - (r+x) ln(alpha+T)
    l2 = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a+1, b+x-1) - lnB(a, b)
         - (r+x) ln(alpha+t_x)
    """
    r, alpha, a, b = params
    x, t_x, T = data.x, data.t_x, data.T
    repeat = x > 0
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)

    l1 = common + betaln(a, b + x) - (r + x) * np.log(alpha + T)
    # For x = 0 the second term is absent; b + x - 1 is kept positive so that the
    # masked-out values stay finite.
    bx1 = np.where(repeat, b + x - 1.0, b)
    l2 = np.where(
        repeat,
        common + betaln(a + 1.0, bx1) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    log_l = np.logaddexp(l1, l2)

    d_common_r = digamma(r + x) - digamma(r) + np.log(alpha)
    d_common_b = digamma(a + b) - digamma(b)
    d1 = [
        d_common_r - np.log(alpha + T),
        r / alpha - (r + x) / (alpha + T),
        digamma(a + b) - digamma(a + b + x),
        d_common_b + digamma(b + x) - digamma(a + b + x),
    ]
    d2 = [
        d_common_r - np.log(alpha + t_x),
        r / alpha - (r + x) / (alpha + t_x),
        digamma(a + 1.0) - digamma(a) + digamma(a + b) - digamma(a + b + x),
        d_common_b + digamma(bx1) - digamma(a + b + x),
    ]
    return log_l, l1, l2, d1, d2


def log_likelihood(params: ArrayLike, data: Summary) -> float:
    """Total log-likelihood of the customers at (r, alpha, a, b)."""
    log_l, *_ = _terms(np.asarray(params, dtype=float), data)
    return float(log_l.sum())


def gradient(params: ArrayLike, data: Summary) -> NDArray:
    """Gradient of the total log-likelihood with respect to (r, alpha, a, b)."""
    log_l, l1, l2, d1, d2 = _terms(np.asarray(params, dtype=float), data)
    w1 = np.exp(l1 - log_l)
    w2 = np.exp(l2 - log_l)
    return np.array([np.sum(w1 * g1 + w2 * g2) for g1, g2 in zip(d1, d2, strict=True)])


def fit(data: Summary, start: ArrayLike = (1.0, 1.0, 1.0, 1.0)) -> BgNbdParams:
    """Maximum-likelihood parameters, searched over their logarithms."""

    def objective(theta: NDArray) -> tuple[float, NDArray]:
        params = np.exp(theta)
        value = log_likelihood(params, data)
        # d/d(ln p) = p * d/dp
        return -value / n, -gradient(params, data) * params / n

    n = max(data.x.size, 1)
    result = minimize(
        objective, np.log(np.asarray(start, dtype=float)), jac=True,
        method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 4,
        options={"maxiter": 500, "gtol": 1e-9, "ftol": 1e-14},
    )
    params = BgNbdParams(*np.exp(result.x).tolist())
    log.info(
        "bgnbd fit customers=%d r=%.4f alpha=%.4f a=%.4f b=%.4f ll=%.2f "
        "iterations=%d converged=%s",
        data.x.size, params.r, params.alpha, params.a, params.b,
        -result.fun * n, result.nit, result.success,
    )
    return params


def _dropout_odds(params: BgNbdParams, data: Summary) -> NDArray:
    """[x > 0] a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = data.x
    repeat = x > 0
    log_odds = (
        np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0))
        + (r + x) * (np.log(alpha + data.T) - np.log(alpha + data.t_x))
    )
    return np.where(repeat, np.exp(log_odds), 0.0)


def p_alive(params: BgNbdParams, data: Summary) -> NDArray:
    """Probability that each customer is still active at the end of calibration."""
    return 1.0 / (1.0 + _dropout_odds(params, data))


def expected_purchases(params: BgNbdParams, data: Summary, t: float) -> NDArray:
    """Expected purchases of each customer in the next ``t`` time units."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, T = data.x, data.T
    z = t / (alpha + T + t)
    shrink = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    bracket = 1.0 - shrink * hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    return (a + b + x - 1.0) / (a - 1.0) * bracket / (1.0 + _dropout_odds(params, data))
