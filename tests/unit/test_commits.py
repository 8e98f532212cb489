"""A commit never passes a message fetched but never acknowledged."""

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


def test_an_unacknowledged_head_offset_holds_the_commit():
    c = consumer(100, [101, 102, 103])
    commits._unacked(c)[TP0].add(100)
    assert commits._checked_new_offset(c, TP0) is None
    # Read again (after a rebalance or restart) and acknowledged: it goes on.
    c._acked[TP0].insert(0, 100)
    assert commits._checked_new_offset(c, TP0) == 104
    c._committed_offset[TP0] = 104
    c._acked[TP0] = [104]
    assert commits._checked_new_offset(c, TP0) == 105
    assert not commits._unacked(c)[TP0]  # forgotten once committed past


def test_a_held_partition_is_sought_back_to_the_dropped_message_once_a_while():
    """Dropped as the flow resumed, with no rebalance to come: the message is
    fetched again now, not at the next rebalance or restart."""
    sought = []

    async def seek_wait(partitions):
        sought.append(dict(partitions))

    async def main():
        c = consumer(100, [101, 102, 103])
        c.flow_active = True
        c.app = SimpleNamespace(rebalancing=False)
        c.seek_wait = seek_wait
        commits._unacked(c)[TP0].add(100)
        assert commits._checked_new_offset(c, TP0) is None
        assert commits._checked_new_offset(c, TP0) is None  # within RESEEK_S
        await asyncio.sleep(0)
        assert sought == [{TP0: 100}]
        c.app.rebalancing = True  # the rebalance seeks to the committed offset
        c._lifecycle_sought.clear()
        assert commits._checked_new_offset(c, TP0) is None
        await asyncio.sleep(0)
        assert sought == [{TP0: 100}]

    asyncio.run(main())


def test_an_offset_acknowledged_twice_does_not_stall_the_commit():
    """Faust fills a recorded gap into the acknowledged offsets without looking
    whether they are there already; its run of consecutive offsets then ended
    at the first repeat, and the commit crept on by one offset at a time."""
    assert list(commits.runs_allowing_repeats([7, 8, 8, 9, 11, 12])) == [
        [7, 8, 8, 9], [11, 12]
    ]
    commits.install()
    c = consumer(100, [100, 101, 102, 103])
    c._gap[TP0].addi(101, 103)  # 101 and 102 recorded as a gap, then read
    assert commits._checked_new_offset(c, TP0) == 104
    assert c._acked[TP0] == []


def test_offsets_before_an_unacknowledged_one_still_commit():
    c = consumer(100, [100, 101])
    commits._unacked(c)[TP0].add(102)
    assert commits._checked_new_offset(c, TP0) == 102


def test_without_drops_faust_decides():
    assert commits._checked_new_offset(consumer(100, [100, 101]), TP0) == 102
    assert commits._checked_new_offset(consumer(100, [105]), TP0) is None


def test_fetched_offsets_are_remembered_until_acknowledged():
    async def scenario():
        blocked = asyncio.Event()

        async def hand_over(message):
            await blocked.wait()  # a full stream buffer

        app = SimpleNamespace(topics=SimpleNamespace(
            on_message=hand_over,
            acks_enabled_for=lambda topic: topic == "clickstream",
        ))
        app.consumer = SimpleNamespace()
        commits.track_fetched(app)
        dropped = SimpleNamespace(tp=TP0, offset=41, topic="clickstream")
        task = asyncio.ensure_future(app.topics.on_message(dropped))
        await asyncio.sleep(0)
        task.cancel()  # the flow is suspended: the message never reaches an agent
        await asyncio.gather(task, return_exceptions=True)
        blocked.set()
        handled = SimpleNamespace(tp=TP0, offset=42, topic="clickstream")
        await app.topics.on_message(handled)
        changelog = SimpleNamespace(tp=TP("users-changelog", 0), offset=7,
                                    topic="users-changelog")
        await app.topics.on_message(changelog)  # not acknowledged: not kept
        return app.consumer, handled

    consumer, handled = asyncio.run(scenario())
    assert dict(commits._unacked(consumer)) == {TP0: {41, 42}}
    consumer._lifecycle_unacked[TP0].discard(handled.offset)  # as ack() does
    assert commits._unacked(consumer)[TP0] == {41}


def test_an_acknowledged_offset_is_forgotten(monkeypatch):
    monkeypatch.setattr(commits, "_original_ack", lambda self, message: True)
    c = SimpleNamespace()
    commits._unacked(c)[TP0].update({5, 6})
    assert commits._checked_ack(c, SimpleNamespace(tp=TP0, offset=5))
    assert commits._unacked(c)[TP0] == {6}
