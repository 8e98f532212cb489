"""Topic names and the JSON messages lifecycle publishes (contract v1).

docs/topics.md documents every field; a change to any builder here is a change to a
public contract and needs a new schema_version or an additive, documented field.
"""

from __future__ import annotations

import base64
from typing import Any

CLICKSTREAM = "clickstream"
DLQ = "clickstream-dlq"
USER_SCORES = "user-scores"
CHURN_ALERTS = "churn-alerts"
RECOMMENDATIONS = "recommendations"
# Internal: events whose key or partition did not match their user are re-keyed here.
REKEYED = "lifecycle-events-rekeyed"

OUTPUT_TOPICS = (USER_SCORES, CHURN_ALERTS, RECOMMENDATIONS, DLQ)
SCHEMA_VERSION = 1
# Original bytes kept in a dead letter. Base64 grows them by a third, and a larger
# record would be refused by a broker's default 1 MB limit; the whole message stays
# in its source topic at the partition and offset the letter names.
MAX_ORIGINAL_BYTES = 256 * 1024


def dead_letter(
    reason: str,
    error: str,
    raw_value: bytes | None,
    raw_key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    rejected_at_ms: int,
    facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A rejected message with why, where it came from and its original bytes.

    ``facts`` adds machine-readable fields of the reason, e.g. ``late_by_ms``.
    """
    return {
        **(facts or {}),
        "schema_version": SCHEMA_VERSION,
        "reason": reason,
        "error": error,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "rejected_at_ms": rejected_at_ms,
        "original_key_b64": _b64(raw_key),
        "original_value_b64": _b64(raw_value),
        "original_value_bytes": None if raw_value is None else len(raw_value),
        "original_truncated": _too_long(raw_key) or _too_long(raw_value),
    }


def user_score(
    user_id: str,
    scored_ts_ms: int,
    moment: str,
    churn_risk: float,
    purchase_propensity: float,
    model_versions: dict[str, str],
    n_events: int,
    last_event_ts_ms: int,
    models: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``models``: per target and model, version, blend weight and recent figures
    (optional field ``models``, added in v1)."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "user_id": user_id,
        "scored_ts_ms": scored_ts_ms,
        "moment": moment,
        "churn_risk": round(churn_risk, 6),
        "purchase_propensity": round(purchase_propensity, 6),
        "model_versions": model_versions,
        "n_events": n_events,
        "last_event_ts_ms": last_event_ts_ms,
    }
    if models is not None:
        out["models"] = models
    return out


def churn_alert(
    user_id: str,
    episode: int,
    alert_ts_ms: int,
    churn_risk: float,
    purchase_propensity: float,
    threshold: float,
    last_event_ts_ms: int,
    n_events: int,
    purchases: int,
    monetary_total: float,
    model_versions: dict[str, str],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "alert_id": f"{user_id}:{episode}",
        "user_id": user_id,
        "episode": episode,
        "alert_ts_ms": alert_ts_ms,
        "churn_risk": round(churn_risk, 6),
        "purchase_propensity": round(purchase_propensity, 6),
        "threshold": threshold,
        "last_event_ts_ms": last_event_ts_ms,
        "inactive_s": round(max(alert_ts_ms - last_event_ts_ms, 0) / 1000.0, 3),
        "n_events": n_events,
        "purchases": purchases,
        "monetary_total": round(monetary_total, 2),
        "model_versions": model_versions,
    }


def recommendation(
    user_id: str,
    generated_ts_ms: int,
    items: list[tuple[str, float, str]],
    based_on: list[str],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "rec_id": f"{user_id}:{generated_ts_ms}",
        "user_id": user_id,
        "generated_ts_ms": generated_ts_ms,
        "items": [
            {"item_id": item, "score": round(score, 4), "reason": reason}
            for item, score, reason in items
        ],
        "based_on": based_on,
        "model_version": "cooccurrence-v1",
    }


def _b64(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return base64.b64encode(raw[:MAX_ORIGINAL_BYTES]).decode("ascii")


def _too_long(raw: bytes | None) -> bool:
    return raw is not None and len(raw) > MAX_ORIGINAL_BYTES
