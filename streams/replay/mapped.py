"""Readers for any CSV or JSON-lines file, given which column holds which field.

A mapping ``{contract_field: source_column}`` names the columns; without one, the
columns are expected to carry the contract's own names. A type mapping
``{source_value: contract_type}`` translates event types. Rows that cannot become
events are counted by reason in the caller's ``stats`` counter.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import orjson

from streams.errors import InvalidEvent
from streams.events import EVENT_TYPE_SET, EVENT_TYPES, MAX_ID_CHARS, parse_event_ts
from streams.replay.errors import SourceError
from streams.replay.files import open_text

Event = dict[str, Any]

CONTRACT_FIELDS = (
    "event_id", "user_id", "event_type", "event_ts", "item_id", "category_id",
    "price", "quantity", "session_id", "order_id",
)
REQUIRED_FIELDS = ("user_id", "event_type", "event_ts")
OPTIONAL_ID_FIELDS = ("item_id", "category_id", "session_id", "order_id")


class _BadValue(ValueError):
    """A field's value cannot be converted; ``reason`` names the counter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_mapping(
    mapping: Mapping[str, str] | None, type_mapping: Mapping[str, str] | None
) -> None:
    """Reject mappings that name unknown fields or map to unknown event types."""
    if mapping is not None:
        unknown = [field for field in mapping if field not in CONTRACT_FIELDS]
        if unknown:
            raise SourceError(
                f"mapped field(s) {', '.join(unknown)} are not contract fields; "
                f"use {', '.join(CONTRACT_FIELDS)}"
            )
    if type_mapping is not None:
        wrong = {src: dst for src, dst in type_mapping.items()
                 if dst not in EVENT_TYPE_SET}
        if wrong:
            raise SourceError(
                f"type mapping {wrong} targets unknown event type(s); "
                f"use {', '.join(EVENT_TYPES)}"
            )


def read_csv(
    path: Path,
    stats: Counter[str],
    mapping: Mapping[str, str] | None = None,
    type_mapping: Mapping[str, str] | None = None,
) -> Generator[Event, None, None]:
    """Events of a CSV file with a header line."""
    source = source_name(path)
    with open_text(path) as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise SourceError(f"{path}: the file is empty, expected a header line")
        header = [name.strip() for name in header]
        # A field not mapped is read from the column of its own name, if any.
        mapping = {
            **{field: field for field in CONTRACT_FIELDS if field in header},
            **(mapping or {}),
        }
        shown = ",".join(header)[:120]
        missing = [column for column in mapping.values() if column not in header]
        if missing:
            raise SourceError(
                f"{path}: header {shown!r} lacks the mapped column(s) "
                f"{', '.join(missing)}"
            )
        unmapped = [field for field in REQUIRED_FIELDS if field not in mapping]
        if unmapped:
            raise SourceError(
                f"{path}: no column for {', '.join(unmapped)} in header {shown!r}; "
                "map them with FIELD=COLUMN"
            )
        index = {field: header.index(column) for field, column in mapping.items()}

        for row in rows:
            if len(row) != len(header):
                stats["blank_line" if not row else "bad_row"] += 1
                continue
            values = {field: row[i] for field, i in index.items()}
            event = event_from_values(
                values, f"{source}:{rows.line_num}", type_mapping, stats
            )
            if event is not None:
                yield event


def read_jsonl(
    path: Path,
    stats: Counter[str],
    mapping: Mapping[str, str] | None = None,
    type_mapping: Mapping[str, str] | None = None,
) -> Generator[Event, None, None]:
    """Events of a JSON-lines file, one object a line."""
    source = source_name(path)
    # A field not mapped is read from the key of its own name.
    mapping = {**{field: field for field in CONTRACT_FIELDS}, **(mapping or {})}
    with open_text(path) as lines:
        for line_no, line in enumerate(lines, 1):
            if not line.strip():
                stats["blank_line"] += 1
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                stats["invalid_json"] += 1
                continue
            if not isinstance(obj, dict):
                stats["not_an_object"] += 1
                continue
            values = {field: obj.get(column) for field, column in mapping.items()}
            event = event_from_values(values, f"{source}:{line_no}", type_mapping,
                                      stats)
            if event is not None:
                yield event


def event_from_values(
    values: Mapping[str, Any],
    default_id: str,
    type_mapping: Mapping[str, str] | None,
    stats: Counter[str],
) -> Event | None:
    """Build one event from field values, or count why not and return None."""
    try:
        user_id = _id_text(values.get("user_id"))
        if user_id is None:
            raise _BadValue("missing_user_id")
        event_type = _event_type(values.get("event_type"), type_mapping)
        event_ts_ms = _timestamp(values.get("event_ts"))
        event = {
            "event_id": _id_text(values.get("event_id")) or default_id,
            "user_id": user_id,
            "event_type": event_type,
            "event_ts": event_ts_ms,
        }

        for field in ("item_id", "category_id"):
            _put(event, field, _id_text(values.get(field)))
        _put(event, "price", _price(values.get("price")))
        _put(event, "quantity", _quantity(values.get("quantity")))
        for field in ("session_id", "order_id"):
            _put(event, field, _id_text(values.get(field)))
    except _BadValue as exc:
        stats[exc.reason] += 1
        return None
    return event


def source_name(path: Path) -> str:
    """The file name without its data suffixes: ``clicks.csv.gz`` -> ``clicks``."""
    name = path.name
    for suffix in (".gz", ".csv", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return name or "file"


def _put(event: Event, key: str, value: Any) -> None:
    if value is not None:
        event[key] = value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _id_text(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise _BadValue("invalid_id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_ID_CHARS:
            raise _BadValue("invalid_id")
        return text
    raise _BadValue("invalid_id")


def _event_type(value: Any, type_mapping: Mapping[str, str] | None) -> str:
    if _blank(value):
        raise _BadValue("missing_event_type")
    if isinstance(value, str):
        value = value.strip()
    if type_mapping is not None and isinstance(value, str | int | float):
        value = type_mapping.get(str(value), value)
    if not isinstance(value, str) or value not in EVENT_TYPE_SET:
        raise _BadValue("unknown_event_type")
    return value


def _timestamp(value: Any) -> int:
    if _blank(value):
        raise _BadValue("missing_event_ts")
    try:
        return parse_event_ts(value)
    except InvalidEvent:
        raise _BadValue("invalid_timestamp") from None


def _price(value: Any) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise _BadValue("invalid_price")
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise _BadValue("invalid_price") from None
    if not math.isfinite(price):
        raise _BadValue("invalid_price")
    if price < 0:
        raise _BadValue("negative_price")
    return price


def _quantity(value: Any) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise _BadValue("invalid_quantity")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _BadValue("invalid_quantity") from None
    if not number.is_integer():
        raise _BadValue("invalid_quantity")
    if number < 1:
        raise _BadValue("nonpositive_quantity")
    return int(number)
