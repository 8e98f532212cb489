"""The models of one target, their progressive figures and their blend.

:class:`ScorerConfig` says how the scorer learns; :class:`TargetModels` holds, for
one target, the three models, an evaluation per model and for the blend, the
blend's weights and the network's training bookkeeping. The scorer
(:mod:`models.scoring`) drives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.blend import Blend
from models.evaluation import Progressive
from models.labels import TARGETS
from models.network import NetworkConfig, NetworkModel
from models.river_models import LogisticModel, TreeModel
from models.vectors import Vector, bounded

MODEL_NAMES = ("logreg", "tree", "mlp")
BLEND = "blend"


@dataclass(frozen=True)
class ScorerConfig:
    """How the scorer learns; every count is of labelled examples."""

    seed: int = 0
    # Recent examples behind the rolling figures (AUC, log loss, calibration).
    window: int = 10_000
    network: NetworkConfig = field(default_factory=NetworkConfig)
    # Labels of a target between two scheduled trainings of its network.
    retrain_every: int = 5_000
    # Labels (all targets) between two checkpoints, and two lines of figures in
    # the log.
    checkpoint_every: int = 20_000
    # Labels of a target between two updates of its blend weights, and of the
    # figures published with each score.
    reweigh_every: int = 100
    figures_every: int = 1_000
    # The tree learns from every n-th label only (its calibration from all): an
    # adaptive tree costs 100-600 us per example learned on bursty label streams,
    # against about 50 us when it learns every fourth (see README, "Models").
    tree_learn_every: int = 4
    # Recent examples a model must have been judged on to take part in the blend.
    min_judged: int = 200
    temperature: float = 0.02
    drift_delta: float = 0.002
    # Labels of a target during which, after a drift, further alarms are ignored.
    drift_cooldown: int = 5_000
    # CPU seconds every training job burns on top: lets a test make training slow
    # (LIFECYCLE_TRAIN_EXTRA_CPU_S in the worker).
    train_delay_s: float = 0.0


def mix(active: list[tuple[Any, float]], v: Vector) -> float:
    """The blended score: each model's probability times its weight."""
    total = 0.0
    for model, weight in active:
        total += weight * model.predict_one(v)
    return bounded(total)


class TargetModels:
    """The models of one target, their progressive figures and their blend."""

    def __init__(self, target: str, config: ScorerConfig) -> None:
        seed = config.seed * 1000 + TARGETS.index(target)
        self.target = target
        self.logreg = LogisticModel(seed)
        self.tree = TreeModel(seed, learn_every=config.tree_learn_every)
        self.mlp = NetworkModel(seed, config.network)
        self.models = (self.logreg, self.tree, self.mlp)
        self.evals = {
            name: Progressive(config.window) for name in (*MODEL_NAMES, BLEND)
        }
        self.blend = Blend(MODEL_NAMES, "logreg", config.temperature)
        self.active: list[tuple[Any, float]] = [(self.logreg, 1.0)]
        self.learned = 0
        self.positives = 0
        self.since_training = 0
        self.submitted_version = 0
        self.drift_pending = False
        self.trainings = {"scheduled": 0, "drift": 0, "failed": 0}
        self.last_train_s: float | None = None
        self.last_train_cpu_s: float | None = None
        self.figures: dict[str, dict[str, float | None]] = {}

    def predict(self, v: Vector) -> float:
        return mix(self.active, v)

    def reweigh(self, min_judged: int) -> None:
        losses = {
            model.name: (
                self.evals[model.name].rolling_log_loss()
                if model.ready and self.evals[model.name].size >= min_judged
                else None
            )
            for model in self.models
        }
        self.blend.reweigh(losses)
        by_name = {model.name: model for model in self.models}
        self.active = [(by_name[n], w) for n, w in self.blend.weights.items()]

    def refresh_figures(self) -> None:
        self.figures = {}
        for name, evaluation in self.evals.items():
            calibration = evaluation.calibration()
            auc, loss = evaluation.rolling_auc(), evaluation.rolling_log_loss()
            self.figures[name] = {
                "rolling_auc": None if auc is None else round(auc, 4),
                "rolling_log_loss": None if loss is None else round(loss, 4),
                "ece": None if calibration is None else round(calibration[0], 4),
            }

    def version(self) -> str:
        return f"blend@{self.learned}"
