import logging

from faust.types import TP

from streams.paused import PausedWatch

CLICKS = [TP("clickstream", p) for p in range(2)]
CHANGELOG = TP("lifecycle-users-changelog", 0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_stream_partition_paused_too_long_is_reported_once(caplog):
    clock = Clock()
    watch = PausedWatch({"clickstream"}, warn_after_s=30.0, clock=clock)
    assigned = [*CLICKS, CHANGELOG]
    # Changelog partitions stay paused after a recovery by design: never reported.
    assert watch.check([CLICKS[1], CHANGELOG], assigned) == []
    clock.now = 29.0
    assert watch.check([CLICKS[1], CHANGELOG], assigned) == []
    clock.now = 31.0
    with caplog.at_level(logging.WARNING, logger="streams.paused"):
        assert watch.check([CLICKS[1], CHANGELOG], assigned) == [CLICKS[1]]
    assert "topic=clickstream partition=1 for_s=31" in caplog.text
    clock.now = 60.0
    assert watch.check([CLICKS[1]], assigned) == []  # said once


def test_a_resume_or_a_recovery_starts_the_count_again():
    clock = Clock()
    watch = PausedWatch({"clickstream"}, warn_after_s=30.0, clock=clock)
    watch.check([CLICKS[0]], CLICKS)
    clock.now = 20.0
    watch.check([], CLICKS)  # resumed
    watch.check([CLICKS[0]], CLICKS)  # paused again at 20
    clock.now = 45.0
    assert watch.check([CLICKS[0]], CLICKS) == []
    watch.reset()  # a recovery: pauses are expected
    clock.now = 70.0
    assert watch.check([CLICKS[0]], CLICKS) == []
    clock.now = 100.0
    assert watch.check([CLICKS[0]], CLICKS) == [CLICKS[0]]


def test_a_paused_partition_no_longer_assigned_is_not_reported():
    clock = Clock()
    watch = PausedWatch({"clickstream"}, warn_after_s=1.0, clock=clock)
    watch.check([CLICKS[0]], [CLICKS[1]])
    clock.now = 5.0
    assert watch.check([CLICKS[0]], [CLICKS[1]]) == []
