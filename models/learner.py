"""Learning in a process of its own; the worker scores with its newest snapshot.

Judging, teaching, drift detection, blending, network training and checkpoints
cost most of a worker's CPU when every label is handled on the event loop (about
230 µs a label, two labels per event on a clickstream). :class:`LearnerClient`
moves all of that to a learner process and keeps, in the worker, only what
scoring reads: the models of each target's blend, with their weights, versions
and figures, as of the learner's last snapshot.

The worker hands over labelled examples in batches, in the order the pipeline
resolves them, so the learner learns exactly what an in-process
:class:`~models.scoring.Scorer` would, in the same order; only the moment a new
model reaches the scores differs (every ``snapshot_s`` seconds at most). The
worker's agents wait (see ``streams.app``) while the learner is more than
``backlog_max`` examples behind, so a slow learner slows the stream rather than
falling behind without bound.

A learner that dies is started again from the last checkpoint; the examples it
had not learned are counted as lost (``/stats/`` ``learner``).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import queue
import signal
import threading
import time
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from river.tree.nodes.leaf import HTLeaf

from models.labels import TARGETS
from models.network import NetworkModel
from models.scoring import Scorer, ScorerConfig
from models.targets import mix
from models.trainer import _exit_with_parent
from models.vectors import Vector, prepare

log = logging.getLogger(__name__)

TARGET_INDEX = {target: i for i, target in enumerate(TARGETS)}
# Examples handed over in one message.
SEND_EVERY = 512
# How long the worker waits for the learner's first snapshot at start (it loads
# the checkpoint, which can be tens of MB).
START_TIMEOUT_S = 120.0
# The learner says how far it got at least this often, snapshot or not.
PROGRESS_S = 0.2
# ... and checkpoints at least this often while it learns (besides the scorer's
# own checkpoint every 20,000 labels), so a killed worker loses at most about
# this much learning. Off the event loop, a checkpoint costs the stream nothing.
CHECKPOINT_S = 30.0


class ScoringView:
    """What scoring reads of one target: its blend's models and their weights."""

    __slots__ = ("active",)

    def __init__(self, active: list[tuple[Any, float]]) -> None:
        self.active = active

    def predict(self, v: Vector) -> float:
        return mix(self.active, v)


class _ScoringPickler(pickle.Pickler):
    """Pickles models for scoring only, without what only learning reads.

    The leaves of a Hoeffding tree go without their split statistics (an
    estimator per feature and class, most of a grown tree's bytes); a leaf's
    prediction reads its class counts and whether it is active, which is kept
    (an inactive leaf has ``splitters`` None, an active one an empty dict). The
    network goes without its buffer of training examples.
    """

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, HTLeaf) and obj.splitters:
            state = obj.__dict__.copy()
            state["splitters"] = {}
            return _rebuild, (type(obj), state)
        if isinstance(obj, NetworkModel):
            state = obj.__getstate__()
            state["buffer"] = None
            return _rebuild, (type(obj), state)
        return NotImplemented


def _rebuild(cls: type, state: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _dumps_for_scoring(payload: Any) -> bytes:
    out = io.BytesIO()
    _ScoringPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(payload)
    return out.getvalue()


def snapshot(scorer: Scorer, processed: int) -> bytes:
    """The scoring side of ``scorer``, pickled: the blend's models (see
    :class:`_ScoringPickler`), weights, versions, figures and counts."""
    views = {
        target: ScoringView(list(t.active)) for target, t in scorer._targets.items()
    }
    payload = {
        "views": views,
        "processed": processed,
        "learned": dict(scorer.learned),
        "versions": scorer.versions(),
        "model_versions": scorer.model_versions(),
        "metadata": scorer.metadata(),
        "report": scorer.report(),
    }
    return _dumps_for_scoring(payload)


def serve(
    inbox: Connection,
    outbox: Connection,
    config: ScorerConfig,
    models_dir: str | None,
    snapshot_s: float,
    log_level: str,
    checkpoint_s: float = CHECKPOINT_S,
) -> None:
    """The learner process: learn what arrives, send snapshots, until told to
    close or the worker is gone (its end of the pipe closes)."""
    from streams.cli import setup_logging

    setup_logging(log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when
    _exit_with_parent()

    def put(message: tuple[str, Any]) -> None:
        outbox.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    scorer = Scorer(config=config, models_dir=models_dir)
    processed = 0
    put(("snapshot", snapshot(scorer, processed)))
    sent_versions = scorer.model_versions()
    last_snapshot_s = last_progress_s = last_checkpoint_s = time.monotonic()
    checkpointed_labels = scorer.labels
    log.info("learner started pid=%d models_dir=%s labels=%d",
             os.getpid(), models_dir, scorer.labels)
    try:
        while True:
            message = None
            if inbox.poll(PROGRESS_S):
                message = pickle.loads(inbox.recv_bytes())
            if message is not None:
                kind = message[0]
                if kind == "learn":
                    for index, x, y in message[1]:
                        scorer.learn(TARGETS[index], x, y)
                    processed += len(message[1])
                elif kind == "close":
                    scorer.close(message[1])
                    put(("snapshot", snapshot(scorer, processed)))
                    put(("closed", processed))
                    log.info("learner closed labels=%d", scorer.labels)
                    return
            scorer.poll()
            now = time.monotonic()
            if now - last_checkpoint_s >= checkpoint_s:
                if scorer.labels != checkpointed_labels:
                    scorer.checkpoint()
                    checkpointed_labels = scorer.labels
                last_checkpoint_s = now
            if now - last_snapshot_s >= snapshot_s:
                versions = scorer.model_versions()
                if versions != sent_versions:
                    put(("snapshot", snapshot(scorer, processed)))
                    sent_versions = versions
                    last_snapshot_s = last_progress_s = now
                    continue
            if now - last_progress_s >= PROGRESS_S:
                put(("progress", processed))
                last_progress_s = now
    except (EOFError, BrokenPipeError):
        # The worker is gone without a goodbye: keep what was learned.
        log.warning("learner lost its worker; checkpointing and exiting "
                    "labels=%d", scorer.labels)
        scorer.close()


def _rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MB (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


class _Channel:
    """The worker's ends of the two one-way pipes to one learner process.

    The worker keeps only its own ends (the learner's are closed here once it
    has started), so a learner that dies reads as the end of its pipe
    (EOFError) or a broken pipe, never as a wait without end: a message half
    written when the learner was killed cannot hold the worker's event loop.
    Sends go through a thread, so a learner busy learning never makes the event
    loop wait on a full pipe.
    """

    def __init__(self, context: Any) -> None:
        self.incoming, self._their_send = context.Pipe(duplex=False)
        self._their_receive, self._outgoing = context.Pipe(duplex=False)
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.broken = False
        self._sender = threading.Thread(
            target=self._send_all, name="learner-sender", daemon=True
        )

    @property
    def learner_ends(self) -> tuple[Connection, Connection]:
        return self._their_receive, self._their_send

    def started(self) -> None:
        """The learner holds its ends now: drop ours, start sending."""
        self._their_receive.close()
        self._their_send.close()
        self._sender.start()

    def send(self, message: tuple[str, Any]) -> None:
        self._queue.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _send_all(self) -> None:
        while (blob := self._queue.get()) is not None:
            try:
                self._outgoing.send_bytes(blob)
            except (OSError, ValueError):  # the learner is gone, or we closed
                self.broken = True
                return

    def receive(self, timeout_s: float = 0.0) -> tuple[str, Any] | None:
        """The next message, None if none came within ``timeout_s``; EOFError
        once the learner is gone."""
        if not self.incoming.poll(timeout_s):
            return None
        return pickle.loads(self.incoming.recv_bytes())

    def close(self) -> None:
        self._queue.put(None)
        self._sender.join(timeout=1.0)
        for end in (self._outgoing, self.incoming):
            end.close()


class LearnerClient:
    """A :class:`~models.scoring.Scorer` for the worker: scores with the newest
    snapshot of the learner process, and hands it every labelled example.

    The same methods as the scorer, plus :meth:`flush`, :attr:`backlog` and
    :meth:`stats`. Blocks at start until the learner sent its first snapshot
    (its models as restored from ``models_dir``).
    """

    def __init__(
        self,
        config: ScorerConfig | None = None,
        models_dir: str | Path | None = None,
        snapshot_s: float = 2.0,
        log_level: str = "info",
        checkpoint_s: float = CHECKPOINT_S,
    ) -> None:
        self.config = config or ScorerConfig()
        self._models_dir = None if models_dir is None else str(models_dir)
        self._snapshot_s = snapshot_s
        self._log_level = log_level
        self._checkpoint_s = checkpoint_s
        self._outbox: list[tuple[int, Any, int]] = []
        self._views: dict[str, ScoringView] = {}
        self._payload: dict[str, Any] = {}
        self.learned = dict.fromkeys(TARGETS, 0)
        self.sent = 0
        self.processed = 0
        self.lost = 0
        self.restarts = 0
        self.snapshots = 0
        self.snapshot_bytes = 0
        self.snapshot_load_ms = 0.0
        self._snapshot_at_s: float | None = None
        self._closed = False
        self._start()
        self._await_first_snapshot()

    # -- the learner process -------------------------------------------------

    def _start(self) -> None:
        context = get_context("spawn")
        self._channel = _Channel(context)
        self._process = context.Process(
            target=serve,
            args=(*self._channel.learner_ends, self.config, self._models_dir,
                  self._snapshot_s, self._log_level, self._checkpoint_s),
            name="lifecycle-learner",
        )
        self._process.start()
        self._channel.started()
        self.sent = self.processed = 0

    def _await_first_snapshot(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._views:
            try:
                message = self._channel.receive(0.2)
            except EOFError:
                message = None
            if message is not None:
                self._handle(message)
                continue
            if not self._process.is_alive():
                raise RuntimeError(
                    f"learner process exited at start exitcode="
                    f"{self._process.exitcode} (see its log lines above)"
                )
            if time.monotonic() > deadline:
                self._process.kill()
                raise RuntimeError(
                    f"learner process sent no models within {START_TIMEOUT_S:.0f}s"
                )

    def _handle(self, message: tuple[str, Any]) -> None:
        """A snapshot is installed; progress and "closed" carry the count of
        examples learned."""
        kind, body = message
        if kind == "snapshot":
            self._install(body)
        else:
            self.processed = max(self.processed, body)

    def _install(self, blob: bytes) -> None:
        started = time.monotonic()
        payload = pickle.loads(blob)
        self._views = payload.pop("views")
        self._payload = payload
        # Every score message carries the same figures until the next snapshot:
        # serialised once here, not once per score.
        self._metadata_json = orjson.Fragment(orjson.dumps(payload["metadata"]))
        self.learned = payload["learned"]
        self.processed = max(self.processed, payload["processed"])
        self.snapshots += 1
        self.snapshot_bytes = len(blob)
        self.snapshot_load_ms = (time.monotonic() - started) * 1000
        self._snapshot_at_s = time.monotonic()

    def _revive(self) -> None:
        """Start a new learner after the last one died: it restores the last
        checkpoint; what the dead one had not learned is counted as lost."""
        behind = self.sent - self.processed
        self.lost += behind
        self.restarts += 1
        log.error(
            "learner process died exitcode=%s; starting a new one from the last "
            "checkpoint examples_lost=%d restarts=%d",
            self._process.exitcode, behind, self.restarts,
        )
        # Reaped (it may still be exiting when its pipe closed): no zombie.
        self._process.join(timeout=5.0)
        self._channel.close()
        self._start()

    # -- what the pipeline calls ---------------------------------------------

    def score(self, x: Any) -> dict[str, float]:
        """Churn risk and purchase propensity from the newest snapshot."""
        v = prepare(x)
        views = self._views
        return {target: views[target].predict(v) for target in TARGETS}

    def learn(self, target: str, x: Any, y: int) -> None:
        """Queue one labelled example for the learner."""
        self._outbox.append((TARGET_INDEX[target], x, 1 if y else 0))
        if len(self._outbox) >= SEND_EVERY:
            self.flush()

    def flush(self) -> None:
        """Hand the queued examples over now."""
        if not self._outbox or self._closed:
            return
        batch, self._outbox = self._outbox, []
        self._channel.send(("learn", batch))
        self.sent += len(batch)

    def poll(self) -> None:
        """Install the newest snapshot, if one came; revive a dead learner."""
        newest = None
        gone = False
        while True:
            try:
                message = self._channel.receive()
            except (EOFError, OSError):
                gone = True
                break
            if message is None:
                break
            kind, body = message
            if kind == "snapshot":
                newest = body
            else:
                self.processed = max(self.processed, body)
        if newest is not None:
            self._install(newest)
        if not self._closed and (gone or not self._process.is_alive()):
            self._revive()

    @property
    def backlog(self) -> int:
        """Examples handed over or queued that the learner has not learned yet."""
        return self.sent + len(self._outbox) - self.processed

    def versions(self) -> dict[str, str]:
        return self._payload["versions"]

    def model_versions(self) -> dict[str, dict[str, str]]:
        return self._payload["model_versions"]

    def metadata(self) -> dict[str, Any]:
        return self._payload["metadata"]

    def published_metadata(self) -> orjson.Fragment:
        """:meth:`metadata` as JSON, for the score messages (orjson embeds it)."""
        return self._metadata_json

    def report(self) -> dict[str, Any]:
        return self._payload["report"]

    def stats(self) -> dict[str, Any]:
        """How the learner keeps up, for ``/stats/``."""
        age = self._snapshot_at_s
        return {
            "pid": self._process.pid,
            "alive": self._process.is_alive(),
            "backlog": self.backlog,
            "handed_over": self.sent,
            "learned": self.processed,
            "lost": self.lost,
            "restarts": self.restarts,
            "snapshots": self.snapshots,
            "snapshot_age_s": None if age is None else round(time.monotonic() - age, 3),
            "snapshot_bytes": self.snapshot_bytes,
            "snapshot_load_ms": round(self.snapshot_load_ms, 2),
            "rss_mb": _rss_mb(self._process.pid),
        }

    def close(self, timeout_s: float | None = 5.0) -> None:
        """Hand over what is queued, let the learner finish it, checkpoint and
        exit; waits for that up to a bound and kills the learner after it."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        wait_s = 60.0 + (timeout_s or 0.0)
        self._channel.send(("close", timeout_s))
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                message = self._channel.receive(0.2)
            except (EOFError, OSError):
                break  # the learner exited
            if message is None:
                if not self._process.is_alive():
                    break
                continue
            self._handle(message)
            if message[0] == "closed":
                break
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            log.error("learner did not exit within %.0fs; killing it", wait_s)
            self._process.kill()
            self._process.join(timeout=5.0)
        self._channel.close()
