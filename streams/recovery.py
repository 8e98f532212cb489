"""Recovery that never lets an older user row replace a newer one.

Rows in the users changelog are whole rows, and a row only ever gains events: its
``n_events`` grows by one per applied event and never shrinks (an evicted user is a
tombstone, and a returning user starts a new row after it). When a partition moves,
the worker giving it up can still be applying events it had buffered, so its last
changelog writes may land *after* the new owner's. The new owner's live state is
right (it re-reads those events from the committed offset and de-duplicates them),
but whoever recovers the partition next would read the stale row last and keep it.

This guard sits in front of the table's changelog apply: a row with fewer events
than the row already held for its key (in the store or earlier in the same batch)
is skipped and counted. Rows with equal counts carry the same events, so either is
right.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import faust

from models.features import UserState

log = logging.getLogger(__name__)


def guard_stale_rows(table: faust.Table, counts: Counter[str]) -> None:
    """Wrap ``table.apply_changelog_batch`` so stale rows are dropped."""
    apply = table.apply_changelog_batch

    def apply_newest(batch: Iterable[Any]) -> None:
        newest: dict[Any, int] = {}
        kept = []
        skipped = 0
        for event in batch:
            key = event.key
            if event.message.value is None:
                newest[key] = -1
                kept.append(event)
                continue
            row = event.value
            if not isinstance(row, UserState):
                row = UserState.loads(event.message.value)
            held = newest.get(key)
            if held is None:
                current = table.data.get(key)
                held = current.n_events if current is not None else -1
            n_events = row.n_events
            if n_events < held:
                skipped += 1
                continue
            newest[key] = n_events
            kept.append(event)

        if skipped:
            counts["stale_rows_skipped"] += skipped
            # Normal when a partition comes back to a worker that still holds
            # it (the memory store re-reads from the start); a sign of a late
            # writer otherwise.
            log.info("older changelog rows skipped count=%d kept=%d",
                     skipped, len(kept))
        apply(kept)

    table.apply_changelog_batch = apply_newest
