"""The clickstream event contract (v1): parsing, validation and normalisation.

Plain functions over plain values, so they are tested without a broker. The worker
calls :func:`parse_event` on every message of the ``clickstream`` topic; the replay
command calls :func:`parse_event_ts` to read timestamps of files.
"""

from __future__ import annotations

import hashlib
import json
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
    # orjson reads the bytes and checks their UTF-8 itself; only a value it
    # refuses is decoded apart, to tell bad encoding from bad JSON.
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = _decode_refused(raw)
    return normalize_event(obj)


def _decode_refused(raw: bytes) -> Any:
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            "invalid_encoding", f"value is not UTF-8 (byte {exc.start})"
        ) from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        refused = exc
    # orjson refuses some valid JSON: an integer beyond a double's range, for
    # one. The standard library reads it, and the field's own check then says
    # what is wrong with it.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise InvalidEvent("invalid_json", f"value is not JSON: {refused}") from None
    except ValueError:  # Python reads no integer of over 4,300 digits
        raise InvalidEvent(
            "invalid_json", "value holds a number of over 4,300 digits"
        ) from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise InvalidEvent("invalid_json", f"value is not JSON: {refused}") from None


def normalize_event(obj: Any) -> dict[str, Any]:
    """Validate a decoded event object and return its normalised form.

    The result has exactly the keys of :data:`NORMALISED_FIELDS`; absent optional
    fields are ``None`` and ``quantity`` defaults to 1.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent(
            "not_an_object", f"event must be a JSON object, got {_kind(obj)}"
        )
    get = obj.get

    user_id = get("user_id")
    if user_id is None:
        raise InvalidEvent("missing_field", "user_id is missing")
    user_id = _as_id("user_id", user_id)
    event_type = get("event_type")
    if event_type.__class__ is not str or event_type not in EVENT_TYPE_SET:
        event_type = _checked_event_type(event_type)
    event_ts = get("event_ts")
    if event_ts is None:
        raise InvalidEvent("missing_field", "event_ts is missing")
    event_ts_ms = parse_event_ts(event_ts)

    # Optional fields are mostly absent or plain: those cost a lookup each.
    item_id = get("item_id")
    category_id = get("category_id")
    price = get("price")
    quantity = get("quantity")
    session_id = get("session_id")
    order_id = get("order_id")
    event = {
        "event_id": None,
        "user_id": user_id,
        "event_type": event_type,
        "event_ts_ms": event_ts_ms,
        "item_id": None if item_id is None else _as_id("item_id", item_id),
        "category_id": (
            None if category_id is None else _as_id("category_id", category_id)
        ),
        "price": None if price is None else _checked_price(price),
        "quantity": 1 if quantity is None else _checked_quantity(quantity),
        "session_id": (
            None if session_id is None else _as_id("session_id", session_id)
        ),
        "order_id": None if order_id is None else _as_id("order_id", order_id),
    }
    given_id = get("event_id")
    if given_id is None:
        event["event_id"] = derive_event_id(event)
    else:
        event["event_id"] = _as_id("event_id", given_id)
    return event


def _checked_event_type(event_type: Any) -> str:
    if isinstance(event_type, str) and event_type in EVENT_TYPE_SET:
        return event_type
    if event_type is None:
        raise InvalidEvent("missing_field", "event_type is missing")
    if not isinstance(event_type, str):
        raise InvalidEvent(
            "invalid_field", f"event_type must be a string, got {_kind(event_type)}"
        )
    raise InvalidEvent(
        "unknown_event_type",
        f"event_type={str(event_type)[:40]!r} is not one of "
        + ", ".join(EVENT_TYPES),
    )


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
    if value.__class__ is int and MIN_TS_MS <= value < MAX_TS_MS:
        return value
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
            except ValueError:  # Python reads no integer of over 4,300 digits
                raise InvalidEvent(
                    "invalid_timestamp",
                    f"event_ts={text[:12]!r}...({len(text)} characters) is neither "
                    "epoch seconds nor epoch milliseconds between 1990 and 2100",
                ) from None
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
        f"event_ts={_brief(number)} is neither epoch seconds nor epoch "
        "milliseconds between 1990 and 2100",
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


def _as_id(name: str, value: Any) -> str:
    if value.__class__ is str:
        text = value.strip()
        if text and len(text) <= MAX_ID_CHARS:
            return text
    if isinstance(value, bool):
        raise InvalidEvent("invalid_field", f"{name} is a boolean")
    if isinstance(value, int):
        text = str(value)
        if len(text) > MAX_ID_CHARS:
            raise InvalidEvent(
                "invalid_field", f"{name} is longer than {MAX_ID_CHARS} digits"
            )
        return text
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidEvent("invalid_field", f"{name} is an empty string")
        if len(text) > MAX_ID_CHARS:
            raise InvalidEvent(
                "invalid_field", f"{name} is longer than {MAX_ID_CHARS} characters"
            )
        return text
    if isinstance(value, float):
        # orjson reads an integer beyond 64 bits as a float.
        raise InvalidEvent(
            "invalid_field",
            f"{name} must be a string or an integer, got a number with a "
            "fraction or beyond 64 bits (send such ids as strings)",
        )
    raise InvalidEvent(
        "invalid_field", f"{name} must be a string or an integer, got {_kind(value)}"
    )


def _checked_price(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(
            "invalid_field", f"price must be a number, got {_kind(value)} {value!r:.40}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEvent("invalid_field", f"price={value} is not a finite number")
    # An integer is compared as it is: one beyond a float's range (the standard
    # library reads 10**400 exactly) would not convert.
    if not 0 <= value <= MAX_PRICE:
        raise InvalidEvent(
            "invalid_field",
            f"price={_brief(value)} must be between 0 and {MAX_PRICE:g}",
        )
    return float(value)


def _checked_quantity(value: Any) -> int:
    # A whole float within range counts as its integer; 1e30 stays a float,
    # and is refused as the number it was given as.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        raise InvalidEvent(
            "invalid_field",
            f"quantity={_brief(value)} must be between 1 and {MAX_QUANTITY}",
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(
            "invalid_field", f"quantity must be an integer, got {_kind(value)}"
        )
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidEvent(
            "invalid_field",
            f"quantity={_brief(value)} must be between 1 and {MAX_QUANTITY}",
        )
    return value


def _brief(number: int | float) -> str:
    """A number as an error message shows it: at most 40 characters."""
    text = f"{number:g}" if isinstance(number, float) else str(number)
    if len(text) > 40:
        return f"{text[:12]}...({len(text)} digits)"
    return text


def _kind(value: Any) -> str:
    return {
        dict: "an object", list: "an array", str: "a string", int: "an integer",
        float: "a number", bool: "a boolean", type(None): "null",
    }.get(type(value), type(value).__name__)
