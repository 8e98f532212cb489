"""Feature vectors as every model reads them: named, finite and bounded.

A caller hands a model a list in :data:`~models.features.FEATURE_NAMES` order, or a
mapping from feature names to values. :func:`prepare` turns either into a
:class:`Vector` once, so that the models behind one score share the work:

>>> first, second = FEATURE_NAMES[:2]
>>> v = prepare({first: 2.0, "a_new_field": 7.0, second: "gold"})
>>> v.values[:3], len(v.values) == len(FEATURE_NAMES)
([2.0, 0.0, 0.0], True)
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from models.features import FEATURE_NAMES

N_FEATURES = len(FEATURE_NAMES)
# Features are log-scaled, so real values stay far inside this; anything beyond is
# an input error that must not blow up a model's weights.
FEATURE_LIMIT = 1e6
# Scores never touch 0 or 1, so downstream logs and odds stay finite.
SCORE_FLOOR = 1e-6

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
# How a user row keeps a pending moment's vector: little-endian float32, base64.
PACKED = np.dtype("<f4")


class Vector:
    """One cleaned feature vector, with the views the models read built lazily.

    ``values`` is a list in FEATURE_NAMES order; treat it and the views as read-only.
    """

    __slots__ = ("values", "_named", "_array")

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self._named: dict[str, float] | None = None
        self._array: np.ndarray | None = None

    def named(self) -> dict[str, float]:
        """The values by feature name (River models read dictionaries)."""
        if self._named is None:
            self._named = dict(zip(FEATURE_NAMES, self.values, strict=True))
        return self._named

    def array(self) -> np.ndarray:
        """The values as a float64 array (the network reads arrays)."""
        if self._array is None:
            self._array = np.array(self.values, dtype=np.float64)
        return self._array


def pack(x: Sequence[float]) -> str:
    """A vector as a user row keeps it until its label is known (see
    :mod:`models.labels`): the values as little-endian float32, in base64 text.

    A row is serialised at every change of its user, with up to eight such
    vectors: as text it is copied, not formatted number by number, and it is
    about a third smaller than the values written as JSON numbers with four
    decimals. float32 keeps 7 significant digits; a value beyond its range
    becomes an infinity, which :func:`prepare` clips like any other.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        raw = np.asarray(x, dtype=PACKED).tobytes()
    return base64.b64encode(raw).decode("ascii")


def unpack(text: str) -> list[float]:
    """The values of a :func:`pack` text (ValueError if it is not one)."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) % PACKED.itemsize:
        raise ValueError(f"a packed vector of {len(raw)} bytes is not whole floats")
    return np.frombuffer(raw, dtype=PACKED).tolist()


def prepare(
    x: Vector | Sequence[float] | Mapping[str, Any] | np.ndarray | str,
) -> Vector:
    """A clean Vector from whatever a caller holds; the input is never changed.

    A sequence must have one value per feature (ValueError otherwise: its columns
    could not be trusted); a text is a :func:`pack` of one. In a mapping, a
    missing feature counts as 0, an unknown key is ignored and a value that is not
    a number (a category, None) counts as missing. NaN becomes 0 and values are
    clipped to +-FEATURE_LIMIT.
    """
    if isinstance(x, Vector):
        return x
    if isinstance(x, str):
        x = unpack(x)
    if isinstance(x, Mapping):
        return Vector(_from_mapping(x))
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if len(x) != N_FEATURES:
        raise ValueError(f"expected {N_FEATURES} features, got {len(x)}")
    # The common case, every value a number in range, is checked by builtins that
    # loop in C. A NaN or an infinity makes the sum NaN or infinite, which fails
    # its comparison; a value that is not a number makes sum() raise.
    try:
        if _within(x, FEATURE_LIMIT):
            return Vector(list(x))
    except TypeError:
        pass
    return Vector([_clean(v) for v in x])


def bounded(p: float) -> float:
    """A probability kept strictly inside (0, 1); a non-finite one becomes 0.5."""
    if not math.isfinite(p):
        return 0.5
    return min(max(p, SCORE_FLOOR), 1.0 - SCORE_FLOOR)


def _within(values: Sequence[float], limit: float) -> bool:
    """True if every value is finite and within +-limit."""
    if not values:
        return True
    total = sum(values)
    return (
        -limit * len(values) <= total <= limit * len(values)
        and max(values) <= limit
        and min(values) >= -limit
    )


def _from_mapping(x: Mapping[str, Any]) -> list[float]:
    values = [0.0] * N_FEATURES
    for name, value in x.items():
        i = _INDEX.get(name)
        if i is not None:
            values[i] = _clean(value)
    return values


def _clean(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float | np.number):
        return 0.0
    v = float(value)
    if math.isnan(v):
        return 0.0
    return min(max(v, -FEATURE_LIMIT), FEATURE_LIMIT)


class RemembersLastLogit:
    """For a model the scorer first judges and then teaches with the same Vector:
    the log-odds of the last Vector scored are kept and reused by that learning
    step. The memo is never pickled."""

    _last: tuple[Vector | None, float] = (None, 0.0)

    def _memo_logit(self, v: Vector, compute: Callable[[Vector], float]) -> float:
        last, z = self._last
        if last is v:
            return z
        z = compute(v)
        self._last = (v, z)
        return z

    def _forget_last(self) -> None:
        self._last = (None, 0.0)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_last"] = (None, 0.0)
        return state
