"""The clickstream event contract (v1): parsing, validation and normalisation.

Plain functions over plain values, so they are tested without a broker. The worker
calls :func:`parse_event` on every message of the ``clickstream`` topic; the replay
command calls :func:`parse_event_ts` to read timestamps of files.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

import orjson

from models.features import EVENT_TYPES
from streams.errors import InvalidEvent

SCHEMA_VERSION = 1

EVENT_TYPE_SET = frozenset(EVENT_TYPES)

# Plausible event times: 1990-01-01 to 2100-01-01 UTC. The two ranges, in seconds and
# in milliseconds, do not overlap, so a number in one of them has one reading only.
MIN_TS_S = 631_152_000
MAX_TS_S = 4_102_444_800
MIN_TS_MS = MIN_TS_S * 1000
MAX_TS_MS = MAX_TS_S * 1000

MAX_ID_CHARS = 256
# Beyond these a price or quantity is a unit or data error, and a sum of a few of
# them would overflow what models can learn from.
MAX_PRICE = 1e9
MAX_QUANTITY = 1_000_000
OPTIONAL_ID_FIELDS = ("item_id", "category_id", "session_id", "order_id")

# Fields of a normalised event, in the order they are serialised.
NORMALISED_FIELDS = (
    "event_id",
    "user_id",
    "event_type",
    "event_ts_ms",
    "item_id",
    "category_id",
    "price",
    "quantity",
    "session_id",
    "order_id",
)


def parse_event(raw: bytes) -> dict[str, Any]:
    """Decode one message value and return the normalised event.

    Raises :class:`InvalidEvent` with a reason code and a detail that says what was
    wrong and where.
    """
    if not raw:
        raise InvalidEvent("empty_message", "message has no value")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            "invalid_encoding", f"value is not UTF-8 (byte {exc.start})"
        ) from None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("invalid_json", f"value is not JSON: {exc}") from None
    return normalize_event(obj)


def normalize_event(obj: Any) -> dict[str, Any]:
    """Validate a decoded event object and return its normalised form.

    The result has exactly the keys of :data:`NORMALISED_FIELDS`; absent optional
    fields are ``None`` and ``quantity`` defaults to 1.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent(
            "not_an_object", f"event must be a JSON object, got {_kind(obj)}"
        )

    user_id = _required_id(obj, "user_id")
    event_type = obj.get("event_type")
    if event_type is None:
        raise InvalidEvent("missing_field", "event_type is missing")
    if not isinstance(event_type, str):
        raise InvalidEvent(
            "invalid_field", f"event_type must be a string, got {_kind(event_type)}"
        )
    if event_type not in EVENT_TYPE_SET:
        raise InvalidEvent(
            "unknown_event_type",
            f"event_type={str(event_type)[:40]!r} is not one of "
            + ", ".join(EVENT_TYPES),
        )
    if "event_ts" not in obj or obj["event_ts"] is None:
        raise InvalidEvent("missing_field", "event_ts is missing")
    event_ts_ms = parse_event_ts(obj["event_ts"])

    event = {
        "event_id": None,
        "user_id": user_id,
        "event_type": event_type,
        "event_ts_ms": event_ts_ms,
        "item_id": _optional_id(obj, "item_id"),
        "category_id": _optional_id(obj, "category_id"),
        "price": _optional_price(obj),
        "quantity": _optional_quantity(obj),
        "session_id": _optional_id(obj, "session_id"),
        "order_id": _optional_id(obj, "order_id"),
    }
    given_id = obj.get("event_id")
    if given_id is None:
        event["event_id"] = derive_event_id(event)
    else:
        event["event_id"] = _as_id("event_id", given_id)
    return event


def derive_event_id(event: dict[str, Any]) -> str:
    """A stable id from the normalised fields, so a re-sent event keeps its id.

    Timestamps are normalised first, so the same instant given in seconds or in
    milliseconds yields the same id.
    """
    parts = [str(event[name]) for name in NORMALISED_FIELDS[1:]]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16)
    return "d-" + digest.hexdigest()


def parse_event_ts(value: Any) -> int:
    """Return an event time as epoch milliseconds UTC.

    Accepts epoch milliseconds, epoch seconds (the magnitude tells which; both must
    fall between 1990 and 2100) and ISO-8601 text with a zone. Anything else,
    including ISO text without a zone, is rejected.
    """
    if isinstance(value, bool):
        raise InvalidEvent("invalid_timestamp", "event_ts is a boolean")
    if isinstance(value, int | float):
        return _epoch_to_ms(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidEvent("invalid_timestamp", "event_ts is an empty string")
        if _looks_numeric(text):
            try:
                number = float(text) if "." in text else int(text)
            except ValueError:
                number = None
            if number is not None:
                return _epoch_to_ms(number)
        return _iso_to_ms(text)
    raise InvalidEvent("invalid_timestamp", f"event_ts is {_kind(value)}")


def _epoch_to_ms(number: int | float) -> int:
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidEvent("invalid_timestamp", f"event_ts={number} is not finite")
    if MIN_TS_MS <= number < MAX_TS_MS:
        return int(number)
    if MIN_TS_S <= number < MAX_TS_S:
        return int(round(number * 1000))
    raise InvalidEvent(
        "invalid_timestamp",
        f"event_ts={number} is neither epoch seconds nor epoch milliseconds "
        "between 1990 and 2100",
    )


def _iso_to_ms(text: str) -> int:
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidEvent(
            "invalid_timestamp", f"event_ts={text[:40]!r} is not ISO-8601"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidEvent(
            "invalid_timestamp",
            f"event_ts={text[:40]!r} has no zone; its instant is ambiguous",
        )
    ms = int(round(moment.timestamp() * 1000))
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise InvalidEvent(
            "invalid_timestamp", f"event_ts={text[:40]!r} is outside 1990-2100"
        )
    return ms


def _looks_numeric(text: str) -> bool:
    body = text[1:] if text[0] in "+-" else text
    return bool(body) and body.replace(".", "", 1).isdigit()


def _required_id(obj: dict[str, Any], name: str) -> str:
    if name not in obj or obj[name] is None:
        raise InvalidEvent("missing_field", f"{name} is missing")
    return _as_id(name, obj[name])


def _optional_id(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    return _as_id(name, value)


def _as_id(name: str, value: Any) -> str:
    if isinstance(value, bool):
        raise InvalidEvent("invalid_field", f"{name} is a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidEvent("invalid_field", f"{name} is an empty string")
        if len(text) > MAX_ID_CHARS:
            raise InvalidEvent(
                "invalid_field", f"{name} is longer than {MAX_ID_CHARS} characters"
            )
        return text
    raise InvalidEvent(
        "invalid_field", f"{name} must be a string or an integer, got {_kind(value)}"
    )


def _optional_price(obj: dict[str, Any]) -> float | None:
    value = obj.get("price")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(
            "invalid_field", f"price must be a number, got {_kind(value)} {value!r:.40}"
        )
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE:
        raise InvalidEvent(
            "invalid_field", f"price={value} must be between 0 and {MAX_PRICE:g}"
        )
    return float(value)


def _optional_quantity(obj: dict[str, Any]) -> int:
    value = obj.get("quantity")
    if value is None:
        return 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(
            "invalid_field", f"quantity must be an integer, got {_kind(value)}"
        )
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidEvent(
            "invalid_field", f"quantity={value} must be between 1 and {MAX_QUANTITY}"
        )
    return value


def _kind(value: Any) -> str:
    return {
        dict: "an object", list: "an array", str: "a string", int: "an integer",
        float: "a number", bool: "a boolean", type(None): "null",
    }.get(type(value), type(value).__name__)
