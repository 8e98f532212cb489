"""Readers that turn dataset files into events of the contract (v1).

Each reader is a generator over the rows of one file and reads it as a stream. A row
that cannot become an event is not yielded: its reason is counted in the ``stats``
counter the caller passes, so no row is lost silently. Event ids are
``"<source>:<line>"``, so a row sent twice keeps its id and the worker's
de-duplication drops the second copy. Generic CSV and JSON-lines files are read by
:mod:`streams.replay.mapped`.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from streams.errors import InvalidEvent
from streams.events import parse_event_ts
from streams.replay.errors import SourceError, UnknownFormat
from streams.replay.files import first_line, open_text
from streams.replay.mapped import read_csv, read_jsonl, validate_mapping
from streams.replay.timestamps import date_to_ms, london_to_ms, utc_text_to_ms

logger = logging.getLogger(__name__)

Event = dict[str, Any]

FORMATS = ("taobao", "cdnow", "online-retail", "retailrocket", "rees46", "csv", "jsonl")

TAOBAO_TYPES = {"pv": "view", "cart": "cart_add", "fav": "favorite", "buy": "purchase"}
RETAILROCKET_TYPES = {
    "view": "view",
    "addtocart": "cart_add",
    "transaction": "purchase",
}
REES46_TYPES = {
    "view": "view",
    "cart": "cart_add",
    "remove_from_cart": "cart_remove",
    "purchase": "purchase",
}

ONLINE_RETAIL_COLUMNS = (
    "Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Customer ID",
)
RETAILROCKET_COLUMNS = ("timestamp", "visitorid", "event", "itemid", "transactionid")
REES46_COLUMNS = (
    "event_time", "event_type", "product_id", "category_id", "price", "user_id",
    "user_session",
)


def read_events(
    path: str | Path,
    fmt: str,
    stats: Counter[str],
    mapping: Mapping[str, str] | None = None,
    type_mapping: Mapping[str, str] | None = None,
) -> Generator[Event, None, None]:
    """Return the events of a file, counting rows that are not events in ``stats``.

    ``fmt`` is one of :data:`FORMATS` or ``"auto"``. ``mapping`` and
    ``type_mapping`` apply to the csv and jsonl formats only. The file, format and
    mapping are checked here, before the first row is read.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(not_a_file(path))
    if fmt == "auto":
        fmt = detect_format(path)
    logger.debug("reading path=%s format=%s", path, fmt)
    if fmt in ("csv", "jsonl"):
        validate_mapping(mapping, type_mapping)
        read = read_csv if fmt == "csv" else read_jsonl
        return read(path, stats, mapping, type_mapping)
    if mapping or type_mapping:
        raise SourceError(
            f"a column or type mapping applies to csv and jsonl only, not to {fmt}"
        )
    readers = {
        "taobao": read_taobao,
        "cdnow": read_cdnow,
        "online-retail": read_online_retail,
        "retailrocket": read_retailrocket,
        "rees46": read_rees46,
    }
    if fmt not in readers:
        raise UnknownFormat(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return readers[fmt](path, stats)


def not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a file of events."""
    if path.is_dir():
        return f"{path}: is a directory, not a file of events"
    return f"{path}: no such file"


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its name, then from its header line."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(not_a_file(path))
    name = path.name.lower()
    base = name.removesuffix(".gz")
    if base.startswith("userbehavior") and base.endswith(".csv"):
        return "taobao"
    if base.startswith("cdnow_"):
        return "cdnow"
    if base.startswith("online_retail"):
        return "online-retail"
    if base.endswith((".jsonl", ".ndjson")):
        return "jsonl"

    header = first_line(path)
    if header.startswith("timestamp,visitorid"):
        return "retailrocket"
    if header.startswith("event_time,event_type,product_id"):
        return "rees46"
    columns = set(next(csv.reader([header]), []))
    if base.endswith(".csv") and {"user_id", "event_type", "event_ts"} <= columns:
        return "csv"
    raise UnknownFormat(
        f"{path}: cannot tell the format from the name or the header "
        f"{header[:80]!r}; give one of {', '.join(FORMATS)} explicitly"
    )


def read_taobao(path: Path, stats: Counter[str]) -> Generator[Event, None, None]:
    """Taobao UserBehavior: user,item,category,behavior,epoch seconds; no header."""
    with open_text(path) as lines:
        for line_no, line in enumerate(lines, 1):
            parts = line.rstrip("\r\n").split(",")
            if len(parts) != 5:
                stats["blank_line" if parts == [""] else "bad_row"] += 1
                continue
            user_id, item_id, category_id, behavior, ts_text = parts

            event_type = TAOBAO_TYPES.get(behavior)
            if event_type is None:
                stats["unknown_event_type"] += 1
                continue
            if not user_id:
                stats["missing_user_id"] += 1
                continue
            event_ts_ms = _parse_ts(ts_text, stats)
            if event_ts_ms is None:
                continue

            event = _event(f"taobao:{line_no}", user_id, event_type, event_ts_ms)
            _put(event, "item_id", item_id)
            _put(event, "category_id", category_id)
            yield event


def read_cdnow(path: Path, stats: Counter[str]) -> Generator[Event, None, None]:
    """CDNOW master (4 columns, header) or sample (5 columns): one purchase a row.

    Rows of the sample get ids ``cdnow-sample:<line>`` so that they never share an
    id with a different row of the master.
    """
    width = None
    with open_text(path) as lines:
        for line_no, line in enumerate(lines, 1):
            parts = line.split()
            if not parts:
                stats["blank_line"] += 1
                continue
            if line_no == 1 and parts[0] == "customer_id":
                continue

            # The first data row tells the layout: master without sample id, or
            # sample with it.
            if width is None:
                width = len(parts)
                if width not in (4, 5):
                    raise SourceError(
                        f"{path}:{line_no}: CDNOW rows have 4 (master) or 5 "
                        f"(sample) columns, this one has {width}"
                    )
            if len(parts) != width:
                stats["bad_row"] += 1
                continue
            customer, date_text, cds_text, dollars_text = parts[:1] + parts[-3:]
            source = "cdnow" if width == 4 else "cdnow-sample"

            try:
                user_id = str(int(customer))
                cds = int(cds_text)
                dollars = float(dollars_text)
            except ValueError:
                stats["bad_row"] += 1
                continue
            if cds < 0:
                stats["negative_quantity"] += 1
                continue
            if not dollars >= 0:
                stats["negative_price"] += 1
                continue
            event_ts_ms = date_to_ms(date_text)
            if event_ts_ms is None:
                stats["invalid_timestamp"] += 1
                continue

            event = _event(f"{source}:{line_no}", user_id, "purchase", event_ts_ms)
            event["price"] = dollars / cds if cds > 0 else dollars
            event["quantity"] = max(cds, 1)
            yield event


def read_online_retail(path: Path, stats: Counter[str]) -> Generator[Event, None, None]:
    """UCI Online Retail II: invoice lines become purchases, C invoices refunds.

    Rows without a customer are ``guest_row``, bad-debt adjustments (invoice A...)
    are ``adjustment``. A sale with a quantity below 1, or a cancellation with a
    quantity above -1, is ``nonpositive_quantity``: its sign contradicts its kind.
    """
    with open_text(path) as handle:
        rows = csv.reader(handle)
        index = _column_index(path, next(rows, None), ONLINE_RETAIL_COLUMNS)
        i_invoice, i_item, i_qty, i_date, i_price, i_customer = index
        width = max(index) + 1

        for row in rows:
            if len(row) < width:
                stats["blank_line" if not row else "bad_row"] += 1
                continue
            customer = row[i_customer].strip()
            if not customer:
                stats["guest_row"] += 1
                continue
            invoice = row[i_invoice].strip()
            if invoice.startswith("A"):
                stats["adjustment"] += 1
                continue

            try:
                quantity = int(row[i_qty])
                price = float(row[i_price])
            except ValueError:
                stats["bad_row"] += 1
                continue
            if invoice.startswith("C"):
                event_type, quantity = "refund", -quantity
            else:
                event_type = "purchase"
            if quantity < 1:
                stats["nonpositive_quantity"] += 1
                continue
            if not price >= 0:
                stats["negative_price"] += 1
                continue
            event_ts_ms = london_to_ms(row[i_date].strip())
            if event_ts_ms is None:
                stats["invalid_timestamp"] += 1
                continue

            event_id = f"online-retail:{rows.line_num}"
            event = _event(event_id, customer.removesuffix(".0"), event_type,
                           event_ts_ms)
            _put(event, "item_id", row[i_item].strip())
            event["price"] = price
            event["quantity"] = quantity
            event["order_id"] = invoice
            yield event


def read_retailrocket(path: Path, stats: Counter[str]) -> Generator[Event, None, None]:
    """RetailRocket events.csv: epoch ms, visitor, event, item, transaction."""
    with open_text(path) as handle:
        rows = csv.reader(handle)
        index = _column_index(path, next(rows, None), RETAILROCKET_COLUMNS)
        i_ts, i_user, i_event, i_item, i_order = index
        width = max(index) + 1

        for row in rows:
            if len(row) < width:
                stats["blank_line" if not row else "bad_row"] += 1
                continue
            event_type = RETAILROCKET_TYPES.get(row[i_event])
            if event_type is None:
                stats["unknown_event_type"] += 1
                continue
            user_id = row[i_user].strip()
            if not user_id:
                stats["missing_user_id"] += 1
                continue
            event_ts_ms = _parse_ts(row[i_ts], stats)
            if event_ts_ms is None:
                continue

            event_id = f"retailrocket:{rows.line_num}"
            event = _event(event_id, user_id, event_type, event_ts_ms)
            _put(event, "item_id", row[i_item].strip())
            _put(event, "order_id", row[i_order].strip())
            yield event


def read_rees46(path: Path, stats: Counter[str]) -> Generator[Event, None, None]:
    """REES46 multi-category store: ``2019-10-01 00:00:00 UTC`` times, sessions."""
    with open_text(path) as handle:
        rows = csv.reader(handle)
        index = _column_index(path, next(rows, None), REES46_COLUMNS)
        i_time, i_event, i_item, i_category, i_price, i_user, i_session = index
        width = max(index) + 1

        for row in rows:
            if len(row) < width:
                stats["blank_line" if not row else "bad_row"] += 1
                continue
            event_type = REES46_TYPES.get(row[i_event])
            if event_type is None:
                stats["unknown_event_type"] += 1
                continue
            user_id = row[i_user].strip()
            if not user_id:
                stats["missing_user_id"] += 1
                continue
            price_text = row[i_price].strip()
            try:
                price = float(price_text) if price_text else None
            except ValueError:
                stats["bad_row"] += 1
                continue
            if price is not None and not price >= 0:
                stats["negative_price"] += 1
                continue
            event_ts_ms = utc_text_to_ms(row[i_time].strip())
            if event_ts_ms is None:
                stats["invalid_timestamp"] += 1
                continue

            event = _event(f"rees46:{rows.line_num}", user_id, event_type,
                           event_ts_ms)
            _put(event, "item_id", row[i_item].strip())
            _put(event, "category_id", row[i_category].strip())
            if price is not None:
                event["price"] = price
            _put(event, "session_id", row[i_session].strip())
            yield event


def _event(event_id: str, user_id: str, event_type: str, event_ts_ms: int) -> Event:
    return {
        "event_id": event_id,
        "user_id": user_id,
        "event_type": event_type,
        "event_ts": event_ts_ms,
    }


def _put(event: Event, key: str, value: str) -> None:
    if value:
        event[key] = value


def _column_index(
    path: Path, header: list[str] | None, columns: tuple[str, ...]
) -> list[int]:
    if header is None:
        raise SourceError(f"{path}: the file is empty, expected a header line")
    names = [name.strip() for name in header]
    missing = [column for column in columns if column not in names]
    if missing:
        raise SourceError(
            f"{path}: header lacks column(s) {', '.join(missing)}; "
            f"header is {','.join(names)[:120]!r}"
        )
    return [names.index(column) for column in columns]


def _parse_ts(value: str, stats: Counter[str]) -> int | None:
    try:
        return parse_event_ts(value)
    except InvalidEvent:
        stats["invalid_timestamp"] += 1
        return None
