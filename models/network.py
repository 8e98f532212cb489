"""The neural network: a small MLP trained by torch, scored by numpy.

Training runs in another process (:mod:`models.trainer`) on a bounded buffer of
labelled examples. What comes back is a :class:`NetworkWeights`: plain arrays and
the normaliser's statistics, enough for a forward pass in numpy, which costs a few
microseconds where a torch call costs tens. :class:`NetworkModel` holds the buffer
and the weights in use, and swaps in new weights with one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.calibration import Platt
from models.features import FEATURE_NAMES
from models.vectors import (
    N_FEATURES,
    RemembersLastLogit,
    Vector,
    bounded,
    prepare,
)

# Normalised inputs are clipped to this many standard deviations, so a value a
# million times larger than any seen in training moves a score, not saturates it.
INPUT_LIMIT = 5.0
# A feature whose spread in the buffer is below this is treated as constant.
MIN_SCALE = 1e-6


@dataclass(frozen=True)
class NetworkConfig:
    """Shape and training of the network."""

    hidden: tuple[int, ...] = (32, 16)
    epochs: int = 6
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    # Examples kept per target for training; the oldest go first.
    buffer_size: int = 20_000
    # No training before the buffer holds this many examples, and this many of
    # each class (a network that never saw a positive has nothing to learn).
    min_examples: int = 500
    min_per_class: int = 5


@dataclass(frozen=True, eq=False)
class NetworkWeights:
    """One trained version: layers as (weight[out, in], bias[out]) arrays."""

    version: int
    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    trained_on: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Normalising as x * (1 / scale) - mean / scale saves a division; plain
        # ufuncs cost less per call than np.clip on vectors this short.
        object.__setattr__(self, "_inv_scale", 1.0 / self.scale)
        object.__setattr__(self, "_shift", self.mean / self.scale)

    def logit(self, x: np.ndarray) -> float:
        """The network's log-odds for one raw feature vector."""
        z = np.minimum(np.maximum(x * self._inv_scale - self._shift, -INPUT_LIMIT),
                       INPUT_LIMIT)
        *hidden, (w_out, b_out) = self.layers
        for w, b in hidden:
            z = np.maximum(w.dot(z) + b, 0.0)
        return float(w_out[0].dot(z)) + float(b_out[0])


def normaliser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of a batch; constant features get scale 1."""
    mean = x.mean(axis=0, dtype=np.float64)
    scale = x.std(axis=0, dtype=np.float64)
    scale[~(scale > MIN_SCALE)] = 1.0
    return mean, scale


class ExampleBuffer:
    """The newest labelled examples of one target, in a fixed-size ring."""

    def __init__(self, capacity: int, n_features: int = N_FEATURES) -> None:
        self.x = np.zeros((capacity, n_features), dtype=np.float32)
        self.y = np.zeros(capacity, dtype=np.uint8)
        self.size = 0
        self.next = 0
        self.positives = 0

    @property
    def capacity(self) -> int:
        return len(self.y)

    def __getstate__(self) -> dict[str, Any]:
        # Only the examples held, oldest first: a checkpoint need not carry the
        # unused part of the ring.
        x, y = self.snapshot()
        return {"capacity": self.capacity, "x": x, "y": y}

    def __setstate__(self, state: dict[str, Any]) -> None:
        x, y = state["x"], state["y"]
        self.__init__(state["capacity"], x.shape[1])
        n = len(y)
        self.x[:n], self.y[:n] = x, y
        self.size, self.next = n, n % self.capacity
        self.positives = int(y.sum())

    def add(self, values: list[float], y: int) -> None:
        i = self.next
        if self.size == self.capacity:
            self.positives -= int(self.y[i])
        else:
            self.size += 1
        self.x[i] = values
        self.y[i] = y
        self.positives += y
        self.next = (i + 1) % self.capacity

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the examples, oldest first (safe to send while learning goes
        on)."""
        if self.size < self.capacity:
            return self.x[: self.size].copy(), self.y[: self.size].copy()
        order = np.r_[self.next : self.capacity, 0 : self.next]
        return self.x[order], self.y[order]


class NetworkModel(RemembersLastLogit):
    """The MLP as an online model: learning fills its buffer; predictions use the
    weights of the last finished training (0.5 before the first).

    Between two trainings the world moves on: features that grow with time (tenure,
    recency) leave the range the network was trained on and a ReLU network
    extrapolates them into confident, wrong scores (on CDNOW its rolling log loss
    reached 4). Its log-odds therefore go through an online
    :class:`~models.calibration.Platt`, learning from each labelled example and
    reset with each new version.
    """

    name = "mlp"

    def __init__(self, seed: int = 0, config: NetworkConfig | None = None) -> None:
        self.config = config or NetworkConfig()
        self.seed = seed
        self.buffer = ExampleBuffer(self.config.buffer_size)
        self.weights: NetworkWeights | None = None
        self.calibration = Platt()
        self.learned = 0

    @property
    def ready(self) -> bool:
        return self.weights is not None

    @property
    def trainable(self) -> bool:
        buf, cfg = self.buffer, self.config
        return (
            buf.size >= cfg.min_examples
            and buf.positives >= cfg.min_per_class
            and buf.size - buf.positives >= cfg.min_per_class
        )

    def version(self) -> str:
        weights = self.weights
        return f"torch-mlp@{weights.version if weights is not None else 0}"

    def predict_one(self, x: Any) -> float:
        if self.weights is None:
            return 0.5
        return bounded(self.calibration.predict(self._logit(prepare(x))))

    def learn_one(self, x: Any, y: int) -> None:
        v = prepare(x)
        if self.weights is not None:
            self.calibration.learn(self._logit(v), y)
        self.buffer.add(v.values, 1 if y else 0)
        self.learned += 1
        self._forget_last()

    def _logit(self, v: Vector) -> float:
        return self._memo_logit(v, self._network_logit)

    def _network_logit(self, v: Vector) -> float:
        assert self.weights is not None
        return self.weights.logit(v.array())

    def install(self, weights: NetworkWeights) -> bool:
        """Use ``weights`` from now on, unless they are older than those in use
        or were trained on another feature layout."""
        current = self.weights
        if current is not None and weights.version <= current.version:
            return False
        if weights.feature_names != FEATURE_NAMES:
            return False
        self.weights, self.calibration = weights, Platt()
        self._forget_last()
        return True
