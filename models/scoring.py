"""Churn risk and purchase propensity: several models per target, one blended score.

Per target (churn, purchase) a :class:`Scorer` keeps three models: a scaled
logistic regression and an adaptive Hoeffding tree from River, which learn one
example at a time, and an MLP retrained by torch in another process from a bounded
buffer of recent examples (see :mod:`models.network`, :mod:`models.trainer`). Every
labelled example first judges each model (progressive evaluation,
:mod:`models.evaluation`) and feeds its drift detectors (:mod:`models.drift`), then
teaches it. The published score is the models' mix weighted by their recent log
loss (:mod:`models.blend`).

Nothing here waits: a training job is submitted and its result picked up by a
later call. Given a directory, the scorer restores itself from it at start and
checkpoints to it every ``checkpoint_every`` labels and on :meth:`Scorer.close`
(:mod:`models.registry`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

from models.drift import DriftMonitor
from models.features import FEATURE_NAMES
from models.labels import CHURN, PURCHASE, TARGETS
from models.registry import Registry
from models.targets import BLEND, MODEL_NAMES, ScorerConfig, TargetModels
from models.trainer import Trainer, TrainJob, process_pool
from models.vectors import FEATURE_LIMIT, SCORE_FLOOR, bounded, prepare

log = logging.getLogger(__name__)
# A model's figures before their first refresh: the keys are always published
# (docs/topics.md), null until defined.
NO_FIGURES = {"rolling_auc": None, "rolling_log_loss": None, "ece": None}

__all__ = ["FEATURE_LIMIT", "SCORE_FLOOR", "Scorer", "ScorerConfig"]


class Scorer:
    """Scores, learns, evaluates, retrains and checkpoints every model.

    ``models_dir``: where checkpoints are read at start and written (None: kept
    in memory only). ``executor_factory`` builds the executor training jobs run
    on; the default is one spawned process.
    """

    def __init__(
        self,
        auc_window: int | None = None,
        *,
        config: ScorerConfig | None = None,
        models_dir: str | Path | None = None,
        executor_factory: Callable[[], Executor] = process_pool,
    ) -> None:
        config = config or ScorerConfig()
        if auc_window is not None:
            config = replace(config, window=auc_window)
        self.config = config
        self._targets = {target: TargetModels(target, config) for target in TARGETS}
        self.learned = {target: 0 for target in TARGETS}
        self.drift = DriftMonitor(
            config.drift_delta, config.drift_cooldown, config.min_judged
        )
        self.labels = 0
        self.skipped = 0
        self._report: tuple[int, dict[str, Any]] | None = None
        self._trainer = Trainer(executor_factory)
        self._registry: Registry | None = None
        self._closed = False
        if models_dir is not None:
            self._registry = Registry(models_dir)
            self._restore()

    # -- the hot path -------------------------------------------------------

    def score(self, x: Any) -> dict[str, float]:
        """Churn risk and purchase propensity for one feature vector."""
        v = prepare(x)
        if self._trainer.has_results:
            self._collect()
        targets = self._targets
        return {
            CHURN: targets[CHURN].predict(v),
            PURCHASE: targets[PURCHASE].predict(v),
        }

    def poll(self) -> None:
        """Swap in finished trainings now; the worker calls it on its timer, so new
        weights do not wait for the next event."""
        if self._trainer.has_results:
            self._collect()

    def learn(self, target: str, x: Any, y: int) -> None:
        """Judge every model of ``target`` on one labelled example, then teach it.

        A vector of the wrong length (kept from an older feature layout) is
        skipped and counted: its columns cannot be trusted.
        """
        try:
            v = prepare(x)
        except ValueError as exc:
            self.skipped += 1
            if self.skipped & (self.skipped - 1) == 0:  # 1, 2, 4, 8, ...
                log.warning("example skipped target=%s skipped=%d error=%s",
                            target, self.skipped, exc)
            return
        y = 1 if y else 0
        if self._trainer.has_results:
            self._collect()
        t = self._targets[target]
        cfg = self.config

        # Judge: each model, and the blend as it would have scored.
        self.drift.tick(target)
        drifted = False
        predictions: dict[str, float] = {}
        for model in t.models:
            if not model.ready:
                continue
            p = model.predict_one(v)
            predictions[model.name] = p
            t.evals[model.name].update(y, p)
            drifted |= self.drift.update(target, model.name, abs(y - p))
        t.evals[BLEND].update(y, bounded(t.blend.combine(predictions)))

        # Teach.
        for model in t.models:
            model.learn_one(v, y)
        t.learned += 1
        t.positives += y
        t.since_training += 1
        self.learned[target] = t.learned
        self.labels += 1

        # Housekeeping, each on its own cadence.
        if drifted:
            self._on_drift(t)
        if t.learned % cfg.reweigh_every == 0:
            t.reweigh(cfg.min_judged)
        if t.learned % cfg.figures_every == 0:
            t.refresh_figures()
        self._maybe_train(t)
        if self.labels % cfg.checkpoint_every == 0:
            self.log_figures()
            self.checkpoint()

    # -- what the outputs say about the models ------------------------------

    def versions(self) -> dict[str, str]:
        """The model behind each published score: the blend, ``blend@learned``."""
        targets = self._targets
        return {CHURN: targets[CHURN].version(), PURCHASE: targets[PURCHASE].version()}

    def model_versions(self) -> dict[str, dict[str, str]]:
        """Every model's version, per target."""
        return {
            target: {
                **{model.name: model.version() for model in t.models},
                BLEND: t.version(),
            }
            for target, t in self._targets.items()
        }

    def metadata(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per target and model: version, blend weight and recent figures (as of
        the last refresh, every ``figures_every`` labels)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for target, t in self._targets.items():
            weights = t.blend.weights
            figures = t.figures
            entry = {
                model.name: {
                    "version": model.version(),
                    "weight": round(weights.get(model.name, 0.0), 4),
                    **figures.get(model.name, NO_FIGURES),
                }
                for model in t.models
            }
            entry[BLEND] = {"version": t.version(), **figures.get(BLEND, NO_FIGURES)}
            out[target] = entry
        return out

    def published_metadata(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What score messages carry as ``models``: :meth:`metadata`."""
        return self.metadata()

    def report(self) -> dict[str, dict[str, Any]]:
        """Progressive quality per target: of the published (blended) score at the
        top level, of each model under ``models``. AUC is None until both
        outcomes have been seen."""
        if self._report is not None and self._report[0] == self.labels:
            return self._report[1]
        out: dict[str, dict[str, Any]] = {}
        for target, t in self._targets.items():
            blend = t.evals[BLEND].report()
            out[target] = {
                "version": t.version(),
                "learned": t.learned,
                "positives": t.positives,
                **{k: v for k, v in blend.items() if k not in ("judged", "positives")},
                "weights": {k: round(w, 4) for k, w in t.blend.weights.items()},
                "models": {
                    model.name: {
                        "version": model.version(),
                        **t.evals[model.name].report(),
                    }
                    for model in t.models
                },
                "network": {
                    "trainings": dict(t.trainings),
                    "training_now": self._trainer.busy(target),
                    "last_train_s": (
                        None if t.last_train_s is None else round(t.last_train_s, 3)
                    ),
                    "last_train_cpu_s": (
                        None if t.last_train_cpu_s is None
                        else round(t.last_train_cpu_s, 3)
                    ),
                    "buffer": t.mlp.buffer.size,
                },
                "drifts": self.drift.drifts.get(target, 0),
                "drift_alarms_ignored": self.drift.ignored.get(target, 0),
                "drift_candidates_dismissed": self.drift.dismissed.get(target, 0),
            }
        self._report = (self.labels, out)
        return out

    def log_figures(self) -> None:
        """One log line per target and model with its recent figures."""
        for target, t in self._targets.items():
            t.refresh_figures()
            by_name = {model.name: model for model in t.models}
            for name in (*MODEL_NAMES, BLEND):
                figures = t.figures[name]
                if name == BLEND:
                    version = t.version()
                elif name in by_name:
                    version = by_name[name].version()
                else:
                    continue  # left out (the quality harness can drop the network)
                log.info(
                    "model figures target=%s model=%s version=%s weight=%s "
                    "judged=%d rolling_auc=%s rolling_log_loss=%s ece=%s",
                    target, name, version,
                    round(t.blend.weights.get(name, 0.0), 4) if name != BLEND else 1,
                    t.evals[name].judged, figures["rolling_auc"],
                    figures["rolling_log_loss"], figures["ece"],
                )

    # -- training the network ----------------------------------------------

    def _on_drift(self, t: TargetModels) -> None:
        """Retrain the network once, now, on its buffer (the newest examples).

        The buffer is kept whole: labels arrive in bursts long enough to pass for
        a shift, and a network trained on one burst alone scores the next one
        confidently wrong (measured on CDNOW: rolling AUC 0.32 when the buffer
        was cut to the examples after each drift).
        """
        t.drift_pending = True

    def _maybe_train(self, t: TargetModels) -> None:
        if self._trainer.busy(t.target) or not t.mlp.trainable or self._closed:
            return
        if t.drift_pending:
            reason = "drift"
        elif t.since_training >= self.config.retrain_every or (
            t.submitted_version == 0 and t.mlp.weights is None
        ):
            # The first training as soon as there is enough to learn from; after
            # that (and after a failure) every retrain_every labels.
            reason = "scheduled"
        else:
            return
        current = t.mlp.weights.version if t.mlp.weights is not None else 0
        version = max(current, t.submitted_version) + 1
        x, y = t.mlp.buffer.snapshot()
        self._trainer.submit(
            TrainJob(
                target=t.target,
                version=version,
                x=x,
                y=y,
                feature_names=FEATURE_NAMES,
                seed=self.config.seed * 1000 + version * 10 + TARGETS.index(t.target),
                config=t.mlp.config,
                reason=reason,
                delay_s=self.config.train_delay_s,
            )
        )
        t.submitted_version = version
        t.since_training = 0
        t.drift_pending = False
        log.debug("network training submitted target=%s version=%d reason=%s "
                  "examples=%d", t.target, version, reason, len(y))

    def _collect(self) -> None:
        """Swap in the weights of every finished training."""
        for job, outcome in self._trainer.collect():
            t = self._targets[job.target]
            self._report = None
            if isinstance(outcome, CancelledError):
                log.info("network training cancelled target=%s version=%d",
                         job.target, job.version)
                continue
            if isinstance(outcome, BaseException):
                t.trainings["failed"] += 1
                log.error("network training failed target=%s version=%d error=%r",
                          job.target, job.version, outcome)
                continue
            if not t.mlp.install(outcome.weights):
                continue
            t.trainings[job.reason] += 1
            t.last_train_s = outcome.train_s
            t.last_train_cpu_s = outcome.cpu_s
            # A new network makes new errors: its detector starts afresh.
            self.drift.reset(job.target, t.mlp.name)
            if self._registry is not None:
                self._registry.save_network(job.target, outcome.weights)
            log.info(
                "network swapped target=%s version=%s reason=%s examples=%d "
                "train_s=%.3f cpu_s=%.3f loss=%.4f",
                job.target, t.mlp.version(), job.reason, len(job.y),
                outcome.train_s, outcome.cpu_s, outcome.loss,
            )

    # -- persistence --------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for runtime in ("_trainer", "_registry", "_report", "_closed"):
            state.pop(runtime)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._trainer = Trainer()
        self._registry = None
        self._report = None
        self._closed = False

    def checkpoint(self) -> None:
        """Write the models to the models dir (no-op without one, or once closed:
        the last checkpoint is the one close() writes)."""
        if self._registry is None or self._closed:
            return
        self._save()

    def _save(self) -> None:
        assert self._registry is not None
        started = time.monotonic()
        size = self._registry.save_state(self.__getstate__())
        if size is None:
            return  # another worker writes this directory (logged once)
        log.info("models checkpoint labels=%d bytes=%d pickle_ms=%.1f",
                 self.labels, size, (time.monotonic() - started) * 1000)

    def _restore(self) -> None:
        assert self._registry is not None
        state = self._registry.load_state()
        if state is not None:
            for key in ("_targets", "learned", "drift", "labels", "skipped"):
                setattr(self, key, state[key])
        # A network file newer than the state (written at a swap after the last
        # checkpoint) wins.
        newer = 0
        for target, t in self._targets.items():
            weights = self._registry.load_network(target)
            newer += weights is not None and t.mlp.install(weights)
        if state is not None or newer:
            log.info(
                "models restored directory=%s labels=%d networks=%s "
                "networks_newer_than_state=%d",
                self._registry.directory, self.labels,
                ",".join(f"{k}:{t.mlp.version()}" for k, t in self._targets.items()),
                newer,
            )

    def close(self, timeout_s: float | None = 5.0) -> None:
        """Stop training (a running job gets ``timeout_s`` to finish and is kept if
        it does), log the figures, checkpoint and release the models dir. Scoring
        still works afterwards."""
        if self._closed:
            return
        self._closed = True
        self._trainer.close(timeout_s)
        if self._trainer.has_results:
            self._collect()
        self.log_figures()
        if self._registry is not None:
            self._save()
            self._registry.close()


def clean_features(x: Any) -> dict[str, float]:
    """The features by name, finite and bounded (see models.vectors.prepare)."""
    return prepare(x).named()
