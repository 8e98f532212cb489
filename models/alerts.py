"""Churn-alert episodes with hysteresis.

An episode opens when churn risk reaches the threshold and closes when risk falls
below the re-arm level or the user is active again. One episode raises one alert, so
a user hovering around the threshold does not flood the alert stream.
"""

from __future__ import annotations

from models.features import UserState


def should_alert(
    state: UserState,
    churn_risk: float,
    at_ms: int,
    threshold: float,
    rearm: float,
    min_events: int,
) -> int | None:
    """Update the user's alert episode; return the new episode number to announce."""
    alert = state.alert
    if alert["open"]:
        if churn_risk < rearm:
            alert["open"] = False
        return None
    if churn_risk < threshold or state.n_events < min_events:
        return None
    alert["episode"] += 1
    alert["open"] = True
    alert["ts_ms"] = at_ms
    return alert["episode"]


def close_on_activity(state: UserState) -> None:
    """A user who acts again ends the open episode."""
    if state.alert["open"]:
        state.alert["open"] = False
