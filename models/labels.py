"""Scoring moments and their labels, resolved in event time.

A scoring moment keeps the feature vector it was scored with until each target's
horizon has passed on the watermark. Its outcome may be known earlier (any activity
for churn, a purchase for propensity), but the label is learned only at the
horizon, as a label of the opposite outcome would be.

Why not learn an early outcome at once: then, at any event time, the models learn
positives from moments of the last horizon and negatives from moments one whole
horizon old, so whatever drifts with time (tenure, a cohort's age, the season)
passes for a sign of the outcome. And at the end of a replayed period the moments
of the last horizon have taught their positives but not yet their negatives. On
CDNOW the network, trained on the newest examples, ranked the customers at the
end of calibration at AUC 0.55 that way, and 0.77 with every label learned at its
horizon (scripts/quality_harness.py).
"""

from __future__ import annotations

from typing import Any

from models.features import UserState
from models.vectors import pack

CHURN = "churn"
PURCHASE = "purchase"
TARGETS = (CHURN, PURCHASE)
MAX_PENDING = 8
# A moment's target whose label has been learned; None is an outcome not yet
# known, 0 or 1 one known and waiting for the horizon.
LEARNED = -1

# (target, vector, label): the vector as kept, a pack() text or (rows written
# before version 4) a list of numbers; models.vectors.prepare reads either.
Labelled = tuple[str, str | list[float], int]


def add_moment(state: UserState, at_ms: int, x: list[float]) -> int:
    """Remember a scoring moment; return how many moments had to be dropped.

    The vector is kept packed (:func:`models.vectors.pack`): it is written to
    the changelog with every change of the row. The models take it as it is.

    Beyond MAX_PENDING moments the one closest to the moment before it goes (the
    oldest never does): a busy user keeps moments spread over the horizon, and
    the oldest still reach it. Dropping the oldest instead would leave a user
    with more than MAX_PENDING moments per horizon without a single label.
    """
    pending = state.pending
    pending.append({"ts_ms": at_ms, "x": pack(x), CHURN: None, PURCHASE: None})
    state.last_moment_ms = at_ms
    dropped = 0
    while len(pending) > MAX_PENDING:
        closest = min(
            range(1, len(pending)),
            key=lambda i: pending[i]["ts_ms"] - pending[i - 1]["ts_ms"],
        )
        del pending[closest]
        dropped += 1
    return dropped


def resolve_on_event(
    state: UserState,
    event_ts_ms: int,
    is_purchase: bool,
    churn_horizon_ms: int,
    purchase_horizon_ms: int,
) -> list[Labelled]:
    """Outcomes made known by an event of this user at ``event_ts_ms``.

    They are noted on the moments and learned when each horizon has passed (see
    the module's docstring), so nothing is returned to learn now: the list is
    always empty and kept for the callers' loop. Only events strictly after a
    moment count: an event never labels the moment it created, nor others at the
    same instant.
    """
    for moment in state.pending:
        elapsed_ms = event_ts_ms - moment["ts_ms"]
        if elapsed_ms <= 0:
            continue
        if moment[CHURN] is None and elapsed_ms <= churn_horizon_ms:
            moment[CHURN] = 0
        if is_purchase and moment[PURCHASE] is None and (
            elapsed_ms <= purchase_horizon_ms
        ):
            moment[PURCHASE] = 1
    return []


def resolve_on_watermark(
    state: UserState,
    watermark_ms: int,
    churn_horizon_ms: int,
    purchase_horizon_ms: int,
) -> list[Labelled]:
    """The labels of every horizon the watermark has passed: the outcome noted
    on the way, else churned and no purchase."""
    out: list[Labelled] = []
    for moment in state.pending:
        ts_ms = moment["ts_ms"]
        churned = moment[CHURN]
        if churned != LEARNED and ts_ms + churn_horizon_ms <= watermark_ms:
            out.append((CHURN, moment["x"], 1 if churned is None else churned))
            moment[CHURN] = LEARNED
        bought = moment[PURCHASE]
        if bought != LEARNED and ts_ms + purchase_horizon_ms <= watermark_ms:
            out.append((PURCHASE, moment["x"], 0 if bought is None else bought))
            moment[PURCHASE] = LEARNED
    _drop_resolved(state)
    return out


def next_deadline_ms(
    state: UserState, churn_horizon_ms: int, purchase_horizon_ms: int
) -> int | None:
    """The earliest watermark at which a pending label is learned."""
    # Runs after every event of the user: a running minimum, no list.
    earliest = None
    for moment in state.pending:
        if moment[CHURN] != LEARNED:
            deadline = moment["ts_ms"] + churn_horizon_ms
            if earliest is None or deadline < earliest:
                earliest = deadline
        if moment[PURCHASE] != LEARNED:
            deadline = moment["ts_ms"] + purchase_horizon_ms
            if earliest is None or deadline < earliest:
                earliest = deadline
    return earliest


def _drop_resolved(state: UserState) -> None:
    pending: list[dict[str, Any]] = state.pending
    if any(m[CHURN] == LEARNED and m[PURCHASE] == LEARNED for m in pending):
        state.pending = [
            m for m in pending if m[CHURN] != LEARNED or m[PURCHASE] != LEARNED
        ]
