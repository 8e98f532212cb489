"""Date and time texts of dataset files as epoch milliseconds UTC.

Results are cached: rows of one file share few distinct timestamps (an invoice's
lines, a second's clicks), and parsing dominates a reader's cost otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from streams.events import MAX_TS_MS, MIN_TS_MS

# Online Retail's invoice dates are wall-clock times in the United Kingdom.
UK_ZONE = ZoneInfo("Europe/London")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def _to_ms(moment: datetime) -> int | None:
    ms = (moment - EPOCH) // ONE_MS
    return ms if MIN_TS_MS <= ms < MAX_TS_MS else None


@lru_cache(maxsize=4096)
def date_to_ms(text: str) -> int | None:
    """``YYYYMMDD`` as 00:00 UTC of that day."""
    try:
        return _to_ms(datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC))
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def london_to_ms(text: str) -> int | None:
    """``YYYY-MM-DD HH:MM[:SS]`` in UK local time (GMT or BST) as epoch ms UTC.

    In the repeated hour of an autumn change the first (BST) reading is taken, in
    the skipped hour of a spring change the GMT one; the shop's data has neither.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return _to_ms(moment)
    return _to_ms(moment.replace(tzinfo=UK_ZONE))


@lru_cache(maxsize=65536)
def utc_text_to_ms(text: str) -> int | None:
    """``YYYY-MM-DD HH:MM:SS UTC`` (REES46) as epoch ms."""
    try:
        moment = datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _to_ms(moment)
