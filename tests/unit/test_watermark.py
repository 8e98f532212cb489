"""Event-time clocks: lateness per partition, idle partitions, future events, TTL."""

import pytest

from streams.errors import InvalidEvent
from streams.pipeline import UserPipeline
from streams.settings import Settings
from streams.watermark import DIRECT, Watermarks

T0 = 1_700_000_000_000


def test_lateness_is_judged_on_the_events_partition():
    marks = Watermarks(grace_ms=1000, idle_after_s=10)
    marks.observe(0, T0 + 60_000, now_s=0)
    marks.observe(1, T0, now_s=0)
    assert marks.late_by_ms(1, T0 - 500) == 0  # within grace of partition 1
    assert marks.late_by_ms(1, T0 - 3000) == 2000
    assert marks.late_by_ms(0, T0) == 59_000
    assert marks.value_ms == T0 + 59_000


def test_an_idle_partition_is_swept_on_the_worker_watermark():
    marks = Watermarks(grace_ms=0, idle_after_s=10)
    marks.observe(0, T0 + 60_000, now_s=100)
    marks.observe(1, T0, now_s=100)
    assert marks.sweep_ms(1, now_s=105) == T0
    assert marks.sweep_ms(1, now_s=111) == T0 + 60_000
    assert marks.sweep_ms(7, now_s=105) == T0 + 60_000  # never seen


def pipeline_with(rows, deleted, **overrides):
    settings = Settings(**{"grace_s": 1.0, **overrides})
    return UserPipeline(
        settings, lambda *a: None, lambda s: rows.__setitem__(s.user_id, s),
        deleted.append,
    )


def event(user, ts_ms, event_id):
    return {"event_id": event_id, "user_id": user, "event_type": "view",
            "event_ts_ms": ts_ms}


def test_late_and_future_events_are_refused_with_how_far_off_they_are():
    rows, deleted = {}, []
    pipeline = pipeline_with(rows, deleted, max_future_s=3600)
    rows["a"] = pipeline.on_event(event("a", T0, "e1"), 0, None)

    with pytest.raises(InvalidEvent) as late:
        pipeline.check_time(event("a", T0 - 5000, "e0"), 0, wall_ms=T0)
    assert late.value.reason == "late_event"
    assert late.value.fields == {"late_by_ms": 4000}

    with pytest.raises(InvalidEvent) as future:
        pipeline.check_time(event("a", T0 + 7_200_000, "e9"), 0, wall_ms=T0)
    assert future.value.reason == "future_event"
    assert future.value.fields == {"ahead_by_ms": 7_200_000}

    pipeline.check_time(event("a", T0 - 500, "e2"), 0, wall_ms=T0)  # in grace
    assert pipeline.watermark.value_ms == T0 - 1000


def test_idle_users_are_evicted_after_their_ttl():
    rows, deleted = {}, []
    pipeline = pipeline_with(
        rows, deleted, session_gap_s=60, churn_horizon_s=120,
        purchase_horizon_s=120, user_ttl_s=600,
    )
    rows["old"] = pipeline.on_event(event("old", T0, "o1"), 0, None)
    for i in range(1, 12):
        user = f"new{i}"
        rows[user] = pipeline.on_event(event(user, T0 + i * 60_000, f"n{i}"), 0, None)
        pipeline.sweep(0, rows.get)
    assert [state.user_id for state in deleted] == ["old"]
    assert pipeline.counts["users_evicted"] == 1


def test_ttl_must_outlive_the_label_horizons():
    from streams.errors import ConfigError

    with pytest.raises(ConfigError):
        Settings(churn_horizon_s=7200, user_ttl_s=3600).validate()


def test_a_sweep_in_steps_pauses_between_steps_and_ends_where_a_sweep_ends():
    def silent_users():
        rows, deleted = {}, []
        pipeline = pipeline_with(rows, deleted, session_gap_s=60)
        for i in range(45):
            user = f"u{i}"
            rows[user] = pipeline.on_event(event(user, T0 + i, f"e{i}"), 0, None)
        # One more user, ten minutes on: every other session has ended.
        rows["late"] = pipeline.on_event(event("late", T0 + 600_000, "x"), 0, None)
        return pipeline, rows

    whole, rows = silent_users()
    looked = whole.sweep(0, rows.get)
    stepped, rows_stepped = silent_users()
    steps = list(stepped.sweep_in_steps(0, rows_stepped.get, step=10))

    assert looked == 45
    assert steps[:4] == [10, 20, 30, 40] and steps[-1] == looked
    assert whole.counts == stepped.counts


def test_an_idle_partition_with_a_backlog_keeps_its_own_watermark():
    marks = Watermarks(grace_ms=0, idle_after_s=10)
    marks.observe(0, T0 + 60_000, now_s=100)
    marks.observe(1, T0, now_s=100)
    # Silent long enough, but its unread events may be older than partition 0's.
    assert marks.sweep_ms(1, now_s=111, caught_up=False) == T0
    assert marks.sweep_ms(1, now_s=111, caught_up=True) == T0 + 60_000


def test_a_restored_clock_never_moves_back_and_counts_as_idle():
    marks = Watermarks(grace_ms=1000, idle_after_s=10)
    marks.restore(2, T0)
    assert marks.partition_ms(2) == T0 - 1000
    assert marks.value_ms == T0 - 1000
    marks.restore(2, T0 - 60_000)  # an older row set: no step back
    assert marks.partition_ms(2) == T0 - 1000
    assert marks.sweep_ms(2, now_s=0) == T0 - 1000  # idle: the worker's
    marks.forget(2)
    assert marks.partition_ms(2) == 0


def test_a_restarted_worker_still_refuses_what_was_late_before_it():
    """The rows recovered from the changelog give each partition its clock back:
    an event late before a restart is late after it, not applied."""
    rows, deleted = {}, []
    before = pipeline_with(rows, deleted)
    for i, user in enumerate(("a", "b", "c")):
        rows[user] = before.on_event(event(user, T0 + i * 60_000, f"e{i}"), 0, None)
    rows["z"] = before.on_event(event("z", T0 + 900_000, "z1"), 1, None)

    after = pipeline_with(rows, deleted)  # a new process, the same rows
    after.reindex(0, (s for s in rows.values() if s.partition == 0))
    with pytest.raises(InvalidEvent) as late:
        after.check_time(event("d", T0, "e9"), 0, wall_ms=T0)
    assert late.value.fields == {"late_by_ms": 119_000}
    # Partition 1 is not indexed here: its clock is the other rows' business.
    assert after.watermark.partition_ms(1) == 0

    after.forget(0)  # revoked: the next owner rebuilds it
    assert after.watermark.partition_ms(0) == 0
    after.check_time(event("d", T0, "e9"), 0, wall_ms=T0)


def test_an_event_from_a_fast_clock_moves_the_watermark_only_to_the_wall_clock():
    rows, deleted = {}, []
    pipeline = pipeline_with(rows, deleted, max_future_s=86_400)
    wall = T0 + 3_600_000
    # Accepted (within the future limit) and applied to its user...
    rows["skewed"] = pipeline.on_event(
        event("skewed", wall + 23 * 3_600_000, "s1"), 0, None, wall_ms=wall
    )
    assert rows["skewed"].n_events == 1
    # ...but everyone else's events of now are not late because of it.
    assert pipeline.watermark.partition_ms(0) == wall - 1000
    pipeline.check_time(event("b", wall - 500, "b1"), 0, wall_ms=wall)
    # Nor after a restart, when the clock is rebuilt from the rows.
    after = pipeline_with(rows, deleted, max_future_s=86_400)
    after.reindex(0, rows.values(), wall_ms=wall + 60_000)
    assert after.watermark.partition_ms(0) == wall + 59_000


def test_a_partition_fed_by_several_lanes_runs_on_the_slowest_live_one():
    """Re-keying merges clickstream partitions read at uneven speeds: an event
    of a slower source is on time in its own order, however far another
    source has gone (a backlog after a restart, a replay)."""
    marks = Watermarks(grace_ms=1000, idle_after_s=10)
    marks.observe(2, T0 + 300_000, now_s=100, lane=0)  # source 0 read ahead
    assert marks.late_by_ms(2, T0, lane=1) == 0  # a lane's first event
    marks.observe(2, T0, now_s=100, lane=1)
    assert marks.late_by_ms(2, T0 - 500, lane=1) == 0  # within grace
    assert marks.late_by_ms(2, T0 - 3000, lane=1) == 2000
    assert marks.late_by_ms(2, T0 + 200_000, lane=0) == 99_000
    assert marks.late_by_ms(2, T0, lane=DIRECT) == 0  # no such lane yet
    # Sweeps wait for the slower lane; the worker watermark does not.
    assert marks.partition_ms(2) == T0 - 1000
    assert marks.sweep_ms(2, now_s=101, caught_up=False) == T0 - 1000
    assert marks.value_ms == T0 + 299_000

    # Source 1 goes quiet; silent for idle_after_s while source 0 goes on, it
    # no longer holds the partition's sweeps back.
    marks.observe(2, T0 + 301_000, now_s=109, lane=0)
    assert marks.partition_ms(2) == T0 - 1000
    marks.observe(2, T0 + 302_000, now_s=111, lane=0)
    assert marks.partition_ms(2) == T0 + 301_000
    assert marks.late_by_ms(2, T0 + 1000, lane=1) == 0  # its own order still


def test_a_restored_clock_judges_the_direct_lane_not_a_rekeyed_backlog():
    """Rows say how far a partition's events went, not by which lane: after a
    restart an event read from the partition itself behind them is late; the
    re-keyed lanes start afresh and rule the sweeps once heard from."""
    marks = Watermarks(grace_ms=1000, idle_after_s=10)
    marks.restore(3, T0 + 120_000)
    assert marks.late_by_ms(3, T0, lane=DIRECT) == 119_000
    assert marks.late_by_ms(3, T0, lane=0) == 0
    assert marks.partition_ms(3) == T0 + 119_000  # swept on it until then
    marks.observe(3, T0, now_s=50, lane=0)
    marks.observe(3, T0 + 10_000, now_s=50, lane=1)
    assert marks.partition_ms(3) == T0 - 1000
    assert marks.late_by_ms(3, T0 + 5000, lane=0) == 0
    assert marks.late_by_ms(3, T0, lane=DIRECT) == 119_000


def test_a_message_read_again_is_not_late_before_or_after_a_restart():
    """Faust can drop a message on its way to the agent and go on with the
    next ones; it is read again later (a seek back, a rebalance, a restart),
    behind events applied meanwhile. It was written before them: not late. A
    new message just as far behind is."""
    rows, deleted = {}, []
    before = pipeline_with(rows, deleted)
    # Offset 11 is dropped: 12 to 20 come first, a minute apart.
    for offset in range(10, 21):
        if offset != 11:
            rows["a"] = before.on_event(
                event("a", T0 + offset * 60_000, f"e{offset}"), 0, rows.get("a"),
                wall_ms=T0 + 3_600_000, offset=offset,
            )
    dropped = event("a", T0 + 11 * 60_000, "e11")
    state = before.on_event(dropped, 0, rows["a"], wall_ms=T0 + 3_600_000,
                            offset=11)
    assert state is not None and state.n_events == 11
    assert before.counts["rereads_behind_watermark"] == 1
    assert rows["a"].offsets == [20, -1]

    # A new process takes the partition over from the rows.
    after = pipeline_with(rows, deleted)
    after.reindex(0, rows.values(), wall_ms=T0 + 3_600_000)
    with pytest.raises(InvalidEvent):  # a new message (offset 21), 9 minutes late
        after.on_event(event("b", T0 + 11 * 60_000, "b1"), 0, None,
                       wall_ms=T0 + 3_600_000, offset=21)
    rows["c"] = after.on_event(event("c", T0 + 11 * 60_000, "c1"), 0, None,
                               wall_ms=T0 + 3_600_000, offset=15)
    assert rows["c"].n_events == 1  # read again: another owner applied 20
    # Re-keyed messages count offsets of their own topic.
    rows["c"] = after.on_event(event("c", T0 + 12 * 60_000, "c2"), 0, rows["c"],
                               wall_ms=T0 + 3_600_000, lane=2, offset=4)
    assert rows["c"].offsets == [15, 4]
    after.forget(0)
    assert after.on_event(event("e", T0, "x"), 0, None, wall_ms=T0 + 3_600_000,
                          offset=3) is not None
