"""A commit never passes a message whose hand-over to the streams was cancelled."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from streams import commits

TP0 = TP("clickstream", 0)


def consumer(committed: int | None, acked: list[int]) -> SimpleNamespace:
    """The parts of a Faust consumer its ``_new_offset`` reads."""
    c = SimpleNamespace(
        _committed_offset=defaultdict(lambda: None),
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _gap=defaultdict(IntervalTree),
    )
    c._committed_offset[TP0] = committed
    c._acked[TP0] = list(acked)
    c._acked_index[TP0] = set(acked)
    return c


def test_faust_alone_commits_past_one_missing_head_offset():
    # The defect this module guards against: 100 was never acknowledged.
    assert commits._original_new_offset(consumer(100, [101, 102, 103]), TP0) == 104


def test_a_dropped_head_offset_holds_the_commit():
    c = consumer(100, [101, 102, 103])
    commits._dropped(c)[TP0].add(100)
    assert commits._checked_new_offset(c, TP0) is None
    # Read again (after a rebalance or restart) and acknowledged: it goes on.
    c._acked[TP0].insert(0, 100)
    assert commits._checked_new_offset(c, TP0) == 104
    c._committed_offset[TP0] = 104
    c._acked[TP0] = [104]
    assert commits._checked_new_offset(c, TP0) == 105
    assert not commits._dropped(c)[TP0]  # forgotten once committed past


def test_offsets_before_a_dropped_one_still_commit():
    c = consumer(100, [100, 101])
    commits._dropped(c)[TP0].add(102)
    assert commits._checked_new_offset(c, TP0) == 102


def test_without_drops_faust_decides():
    assert commits._checked_new_offset(consumer(100, [100, 101]), TP0) == 102
    assert commits._checked_new_offset(consumer(100, [105]), TP0) is None


def test_a_cancelled_hand_over_is_remembered():
    async def scenario():
        blocked = asyncio.Event()

        async def hand_over(message):
            await blocked.wait()  # a full stream buffer

        app = SimpleNamespace(topics=SimpleNamespace(on_message=hand_over))
        app.consumer = SimpleNamespace()
        commits.track_dropped(app)
        message = SimpleNamespace(tp=TP0, offset=41)
        task = asyncio.ensure_future(app.topics.on_message(message))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return commits._dropped(app.consumer)[TP0]

    assert asyncio.run(scenario()) == {41}
