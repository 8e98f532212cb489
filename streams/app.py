"""The Faust application: topics, the user table, agents, timers and web views.

Flow: ``ingest`` reads raw bytes from ``clickstream``, rejects bad messages to the
dead-letter topic and applies good events to the user table. An event whose message
key or partition does not match its user is re-keyed through an internal topic, so
every user lives on exactly one partition. A timer sends a tick into each owned
partition of that internal topic; the tick runs the event-time sweep for that
partition inside the stream, where table writes are allowed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections import Counter
from typing import Any

import faust
import orjson
from aiohttp.web import normalize_path_middleware
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.types import TP

from models.features import UserState
from models.learner import LearnerClient
from models.scoring import Scorer, ScorerConfig
from streams import codecs, commits, compat, fetch_wait, recovery, topics
from streams.alert_watch import AlertFeed
from streams.delivery import Deliveries, hand_over
from streams.errors import InvalidEvent
from streams.events import parse_event
from streams.paused import PausedWatch
from streams.pipeline import UserPipeline
from streams.rekey import SourceMessage, source_headers
from streams.settings import Settings
from streams.watermark import DIRECT, REKEYED_UNKNOWN

log = logging.getLogger(__name__)

TICK_KEY = b"\x00lifecycle-tick"
# aiokafka holds one open batch per partition and, once it is full, makes the next
# send wait until the sender has taken it. At the default 16 KiB, about twenty
# user rows, the agent spent a third of its time waiting on that.
PRODUCER_BATCH_BYTES = 512 * 1024
# An agent lets the event loop run other work after this long on one batch, and
# a sweep after this many users: timers, web views and the other agent wait no
# longer than that (they waited seconds while a replay was caught up).
YIELD_AFTER_S = 0.05
SWEEP_STEP_USERS = 200


# murmur2 is pure Python (a few microseconds a call) and runs for every event;
# users come back, so their partitions are remembered, a bounded number of them.
@functools.lru_cache(maxsize=1 << 16)
def partition_for(user_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a user's key."""
    return (murmur2(user_id.encode()) & 0x7FFFFFFF) % partitions


def too_large(exc: BaseException) -> bool:
    """Whether a send failed because the message exceeds the producer's limit
    (Faust wraps aiokafka's error in its ProducerSendError)."""
    return isinstance(exc, MessageSizeTooLargeError) or isinstance(
        exc.__cause__, MessageSizeTooLargeError
    )


def current(event: Any) -> None:
    """Make ``event`` the one this task is handling.

    Stores find the partition of a row they write from it (the RocksDB store
    asserts there is one): the stream's own iteration sets it, but a batch is
    handled outside that. Only the task's context variable is set, which
    ``faust.streams.current_event()`` reads; the stream's ``current_event``
    attribute belongs to the task filling the take buffer, which reads it back
    after it waits (setting it here crashed that task).
    """
    _current_event.set(None if event is None else weakref.ref(event))


def _report_failed_tick(sent: Any) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        log.warning("sweep tick not sent error=%r", sent.exception())


def create_app(settings: Settings) -> faust.App:
    """Build the app and wire its agents for the given settings."""
    codecs.register()
    compat.install()
    commits.install()
    fetch_wait.install(settings.fetch_max_wait_ms)
    n = settings.partitions
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.bootstrap.split(",")],
        store=settings.store,
        datadir=settings.data_dir,
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=n,
        topic_replication_factor=settings.replication,
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_bind,
        producer_linger=0.02,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        # At a revocation, finish the events already taken and commit before the
        # partitions go: otherwise the leaving worker goes on applying them and
        # writing their rows after the next owner has recovered the partition.
        stream_wait_empty=True,
        topic_allow_declare=True,
        table_standby_replicas=0,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 5),
        # /stats answers as /stats/ does (a redirect), not with a 404.
        web_application_options={
            "middlewares": [normalize_path_middleware(append_slash=True)]
        },
    )
    commits.track_fetched(app)

    def raw_topic(name: str, internal: bool = False) -> faust.TopicT:
        return app.topic(
            name, key_serializer="raw", value_serializer="raw",
            partitions=n, internal=internal,
        )

    clickstream = raw_topic(topics.CLICKSTREAM)
    rekeyed = raw_topic(topics.REKEYED, internal=True)
    # Faust takes a table's codecs from its key and value types, everywhere: the
    # store, the changelog writes and the changelog reads of recovery.
    users = app.Table(
        "users", partitions=n, key_type=codecs.UserKey, value_type=codecs.UserRow
    )
    received: Counter[str] = Counter()
    recovery.guard_stale_rows(users, received)

    # Outputs wait here until the agent that caused them sends them, already
    # serialised: (topic, key, value, headers). Events to re-key wait here too,
    # their headers naming the clickstream message they were.
    pending: list[
        tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]
    ] = []

    def publish(topic: str, key: str, value: dict[str, Any]) -> None:
        pending.append((topic, key.encode(), orjson.dumps(value), None))

    # Changed rows wait here too, one entry per user however often it changed in
    # the step: (partition, row), the row None for a deletion.
    changed: dict[str, tuple[int, UserState | None]] = {}
    changelog_name = users.changelog_topic.get_topic_name()
    rekeyed_name = rekeyed.get_topic_name()

    send_lock = asyncio.Lock()

    async def send_pending() -> None:
        """Hand the step's rows, then its outputs, to the producer.

        They go to the producer Faust's own Topic.send ends in (under
        exactly_once, the transaction manager), the same call with the same
        bytes, but without the future, sensor and callback Faust wraps around
        each message: profiled, those cost more than all of an event's own work.
        The table hears of the newest changelog offset of each partition, as
        Topic.send's callback would tell it of every one.
        """
        # Two agents share `changed` and `pending`. Without the lock, one agent
        # could take the other's rows and still be handing them over when the
        # other finds nothing left, moves on, and lets its offset be committed:
        # a crash then would lose those rows (seen: 36 of 10,000 events under
        # SIGKILL). With it, a caller returns only once every row queued before
        # its call is in the producer, which Faust flushes before committing.
        async with send_lock:
            await _send_pending()

    async def _send_pending() -> None:
        producer = await app.maybe_start_producer()
        send = producer.send
        # A commit's flush sends refused messages again (streams.delivery).
        deliveries.install(producer)
        track = deliveries.track

        # Rows first: an output must never be ahead of the state that caused it.
        # What a failed send leaves unsent goes back to wait for the next try
        # (a row changed since stays the newer one).
        while changed:
            rows = list(changed.items())
            changed.clear()
            newest: dict[int, Any] = {}
            for i, (user_id, (partition, state)) in enumerate(rows):
                key = user_id.encode()
                value = None if state is None else state.dumps()
                try:
                    sent = await send(
                        changelog_name, key, value, partition, None, None
                    )
                except BaseException:
                    for unsent_id, unsent in rows[i:]:
                        changed.setdefault(unsent_id, unsent)
                    raise
                track(sent, (changelog_name, key, value, partition, None))
                newest[partition] = sent
            for sent in newest.values():
                sent.add_done_callback(persisted)
        while pending:
            batch = pending[:]
            pending.clear()
            for i, (topic, key, value, headers) in enumerate(batch):
                try:
                    sent = await send(topic, key, value, None, None, headers)
                except BaseException as exc:
                    if too_large(exc):
                        # Sending it again cannot help: counted, logged and left
                        # out rather than stopping the stream behind it.
                        pipeline.counts["outputs_too_large"] += 1
                        log.error("output too large, left out topic=%s key=%r "
                                  "bytes=%d error=%r", topic, key, len(value), exc)
                        continue
                    pending[:0] = batch[i:]
                    raise
                track(sent, (topic, key, value, None, headers))

    def persisted(sent: Any) -> None:
        # The table keeps the newest changelog offset it holds (RocksDB reads
        # on from there when it recovers); a failed send is sent again.
        if not sent.cancelled() and sent.exception() is None:
            users._on_changelog_sent(sent)

    # Rows go to the store at once and to the changelog when the step's sends are
    # awaited: the table's own send_soon queues one message at a time, which
    # costs more than all the rest of an event's work.
    def write(state: UserState) -> None:
        users.data[state.user_id] = state
        changed[state.user_id] = (state.partition, state)

    def delete(state: UserState) -> None:
        del users.data[state.user_id]
        changed[state.user_id] = (state.partition, None)  # a tombstone

    # The models come back from their last checkpoint, if any, before the first
    # event; they are checkpointed again, and their training process stopped,
    # when the worker shuts down.
    config = ScorerConfig(train_delay_s=settings.train_extra_cpu_s)
    scorer: Scorer | LearnerClient
    if settings.learner == "process":
        scorer = LearnerClient(
            config, settings.models_path, settings.snapshot_s, settings.log_level
        )
    else:
        scorer = Scorer(config=config, models_dir=settings.models_path)
    pipeline = UserPipeline(settings, publish, write, delete, scorer=scorer)
    deliveries = Deliveries(pipeline.counts)

    @app.on_before_shutdown.connect
    async def close_models(sender: Any, **_: Any) -> None:
        scorer.close()

    def apply(
        event: dict[str, Any], message: Any, source: Any = None,
        lane: int = DIRECT,
    ) -> int | None:
        """Apply an event read from ``message``, or dead-letter it if untimely;
        a dead letter names ``source`` (default: the message itself), and
        ``lane`` says by which road it came (streams.watermark). Returns the
        partition to sweep before the next event, if its sweep is due."""
        partition = message.partition
        user_id = event["user_id"]
        index(partition)
        try:
            state = pipeline.on_event(
                event, partition, users.get(user_id), time.monotonic(),
                int(time.time() * 1000), lane, message.offset,
            )
        except InvalidEvent as exc:
            reject(source or message, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - one event must not stop the rest
            # A bug of ours, not bad input: the event is kept in the dead-letter
            # topic with the error, and the worker goes on with the next one.
            log.exception(
                "processing failed user_id=%s offset=%s", user_id, message.offset
            )
            reject(
                source or message, InvalidEvent("processing_error", repr(exc)[:500])
            )
            return None
        if state is not None:
            write(state)
        return partition if pipeline.sweep_due(partition) else None

    def reject(message: Any, exc: InvalidEvent) -> None:
        pipeline.rejected[exc.reason] += 1
        log.debug("rejected reason=%s offset=%s", exc.reason, message.offset)
        letter = topics.dead_letter(
            exc.reason, exc.detail, message.value, message.key,
            message.topic, message.partition, message.offset,
            int(time.time() * 1000), exc.fields,
        )
        pending.append((topics.DLQ, message.key, orjson.dumps(letter), None))

    def ingest_one(message: Any) -> int | None:
        """Apply one clickstream message, or queue it for re-keying; returns the
        partition to sweep now, if any."""
        received["clickstream"] += 1
        handled_to[message.partition] = message.offset + 1
        try:
            parsed = parse_event(message.value)
        except InvalidEvent as exc:
            reject(message, exc)
            return None
        user_id = parsed["user_id"]
        key = user_id.encode()
        if message.key == key and message.partition == partition_for(user_id, n):
            return apply(parsed, message)
        elif len(message.value) + len(key) > rekey_max_bytes:
            # The producer would refuse it: it cannot reach its user's partition.
            reject(message, InvalidEvent(
                "too_large",
                f"{len(message.value)} bytes is too large to re-key to its user's "
                f"partition (limit {rekey_max_bytes}); send it keyed by its user_id",
                size_bytes=len(message.value),
            ))
            return None
        else:
            # The original bytes go on unchanged, keyed by the user, with where
            # they came from in headers, so that a dead letter written after the
            # re-keying still names the clickstream message. Sent with the
            # step's outputs, before the offset is acknowledged.
            received["rekeyed_out"] += 1
            pending.append(
                (rekeyed_name, key, message.value, source_headers(message))
            )
            return None

    # What a re-keyed message may weigh: the producer's request limit, less room
    # for the record's headers and framing.
    rekey_max_bytes = app.conf.producer_max_request_size - 16 * 1024

    def rekeyed_one(message: Any) -> int | None:
        if message.key == TICK_KEY:
            return message.partition
        received["rekeyed_in"] += 1
        source = SourceMessage.of(message)
        if source is None:
            # Re-keyed by an older worker: the normalised event, as JSON.
            return apply(
                orjson.loads(message.value), message, lane=REKEYED_UNKNOWN
            )
        try:
            parsed = parse_event(message.value)
        except InvalidEvent as exc:  # it parsed before the re-keying; kept anyway
            reject(source, exc)
            return None
        return apply(parsed, message, source, lane=source.partition)

    # Each agent works a batch at a time: Faust acknowledges a batch's offsets
    # when the agent asks for the next one, by then the rows and outputs of the
    # batch are in the producer, which Faust flushes before it commits.
    batch_max, batch_wait_s = settings.batch_max, settings.batch_wait_s

    async def work(stream: faust.StreamT, one: Any) -> None:
        """Take batches from ``stream`` and handle each event with ``one``.

        take_events acknowledges the whole batch when this loop's body ends,
        however it ends: also when the agent is cancelled at shutdown, after
        which the consumer commits. So the body never ends early: a
        cancellation is held until every event of the batch is applied and its
        rows and outputs are in the producer, and a sweep's error is logged,
        not raised (seen before: a SIGTERM mid-stream lost a batch's events).
        """
        async for batch in stream.take_events(batch_max, within=batch_wait_s):
            cancelled: BaseException | None = None
            since_s = time.monotonic()
            for event in batch:
                current(event)
                sweep = handle(one, event.message)
                if cancelled is not None:
                    continue  # no more awaits: finish the batch and hand it over
                try:
                    if sweep is not None:
                        await sweep_partition(sweep)
                    if time.monotonic() - since_s >= YIELD_AFTER_S:
                        # Let timers, web views and the other agent run: a
                        # large batch must not hold the event loop for seconds.
                        await asyncio.sleep(0)
                        since_s = time.monotonic()
                except asyncio.CancelledError as exc:
                    cancelled = exc
                except Exception:  # noqa: BLE001 - the batch must still be written
                    pipeline.counts["sweep_errors"] += 1
                    log.exception("sweep failed partition=%s", sweep)
            current(None)
            cancelled = await hand_over(
                send_pending, cancelled, deliveries, pipeline.counts
            )
            if cancelled is not None:
                raise cancelled
            await keep_learner_up()

    def handle(one: Any, message: Any) -> int | None:
        """``one(message)``; an error of ours dead-letters the message rather
        than ending the batch (see ``work``)."""
        try:
            return one(message)
        except Exception as exc:  # noqa: BLE001 - one message must not stop the rest
            log.exception("handling failed topic=%s partition=%s offset=%s",
                          message.topic, message.partition, message.offset)
            reject(message, InvalidEvent("processing_error", repr(exc)[:500]))
            return None

    backlog_max = settings.learner_backlog

    async def keep_learner_up() -> None:
        """Hand the learner the batch's labels; while it is more than
        LIFECYCLE_LEARNER_BACKLOG examples behind, wait until it has caught up
        half of that (the event loop runs on: timers, heartbeats, web views)."""
        if not isinstance(scorer, LearnerClient):
            return
        scorer.flush()
        scorer.poll()
        if scorer.backlog <= backlog_max:
            return
        started = time.monotonic()
        while scorer.backlog > backlog_max // 2:
            await asyncio.sleep(0.02)
            scorer.poll()
        waited_s = time.monotonic() - started
        pipeline.counts["learner_waits"] += 1
        pipeline.counts["learner_wait_ms"] += int(waited_s * 1000)

    @app.agent(clickstream, name="ingest")
    async def ingest(stream: faust.StreamT) -> None:
        await work(stream, ingest_one)

    @app.agent(rekeyed, name="rekeyed")
    async def rekeyed_events(stream: faust.StreamT) -> None:
        await work(stream, rekeyed_one)

    indexed: set[int] = set()
    # Per clickstream partition, the offset after the last message handled.
    handled_to: dict[int, int] = {}

    def read_to_end(partition: int) -> bool:
        """Whether every clickstream message of ``partition`` the broker has told
        of (its high watermark at the last fetch) has been handled. Unknown
        counts as read: a partition is then treated as before this rule."""
        tp = TP(topics.CLICKSTREAM, partition)
        try:
            high = app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - e.g. not assigned (mid-rebalance)
            return True
        if high is None:
            return True
        done = handled_to.get(partition)
        if done is None:
            # Nothing handled since the partition was assigned: where reading
            # starts (the committed offset, as Faust records it at assignment).
            done = app.consumer._read_offset.get(tp) or 0
        return done >= high

    def index(partition: int) -> None:
        """Once per assignment of a partition, before its first event or sweep:
        rebuild its sweep index and event-time clock from its recovered rows."""
        if partition not in indexed:
            pipeline.reindex(
                partition,
                (s for s in users.values() if s.partition == partition),
                int(time.time() * 1000),
            )
            indexed.add(partition)

    async def sweep_partition(partition: int) -> None:
        """Sweep a partition, letting other work run between steps of a long
        sweep (after a jump of the watermark, thousands of users can be due)."""
        index(partition)
        looked = 0
        for so_far in pipeline.sweep_in_steps(
            partition, users.get, time.monotonic(), step=SWEEP_STEP_USERS,
            caught_up=read_to_end(partition),
        ):
            looked = so_far
            await asyncio.sleep(0)
        if looked:
            log.debug("sweep partition=%d users=%d", partition, looked)

    @app.on_partitions_revoked.connect
    async def forget_sweep_index(_app: Any, revoked: Any, **_: Any) -> None:
        # A partition given back later is re-indexed from the rows recovered then.
        # Its clock too: kept, it would lag behind what the next owner did.
        for partition in {tp.partition for tp in revoked}:
            indexed.discard(partition)
            pipeline.forget(partition)
            handled_to.pop(partition, None)

    owned_before: set[int] = set()
    paused = PausedWatch({topics.CLICKSTREAM, rekeyed_name})

    @app.timer(interval=settings.sweep_interval_s)
    async def send_ticks() -> None:
        if app.rebalancing or app.in_recovery:
            paused.reset()
            return
        paused.check(app.consumer._paused_partitions, app.consumer.assignment())
        owned = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == topics.REKEYED
        }
        if owned != owned_before:
            # Rows recovered for new partitions are not in the sweep index yet.
            indexed.clear()
            owned_before.clear()
            owned_before.update(owned)
        producer = await app.maybe_start_producer()
        for partition in sorted(owned):
            # A lost tick costs one sweep interval: logged in one line, not
            # raised (the broker can refuse a send while it is loaded).
            sent = await producer.send(
                rekeyed_name, TICK_KEY, b"", partition, None, None
            )
            sent.add_done_callback(_report_failed_tick)

    feed = AlertFeed(settings.bootstrap)

    @app.task
    async def follow_alerts() -> None:
        # The live alert page's feed. It only reads a public topic: a failure
        # is logged and retried, never allowed near the stream's own work.
        while True:
            try:
                await feed.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("alert feed failed, retrying in 5 s error=%r", exc)
            await asyncio.sleep(5.0)

    from streams import web

    web.register(app, users, pipeline, received, feed)
    return app
