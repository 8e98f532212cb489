"""Concept drift, seen in the models' errors: one alarm per lasting shift.

Every model of a target feeds its absolute error ``|y - p|`` on each example, before
learning from it, into its own ADWIN detector. ADWIN keeps a window of recent
errors and cuts it where the older part and the newer part differ in mean more
than chance allows. Only a cut after which errors are higher by at least
``margin`` counts here (a model getting better is not news).

Labels arrive in bursts: a sweep resolves many users' horizons at once, so a run of
churn=1 labels can raise every model's error for a few hundred examples and then
pass. A cut is therefore a *candidate*; it becomes a drift only if, ``confirm``
errors later, the detector's mean is still above the level before the cut by
``margin``. Several models see one shift and ADWIN may cut more than once while
errors climb, so after a drift of a target, further alarms are ignored for
``cooldown`` labels of that target.
"""

from __future__ import annotations

import logging

from river.drift import ADWIN

log = logging.getLogger(__name__)


class DriftMonitor:
    """ADWIN per (target, model) on the error stream; confirmed, debounced."""

    def __init__(
        self,
        delta: float = 0.002,
        cooldown: int = 5_000,
        warmup: int = 200,
        confirm: int = 1_000,
        margin: float = 0.02,
    ) -> None:
        self.delta = delta
        self.cooldown = cooldown
        # A model's first errors fall as it learns; cuts before this many of its
        # errors are not drift.
        self.warmup = warmup
        self.confirm = confirm
        self.margin = margin
        self._detectors: dict[tuple[str, str], ADWIN] = {}
        self._seen: dict[tuple[str, str], int] = {}
        # (target, model) -> (errors seen when the candidate is judged, level
        # before the cut).
        self._candidates: dict[tuple[str, str], tuple[int, float]] = {}
        self._labels: dict[str, int] = {}
        self._quiet_until: dict[str, int] = {}
        self.drifts: dict[str, int] = {}
        self.ignored: dict[str, int] = {}
        self.dismissed: dict[str, int] = {}
        # At each target's last drift: how many of the newest errors ADWIN kept,
        # i.e. how many recent examples look like the new concept (for the log).
        self.kept: dict[str, int] = {}

    def tick(self, target: str) -> None:
        """Count one label of ``target`` (call once per label, any model)."""
        self._labels[target] = self._labels.get(target, 0) + 1

    def update(self, target: str, model: str, error: float) -> bool:
        """Feed one error; True when this declares a new drift for ``target``."""
        key = (target, model)
        detector = self._detectors.get(key)
        if detector is None:
            detector = self._detectors[key] = ADWIN(delta=self.delta)
            self._seen[key] = 0
        before = detector.estimation
        detector.update(error)
        seen = self._seen[key] = self._seen[key] + 1

        candidate = self._candidates.get(key)
        if candidate is not None and seen >= candidate[0]:
            del self._candidates[key]
            if detector.estimation >= candidate[1] + self.margin:
                return self._declare(target, model, candidate[1], detector)
            self.dismissed[target] = self.dismissed.get(target, 0) + 1
            return False
        if (
            candidate is None
            and detector.drift_detected
            and detector.estimation >= before + self.margin
            and seen >= self.warmup
        ):
            self._candidates[key] = (seen + self.confirm, before)
        return False

    def reset(self, target: str, model: str) -> None:
        """Forget a model's error history (it was replaced by a new version)."""
        self._detectors.pop((target, model), None)
        self._seen.pop((target, model), None)
        self._candidates.pop((target, model), None)

    def _declare(
        self, target: str, model: str, level: float, detector: ADWIN
    ) -> bool:
        labels = self._labels.get(target, 0)
        if labels < self._quiet_until.get(target, 0):
            self.ignored[target] = self.ignored.get(target, 0) + 1
            return False
        self._quiet_until[target] = labels + self.cooldown
        self.drifts[target] = self.drifts.get(target, 0) + 1
        self.kept[target] = int(detector.width)
        log.info(
            "drift target=%s model=%s error_before=%.4f error_now=%.4f kept=%d "
            "labels=%d",
            target, model, level, detector.estimation, self.kept[target], labels,
        )
        return True
