"""The River models: a scaled logistic regression and an adaptive Hoeffding tree.

Both learn one example at a time and read a :class:`~models.vectors.Vector` (or
anything :func:`~models.vectors.prepare` accepts). ``predict_one`` returns the
probability of the positive class, strictly inside (0, 1).
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

import numpy as np
from river import compose, linear_model, optim, preprocessing

from models.calibration import Platt
from models.features import FEATURE_NAMES
from models.hat import AdaptiveTree, hat_proba_one, upgraded
from models.scaling import ArrayScaler
from models.vectors import RemembersLastLogit, Vector, bounded, prepare

# A scaled feature beyond this many standard deviations is clipped. A feature that
# was constant (say, price while a shop sent none) has a variance near zero, and
# its first real values would otherwise scale to thousands and saturate the model.
SCALED_LIMIT = 5.0
# The SGD step of the logistic regression. Labels come in bursts of one cohort of
# moments, and at 0.02 the weights followed each burst: on CDNOW and Online
# Retail a step of 0.005 ranks the customers at the end of calibration 0.005 to
# 0.01 AUC better (scripts/quality_harness.py), near a batch fit on the same
# examples.
LEARNING_RATE = 0.005


def clip_scaled(x: dict[str, float]) -> dict[str, float]:
    """Bound every scaled feature to +-SCALED_LIMIT."""
    values = x.values()
    if max(values, default=0.0) <= SCALED_LIMIT and (
        min(values, default=0.0) >= -SCALED_LIMIT
    ):
        return x
    return {
        k: v if -SCALED_LIMIT <= v <= SCALED_LIMIT
        else (SCALED_LIMIT if v > 0 else -SCALED_LIMIT)
        for k, v in x.items()
    }


def new_pipeline() -> compose.Pipeline:
    """A scaled logistic regression."""
    return compose.Pipeline(
        ArrayScaler(FEATURE_NAMES),
        compose.FuncTransformer(clip_scaled),
        linear_model.LogisticRegression(
            optimizer=optim.SGD(LEARNING_RATE), l2=1e-4, clip_gradient=5.0
        ),
    )


def with_array_scaler(pipeline: compose.Pipeline) -> compose.Pipeline:
    """``pipeline`` with a River StandardScaler (as checkpoints written before
    :class:`~models.scaling.ArrayScaler` hold) replaced by one with the same
    statistics; any other pipeline is returned as it is."""
    steps = list(pipeline.steps.values())
    first = steps[0]
    if type(first) is not preprocessing.StandardScaler:
        return pipeline
    if getattr(first, "window_size", None) is not None or not first.with_std:
        return pipeline
    return compose.Pipeline(ArrayScaler.from_river(first, FEATURE_NAMES), *steps[1:])


class ArrayLogit:
    """The steps of a pipeline from :func:`new_pipeline`, taken on the feature
    array: scale, clip, one dot product and the loss's sigmoid to predict; the
    scaler's and the regression's own updates to learn, as ``Pipeline.learn_one``
    calls them, with the scaled features handed over as one dict. The pipeline
    must learn through :meth:`learn` while this is in use: predictions read a
    copy of the weights taken after the last one."""

    def __init__(self, pipeline: compose.Pipeline) -> None:
        scaler, _, regression = pipeline.steps.values()
        self.scaler: ArrayScaler = scaler
        self.regression: linear_model.LogisticRegression = regression
        self._weights: tuple[np.ndarray, float] | None = None

    @staticmethod
    def fits(pipeline: compose.Pipeline) -> bool:
        """Whether ``pipeline`` has the shape :func:`new_pipeline` builds and
        learns as usual (not inside ``compose.learn_during_predict``)."""
        steps = list(pipeline.steps.values())
        return (
            len(steps) == 3
            and type(steps[0]) is ArrayScaler
            and steps[0].names == FEATURE_NAMES
            and type(steps[1]) is compose.FuncTransformer
            and steps[1].func is clip_scaled
            and type(steps[2]) is linear_model.LogisticRegression
            and not compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT
        )

    def probability(self, values: np.ndarray) -> float:
        weights = self._weights
        if weights is None:
            regression = self.regression
            weights = self._weights = (
                regression._weights.to_numpy(list(FEATURE_NAMES)),
                float(regression.intercept),
            )
        z = float(weights[0].dot(self._clipped(values))) + weights[1]
        return self.regression.loss.mean_func(z)

    def learn(self, values: np.ndarray, y: bool) -> None:
        self.scaler.learn_array(values)
        scaled = self._clipped(values).tolist()
        self.regression.learn_one(dict(zip(FEATURE_NAMES, scaled, strict=True)), y)
        self._weights = None

    def _clipped(self, values: np.ndarray) -> np.ndarray:
        """What clip_scaled makes of the scaled values."""
        scaled = self.scaler.scale_array(values)
        np.maximum(scaled, -SCALED_LIMIT, out=scaled)
        np.minimum(scaled, SCALED_LIMIT, out=scaled)
        return scaled


class LogisticModel:
    """Standard scaling, clipping, then logistic regression by SGD.

    The model is a River pipeline. While it has the shape :func:`new_pipeline`
    builds, its steps are driven on arrays (:class:`ArrayLogit`): the same
    updates, and probabilities that agree with the pipeline's own to about
    1e-15, at a third of the cost.
    """

    name = "logreg"

    def __init__(self, seed: int = 0) -> None:
        # Nothing here is random; the seed is taken for a uniform signature.
        self.pipeline = new_pipeline()
        self.learned = 0
        self._arrays: ArrayLogit | None = None

    @property
    def ready(self) -> bool:
        return True

    def version(self) -> str:
        return f"river-logreg@{self.learned}"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_arrays", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.pipeline = with_array_scaler(self.pipeline)
        self._arrays = None

    def predict_one(self, x: Any) -> float:
        v = prepare(x)
        arrays = self._on_arrays()
        if arrays is None:
            return bounded(self.pipeline.predict_proba_one(v.named()).get(True, 0.5))
        return bounded(arrays.probability(v.array()))

    def learn_one(self, x: Any, y: int) -> None:
        v = prepare(x)
        arrays = self._on_arrays()
        if arrays is None:
            self.pipeline.learn_one(v.named(), bool(y))
        else:
            arrays.learn(v.array(), bool(y))
        self.learned += 1

    def _on_arrays(self) -> ArrayLogit | None:
        arrays = self._arrays
        if arrays is None and ArrayLogit.fits(self.pipeline):
            arrays = self._arrays = ArrayLogit(self.pipeline)
        return arrays


# Per-type counts per window (log_n_view_1h, ...) repeat what the window totals and
# lifetime per-type counts say, and a tree pays for every feature it watches on
# every example; it watches the others. (A rule rather than a list, so that new
# features reach the tree without an edit here.)
WINDOW_SUFFIXES = ("_1h", "_24h", "_7d", "_30d")
TREE_FEATURES = tuple(
    name
    for name in FEATURE_NAMES
    if not (name.startswith("log_n_") and name.endswith(WINDOW_SUFFIXES))
)
# Picks the tree's features from a Vector's values without building its dict.
_PICK_TREE_FEATURES = itemgetter(*(FEATURE_NAMES.index(name) for name in TREE_FEATURES))

# The tree's leaves give class frequencies, often 0 or 1; a score is kept this far
# from both before calibration so that its log-odds stay finite.
TREE_CLIP = 1e-3


class TreeModel(RemembersLastLogit):
    """A Hoeffding adaptive tree with an online Platt calibration on top.

    Leaves predict by class frequency (cheap: no naive Bayes over every feature at
    scoring time). Those frequencies are coarse and often 0 or 1, so their log-odds
    go through :class:`~models.calibration.Platt`, which learns from each labelled
    example before the tree does.

    With ``learn_every`` = n the tree itself learns from every n-th example only
    (the calibration still from each): on streams where labels come in bursts the
    tree's own drift detectors keep growing alternate subtrees, each learning too,
    and the cost per example learned climbs to several hundred microseconds.
    """

    name = "tree"

    def __init__(
        self,
        seed: int = 0,
        grace_period: int = 200,
        max_depth: int = 10,
        calibration_rate: float = 0.01,
        learn_every: int = 1,
    ) -> None:
        self.features = TREE_FEATURES
        self.tree = AdaptiveTree(
            grace_period=grace_period,
            max_depth=max_depth,
            leaf_prediction="mc",
            max_size=32.0,
            seed=seed,
        )
        self.calibration = Platt(calibration_rate)
        self.learn_every = learn_every
        self.learned = 0

    @property
    def ready(self) -> bool:
        return True

    def version(self) -> str:
        return f"river-hat@{self.learned}"

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.tree = upgraded(self.tree)

    def predict_one(self, x: Any) -> float:
        return bounded(self.calibration.predict(self._log_odds(prepare(x))))

    def learn_one(self, x: Any, y: int) -> None:
        v = prepare(x)
        # Calibration first, on the tree as it was before this example.
        self.calibration.learn(self._log_odds(v), y)
        if self.learned % self.learn_every == 0:
            self.tree.learn_one(self._select(v), bool(y))
        self.learned += 1
        self._forget_last()

    def _select(self, v: Vector) -> dict[str, float]:
        if self.features == TREE_FEATURES:
            return dict(zip(TREE_FEATURES, _PICK_TREE_FEATURES(v.values), strict=True))
        named = v.named()
        return {name: named[name] for name in self.features}

    def _log_odds(self, v: Vector) -> float:
        return self._memo_logit(v, self._tree_log_odds)

    def _tree_log_odds(self, v: Vector) -> float:
        proba = hat_proba_one(self.tree, self._select(v))
        raw = proba.get(True, 0.0) if proba else 0.5
        raw = min(max(raw, TREE_CLIP), 1.0 - TREE_CLIP)
        return math.log(raw / (1.0 - raw))

