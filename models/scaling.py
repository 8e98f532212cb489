"""River's standard scaler with its running statistics in numpy arrays.

:class:`ArrayScaler` computes what ``river.preprocessing.StandardScaler`` computes
(Welford's running mean and population variance per feature; a feature of zero
variance scales to 0), but for a fixed list of feature names it keeps counts,
means and variances in arrays in that order. A dict whose keys are exactly those
names, in that order (what :meth:`models.vectors.Vector.named` builds), is learned
and transformed by a few vector operations instead of a Python loop per feature.
Any other dict takes a per-key path with the same formulas, so the scaler still
accepts whatever River's does. It stays a River transformer, so the logistic
model remains a ``compose.Pipeline``.

>>> scaler = ArrayScaler(("a", "b"))
>>> for x in ({"a": 1.0, "b": 5.0}, {"a": 3.0, "b": 5.0}):
...     scaler.learn_one(x)
>>> scaler.transform_one({"a": 4.0, "b": 6.0})
{'a': 2.0, 'b': 0.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from river import base, preprocessing


class ArrayScaler(base.Transformer):
    """Standard scaling of the features ``names``, statistics held in arrays."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        n = len(self.names)
        self.counts = np.zeros(n, dtype=np.float64)
        self.means = np.zeros(n, dtype=np.float64)
        self.vars = np.zeros(n, dtype=np.float64)
        self._index = {name: i for i, name in enumerate(self.names)}
        self._divisors: np.ndarray | None = None
        # Keys outside ``names`` (never sent by our models, but River's scaler
        # takes them) go to a River scaler of their own.
        self._others: preprocessing.StandardScaler | None = None

    @classmethod
    def from_river(
        cls, scaler: preprocessing.StandardScaler, names: Sequence[str]
    ) -> ArrayScaler:
        """The same statistics as River's ``scaler`` (plain, with_std, no window)."""
        new = cls(names)
        for key, count in scaler.counts.items():
            i = new._index.get(key)
            if i is None:
                new._other_scaler().counts[key] = count
                new._others.means[key] = scaler.means[key]  # type: ignore[union-attr]
                new._others.vars[key] = scaler.vars[key]  # type: ignore[union-attr]
                continue
            new.counts[i] = count
            new.means[i] = scaler.means[key]
            new.vars[i] = scaler.vars[key]
        new._divisors = None
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_index"], state["_divisors"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._index = {name: i for i, name in enumerate(self.names)}
        self._divisors = None

    def learn_one(self, x: dict[str, float]) -> None:
        if tuple(x) != self.names:
            self._learn_by_key(x)
            return

        self.learn_array(
            np.fromiter(x.values(), dtype=np.float64, count=len(self.names))
        )

    def learn_array(self, values: np.ndarray) -> None:
        """Learn ``values``, one per name in order."""
        # Welford, as River writes it: mean first, then the variance from the
        # old and the new mean.
        self.counts += 1.0
        delta = values - self.means
        self.means += delta / self.counts
        self.vars += (delta * (values - self.means) - self.vars) / self.counts
        self._divisors = None

    def transform_one(self, x: dict[str, float]) -> dict[str, float]:
        if tuple(x) != self.names:
            return self._transform_by_key(x)

        values = np.fromiter(x.values(), dtype=np.float64, count=len(self.names))
        scaled = self.scale_array(values)
        return dict(zip(self.names, scaled.tolist(), strict=True))

    def scale_array(self, values: np.ndarray) -> np.ndarray:
        """``values``, one per name in order, scaled (a new array)."""
        divisors = self._divisors
        if divisors is None:
            # A feature without variance is divided by infinity: it scales to 0,
            # as River's scaler has it.
            variances = self.vars
            divisors = self._divisors = np.where(
                variances != 0.0, np.sqrt(variances), np.inf
            )
        return (values - self.means) / divisors

    # -- any other dict -----------------------------------------------------

    def _other_scaler(self) -> preprocessing.StandardScaler:
        if self._others is None:
            self._others = preprocessing.StandardScaler()
        return self._others

    def _learn_by_key(self, x: dict[str, float]) -> None:
        others: dict[str, float] = {}
        for key, value in x.items():
            i = self._index.get(key)
            if i is None:
                others[key] = value
                continue
            self._divisors = None
            count = self.counts[i] = self.counts[i] + 1.0
            old_mean = float(self.means[i])
            mean = self.means[i] = old_mean + (value - old_mean) / count
            var = float(self.vars[i])
            self.vars[i] = var + ((value - old_mean) * (value - mean) - var) / count
        if others:
            self._other_scaler().learn_one(others)

    def _transform_by_key(self, x: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in x.items():
            i = self._index.get(key)
            if i is None:
                scaler = self._other_scaler()
                var = scaler.vars[key]
                out[key] = (value - scaler.means[key]) / var**0.5 if var else 0.0
                continue
            var = float(self.vars[i])
            out[key] = (value - float(self.means[i])) / var**0.5 if var else 0.0
        return out
