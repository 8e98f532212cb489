"""What the worker does with one event and with the passing of event time.

The Faust agents in :mod:`streams.app` stay thin: they hand each normalised event to
:meth:`UserPipeline.on_event` and call :meth:`UserPipeline.sweep` on a timer. The
pipeline reads and writes user rows through two callables, so it runs the same in
tests without a broker.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from models.alerts import close_on_activity, should_alert
from models.features import UserState, apply_event, feature_values, is_duplicate
from models.features.state import NO_OFFSET
from models.labels import (
    CHURN,
    PURCHASE,
    add_moment,
    next_deadline_ms,
    resolve_on_event,
    resolve_on_watermark,
)
from models.learner import LearnerClient
from models.recommend import CONTEXT_ITEMS, CoOccurrence
from models.scoring import Scorer
from streams import topics
from streams.errors import InvalidEvent
from streams.settings import Settings
from streams.watermark import DIRECT, Watermarks

log = logging.getLogger(__name__)

Publish = Callable[[str, str, dict[str, Any]], None]
WriteRow = Callable[[UserState], None]
DeleteRow = Callable[[UserState], None]

# Event types that express interest in an item, and so feed recommendations.
ITEM_SIGNALS = frozenset({"view", "cart_add", "favorite", "purchase"})
# A user is scored again on activity no sooner than this much event time later.
SCORE_INTERVAL_MS = 300_000
LABEL_COUNTS = {CHURN: f"labels_{CHURN}", PURCHASE: f"labels_{PURCHASE}"}


class UserPipeline:
    """Per-user features, scoring, labels, alerts and recommendations."""

    def __init__(
        self,
        settings: Settings,
        publish: Publish,
        write: WriteRow,
        delete: DeleteRow | None = None,
        scorer: Scorer | LearnerClient | None = None,
    ) -> None:
        self.settings = settings
        self.publish = publish
        self.write = write
        self.delete = delete
        self.scorer: Scorer | LearnerClient = (
            scorer if scorer is not None else Scorer()
        )
        self.recommender = CoOccurrence()
        self.watermark = Watermarks(
            int(settings.grace_s * 1000), settings.idle_partition_s
        )
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._gap_ms = int(settings.session_gap_s * 1000)
        self._churn_h_ms = int(settings.churn_horizon_s * 1000)
        self._buy_h_ms = int(settings.purchase_horizon_s * 1000)
        self._dedup_ms = int(settings.dedup_window_s * 1000)
        self._rec_ms = int(settings.recommend_interval_s * 1000)
        self._not_items = frozenset(
            item.strip() for item in settings.recommend_exclude.split(",") if item
        )
        self._ttl_ms = int(settings.user_ttl_s * 1000)
        self._future_ms = int(settings.max_future_s * 1000)
        self._rescore_ms = int(settings.rescore_interval_s * 1000)
        self._learn_moments = settings.learned_moments
        # A partition is also swept from its own stream each time its watermark
        # moves this far, so labels and silent users are handled at the same
        # event times whether the stream is live or replayed a million times
        # faster than the wall-clock ticks.
        self._sweep_step_ms = max(self._gap_ms // 4, 1000)
        self._swept_ms: dict[int, int] = {}
        # Per partition, a min-heap of (due event time, user id): when each user
        # next needs a look. Stale entries are skipped when popped.
        self._due: dict[int, list[tuple[int, str]]] = {}
        # Per partition, the highest offset of a message applied, by road as a
        # row's ``offsets`` (read from the partition, re-keyed); rebuilt from the
        # rows when a partition is indexed. A message at or below it is
        # read again (redelivered after a rebalance, a restart or a message
        # Faust dropped), not late: the producer wrote it before messages
        # already applied.
        self._applied_to: dict[int, list[int]] = {}

    # -- events -------------------------------------------------------------

    def check_time(
        self, event: dict[str, Any], partition: int, wall_ms: int,
        lane: int = DIRECT, reread: bool = False,
    ) -> None:
        """Raise InvalidEvent for an event too late or too far in the future.

        Late: behind its partition's watermark, as an event that came by
        ``lane`` is judged (see :mod:`streams.watermark`), unless the message is
        read again (``reread``: it was written before messages already applied,
        so its place in the order was on time or it would have been refused
        then). Future: more than LIFECYCLE_MAX_FUTURE_S ahead of the wall clock.
        Neither moves a watermark.
        """
        ts_ms = event["event_ts_ms"]
        ahead_ms = ts_ms - wall_ms
        if ahead_ms > self._future_ms:
            self.counts["future_events"] += 1
            raise InvalidEvent(
                "future_event",
                f"event_ts_ms={ts_ms} is {ahead_ms / 1000:.0f}s ahead of the wall "
                f"clock (limit {self.settings.max_future_s:.0f}s)",
                ahead_by_ms=ahead_ms,
            )
        late_ms = self.watermark.late_by_ms(partition, ts_ms, lane)
        if late_ms > 0 and reread:
            self.counts["rereads_behind_watermark"] += 1
        elif late_ms > 0:
            self.counts["late_events"] += 1
            raise InvalidEvent(
                "late_event",
                f"event_ts_ms={ts_ms} is {late_ms / 1000:.3f}s behind the watermark "
                f"of partition {partition}"
                + (f" for events re-keyed from clickstream partition {lane}"
                   if lane >= 0 else ""),
                late_by_ms=late_ms,
            )

    def on_event(
        self,
        event: dict[str, Any],
        partition: int,
        state: UserState | None,
        now_s: float = 0.0,
        wall_ms: int | None = None,
        lane: int = DIRECT,
        offset: int | None = None,
    ) -> UserState | None:
        """Apply one normalised event; return the row to store (None: unchanged).

        A known event is a duplicate, whenever it comes. An unknown one that is
        late or from the future raises InvalidEvent (see check_time), when
        ``wall_ms`` is given. ``now_s`` is the monotonic clock, used only to tell
        idle partitions; ``lane`` says by which road the event came (read from
        the partition itself, or re-keyed from which clickstream partition), and
        ``offset`` where its message lies in that road's topic partition.
        """
        user_id = event["user_id"]
        ts_ms = event["event_ts_ms"]
        kind = event["event_type"]
        if state is not None and event["event_id"] in state.seen:
            self.counts["duplicates"] += 1
            return None
        road = 0 if lane == DIRECT else 1
        applied = self._applied(partition)
        if wall_ms is not None:
            self.check_time(
                event, partition, wall_ms, lane,
                offset is not None and offset <= applied[road],
            )
        if state is None:
            state = UserState(user_id, partition)
            self.counts["users_new"] += 1
        state.partition = partition

        if is_duplicate(
            state, event["event_id"], ts_ms, self._dedup_ms,
            self.settings.dedup_max_ids,
        ):
            self.counts["duplicates"] += 1
            return None
        self.counts["events"] += 1
        if offset is not None:
            if offset > state.offsets[road]:
                state.offsets[road] = offset
            if offset > applied[road]:
                applied[road] = offset
        # A clock moves no further than the wall clock: one device stamping its
        # events a day ahead would otherwise make everyone else's events late
        # (and sweep every user a day early).
        self.watermark.observe(
            partition,
            ts_ms if wall_ms is None or ts_ms <= wall_ms else wall_ms,
            now_s,
            lane,
        )

        # Labels first: this event is the outcome of earlier scoring moments.
        for target, x, y in resolve_on_event(
            state, ts_ms, kind == "purchase", self._churn_h_ms, self._buy_h_ms
        ):
            self.scorer.learn(target, x, y)
            self.counts[LABEL_COUNTS[target]] += 1
        close_on_activity(state)

        # What the recommender learns from: the user's items before this one.
        recent_before = state.recent_items[-CONTEXT_ITEMS:]
        apply_event(state, event, self._gap_ms)

        if state.n_events == 1 or ts_ms - state.last_moment_ms >= SCORE_INTERVAL_MS:
            self._score(state, ts_ms, "activity")

        item_id = event.get("item_id")
        if (
            item_id is not None
            and kind in ITEM_SIGNALS
            and item_id not in self._not_items
        ):
            self.recommender.observe(item_id, recent_before)
            self._maybe_recommend(state, ts_ms)

        self._schedule(state)
        return state

    # -- event time passing -------------------------------------------------

    def sweep(
        self,
        partition: int,
        rows: Callable[[str], UserState | None],
        now_s: float = 0.0,
    ) -> int:
        """Evaluate the partition's users whose session ended or labels fell due.

        Runs on the watermark, so a user who went silent is still scored, labelled
        and, if at risk, alerted. Returns the number of users looked at.
        """
        # Without steps, it yields once, at the end.
        (looked,) = self.sweep_in_steps(partition, rows, now_s, step=0)
        return looked

    def sweep_in_steps(
        self,
        partition: int,
        rows: Callable[[str], UserState | None],
        now_s: float = 0.0,
        step: int = 1000,
        caught_up: bool = True,
    ) -> Iterator[int]:
        """:meth:`sweep`, yielding the users looked at so far after every ``step``
        users (0: only at the end), so a caller can let other work run between
        steps of a long sweep. The watermark is the one of the start throughout.
        ``caught_up``: the partition's input is read to the end (an idle
        partition with a backlog keeps its own watermark; see Watermarks).
        """
        self.scorer.poll()
        watermark_ms = self.watermark.sweep_ms(partition, now_s, caught_up)
        self.counts["sweeps"] += 1
        self._swept_ms[partition] = watermark_ms
        due = self._due.setdefault(partition, [])
        looked = 0
        pause_at = step
        while due and due[0][0] <= watermark_ms:
            if step and looked >= pause_at:
                pause_at = looked + step
                yield looked
            _, user_id = heapq.heappop(due)
            state = rows(user_id)
            if state is None or state.partition != partition:
                continue
            if self._due_ms(state) > watermark_ms:
                continue
            looked += 1
            self._evaluate_silent(state, watermark_ms)
            if self._expired(state, watermark_ms):
                self._evict(state)
                continue
            self.write(state)
            self._schedule(state)
        yield looked

    def sweep_due(self, partition: int) -> bool:
        """True once the partition's watermark has moved a step past its last
        sweep (see ``_sweep_step_ms``)."""
        return (
            self.watermark.partition_ms(partition)
            - self._swept_ms.get(partition, 0)
            >= self._sweep_step_ms
        )

    def reindex(
        self, partition: int, states: Iterable[UserState],
        wall_ms: int | None = None,
    ) -> None:
        """Rebuild a partition's due-heap and event-time clock from its rows
        (after recovery): the clock is the newest event time among them, no
        later than ``wall_ms`` (see on_event), so an event that was late before
        a restart is late after it too."""
        self._due[partition] = []
        newest_ms = 0
        read_to = self._applied(partition)
        for state in states:
            self._schedule(state)
            if state.last_ts_ms > newest_ms:
                newest_ms = state.last_ts_ms
            direct, rekeyed = state.offsets
            if direct > read_to[0]:
                read_to[0] = direct
            if rekeyed > read_to[1]:
                read_to[1] = rekeyed
        if wall_ms is not None and newest_ms > wall_ms:
            newest_ms = wall_ms
        self.watermark.restore(partition, newest_ms)
        log.info(
            "partition indexed partition=%d users=%d watermark_ms=%d "
            "applied_offset=%d rekeyed_applied_offset=%d",
            partition, len(self._due[partition]),
            self.watermark.partition_ms(partition), read_to[0], read_to[1],
        )

    def _applied(self, partition: int) -> list[int]:
        """The partition's highest applied offsets, by road (kept, not copied)."""
        applied = self._applied_to.get(partition)
        if applied is None:
            applied = self._applied_to[partition] = [NO_OFFSET, NO_OFFSET]
        return applied

    def forget(self, partition: int) -> None:
        """Drop what this worker knew of a partition it no longer owns; the next
        owner rebuilds it from the rows (see :meth:`reindex`)."""
        self._due.pop(partition, None)
        self._swept_ms.pop(partition, None)
        self._applied_to.pop(partition, None)
        self.watermark.forget(partition)

    def _evaluate_silent(self, state: UserState, watermark_ms: int) -> None:
        for target, x, y in resolve_on_watermark(
            state, watermark_ms, self._churn_h_ms, self._buy_h_ms
        ):
            self.scorer.learn(target, x, y)
            self.counts[LABEL_COUNTS[target]] += 1

        session_end_ms = state.last_ts_ms + self._gap_ms
        if not state.scored_session_end and session_end_ms <= watermark_ms:
            state.scored_session_end = True
            scores = self._score(state, session_end_ms, "session_end")
            self._maybe_alert(state, scores, session_end_ms)

        # A silent user is scored again at growing steps of event time. After a
        # long jump of the watermark the sweep catches up one step at a time, each
        # moment scored with the features as they stood at its own time.
        due_ms = self._rescore_due_ms(state)
        if due_ms is not None and due_ms <= watermark_ms:
            scores = self._score(state, due_ms, "interval")
            self._maybe_alert(state, scores, due_ms)

    def _rescore_due_ms(self, state: UserState) -> int | None:
        """When a silent user is next scored; None while active or when off.

        The step is the rescore interval or the silence so far, whichever is
        longer: moments come at about 1, 2, 4, 8... intervals of silence, so a
        user silent for a year costs a handful of moments, not one per interval.
        """
        if not self._rescore_ms or not state.scored_session_end:
            return None
        silence_ms = state.last_moment_ms - state.last_ts_ms
        return state.last_moment_ms + max(self._rescore_ms, silence_ms)

    def _expired(self, state: UserState, watermark_ms: int) -> bool:
        return (
            self.delete is not None
            and state.last_ts_ms + self._ttl_ms <= watermark_ms
        )

    def _evict(self, state: UserState) -> None:
        """Forget an idle user everywhere: table row (tombstone) and counters."""
        self.counts["users_evicted"] += 1
        if state.pending:
            self.counts["moments_dropped"] += len(state.pending)
        assert self.delete is not None
        self.delete(state)

    # -- decisions ----------------------------------------------------------

    def _score(self, state: UserState, at_ms: int, moment: str) -> dict[str, float]:
        x = feature_values(state, at_ms)
        scores = self.scorer.score(x)
        if moment in self._learn_moments:
            dropped = add_moment(state, at_ms, x)
            if dropped:
                self.counts["moments_dropped"] += dropped
        else:
            # Scored and published, not kept for a label; the next moment is
            # still timed from this one.
            state.last_moment_ms = at_ms
        state.last_scores = {
            "ts_ms": at_ms, CHURN: scores[CHURN], PURCHASE: scores[PURCHASE]
        }
        self.counts["scores"] += 1
        self.publish(
            topics.USER_SCORES,
            state.user_id,
            topics.user_score(
                state.user_id, at_ms, moment, scores[CHURN], scores[PURCHASE],
                self.scorer.versions(), state.n_events, state.last_ts_ms,
                models=self.scorer.published_metadata(),
            ),
        )
        return scores

    def _maybe_alert(
        self, state: UserState, scores: dict[str, float], at_ms: int
    ) -> None:
        if self.scorer.learned[CHURN] < self.settings.alert_min_labels:
            return
        episode = should_alert(
            state, scores[CHURN], at_ms, self.settings.churn_threshold,
            self.settings.churn_rearm, self.settings.alert_min_events,
        )
        if episode is None:
            return
        self.counts["alerts"] += 1
        self.publish(
            topics.CHURN_ALERTS,
            state.user_id,
            topics.churn_alert(
                state.user_id, episode, at_ms, scores[CHURN], scores[PURCHASE],
                self.settings.churn_threshold, state.last_ts_ms, state.n_events,
                state.purchases, state.monetary_total, self.scorer.versions(),
            ),
        )

    def _maybe_recommend(self, state: UserState, at_ms: int) -> None:
        if state.last_rec_ms and at_ms - state.last_rec_ms < self._rec_ms:
            return
        k = self.settings.recommend_k
        items = self.recommender.recommend(state.recent_items, k)
        if not items:
            return
        state.last_rec_ms = at_ms
        self.counts["recommendations"] += 1
        self.publish(
            topics.RECOMMENDATIONS,
            state.user_id,
            topics.recommendation(
                state.user_id, at_ms, items, state.recent_items[-5:]
            ),
        )

    # -- scheduling ---------------------------------------------------------

    def _due_ms(self, state: UserState) -> int:
        # Runs after every event: the earliest of three times, without a list.
        due = -1
        if not state.scored_session_end:
            due = state.last_ts_ms + self._gap_ms
        deadline = next_deadline_ms(state, self._churn_h_ms, self._buy_h_ms)
        if deadline is not None and (due < 0 or deadline < due):
            due = deadline
        rescore_ms = self._rescore_due_ms(state)
        if rescore_ms is not None and (due < 0 or rescore_ms < due):
            due = rescore_ms
        if self.delete is not None:
            expiry_ms = state.last_ts_ms + self._ttl_ms
            if due < 0 or expiry_ms < due:
                due = expiry_ms
        return due

    def _schedule(self, state: UserState) -> None:
        due_ms = self._due_ms(state)
        if due_ms >= 0:
            heap = self._due.setdefault(state.partition, [])
            heapq.heappush(heap, (due_ms, state.user_id))

    def stats(self) -> dict[str, Any]:
        body = {
            "counts": dict(self.counts),
            "rejected": dict(self.rejected),
            "watermark_ms": self.watermark.value_ms,
            "models": self.scorer.report(),
            "model_versions": self.scorer.versions(),
        }
        if isinstance(self.scorer, LearnerClient):
            body["learner"] = self.scorer.stats()
        return body
