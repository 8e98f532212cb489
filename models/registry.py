"""Model checkpoints on disk: written whole or not at all, read back at start.

One directory per worker (``LIFECYCLE_MODELS_DIR``, by default inside the worker's
data dir) holds:

- ``scorer.pkl``: the River models, their quality figures, drift detectors and the
  network's training buffers, pickled. Pickle runs code when loaded: only ever
  point a worker at a directory that workers of this project wrote.
- ``mlp-<target>.npz``: the network weights in use for a target, with their
  version, the feature names and the normaliser's statistics; plain arrays, read
  without pickle.
- ``.lock``: held by the worker that writes here, so that two workers given the
  same directory do not overwrite each other's checkpoints.

Every file is written to a temporary name in the same directory, flushed to disk
and renamed over the old one, so a crash leaves the old file or the new one,
never half of one. Serialising happens on the caller's thread (the models must not
change meanwhile); the disk writes happen on a background thread, in order.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import pickle
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import river

from models.features import FEATURE_NAMES
from models.network import NetworkWeights

log = logging.getLogger(__name__)

STATE_FILE = "scorer.pkl"
LOCK_FILE = ".lock"
# Bump when the checkpoint layout changes; older checkpoints are then ignored.
FORMAT = 1


def network_file(target: str) -> str:
    return f"mlp-{target}.npz"


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one step, surviving a crash at any point."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself is durable once the directory is synced.
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointLocked(Exception):
    """Another process writes checkpoints to this directory."""


class Registry:
    """Reads and writes the checkpoints of one directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock_fd: int | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self.writable = True

    # -- reading ------------------------------------------------------------

    def load_state(self) -> dict[str, Any] | None:
        """The scorer's pickled state, or None when absent or unusable."""
        path = self.directory / STATE_FILE
        if not path.exists():
            return None
        try:
            with open(path, "rb") as f:
                saved = pickle.load(f)
        except Exception as exc:  # noqa: BLE001 - a bad file must not stop a worker
            log.warning("checkpoint unreadable path=%s error=%r; starting fresh",
                        path, exc)
            return None
        if not _compatible(saved, path):
            return None
        if saved.get("river") != river.__version__:
            log.warning(
                "checkpoint from another river version path=%s saved=%s running=%s",
                path, saved.get("river"), river.__version__,
            )
        return saved["state"]

    def load_network(self, target: str) -> NetworkWeights | None:
        """The saved network weights of ``target``, or None."""
        path = self.directory / network_file(target)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                n_layers = int(meta["layers"])
                layers = tuple(
                    (data[f"w{i}"].copy(), data[f"b{i}"].copy())
                    for i in range(n_layers)
                )
                weights = NetworkWeights(
                    version=int(meta["version"]),
                    feature_names=tuple(meta["feature_names"]),
                    mean=data["mean"].copy(),
                    scale=data["scale"].copy(),
                    layers=layers,
                    trained_on=int(meta["trained_on"]),
                    meta=dict(meta.get("meta", {})),
                )
        except Exception as exc:  # noqa: BLE001 - a bad file must not stop a worker
            log.warning("network checkpoint unreadable path=%s error=%r", path, exc)
            return None
        if meta.get("format") != FORMAT or weights.feature_names != FEATURE_NAMES:
            log.warning(
                "network checkpoint ignored path=%s reason=other_format_or_features",
                path,
            )
            return None
        return weights

    # -- writing ------------------------------------------------------------

    def save_state(self, state: dict[str, Any]) -> int | None:
        """Pickle ``state`` now and write it in the background; returns bytes,
        or None when this worker may not write here (nothing is pickled)."""
        if not self._claim():
            return None
        data = pickle.dumps(
            {
                "format": FORMAT,
                "feature_names": list(FEATURE_NAMES),
                "river": river.__version__,
                "state": state,
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        self._write(STATE_FILE, data)
        return len(data)

    def save_network(self, target: str, weights: NetworkWeights) -> None:
        arrays: dict[str, np.ndarray] = {"mean": weights.mean, "scale": weights.scale}
        for i, (w, b) in enumerate(weights.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        meta = {
            "format": FORMAT,
            "target": target,
            "version": weights.version,
            "feature_names": list(weights.feature_names),
            "trained_on": weights.trained_on,
            "layers": len(weights.layers),
            "meta": weights.meta,
        }
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        self._write(network_file(target), buffer.getvalue())

    def flush(self) -> None:
        """Wait until every write asked for so far is on disk."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.exception()  # waits; a failure was logged when it happened

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _claim(self) -> bool:
        """True if this worker holds the directory's lock, taking it if free."""
        if self.writable and self._lock_fd is None:
            try:
                self._lock()
            except CheckpointLocked as exc:
                self.writable = False
                log.error("checkpoints disabled: %s", exc)
        return self.writable

    def _write(self, name: str, data: bytes) -> None:
        if not self._claim():
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="checkpoint")
        self._pending = [f for f in self._pending if not f.done()]
        future = self._writer.submit(atomic_write, self.directory / name, data)
        future.add_done_callback(_report_failure)
        self._pending.append(future)

    def _lock(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise CheckpointLocked(
                f"directory={self.directory} is in use by pid={holder or '?'}; "
                "give each worker its own LIFECYCLE_MODELS_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd


def _compatible(saved: Any, path: Path) -> bool:
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        log.warning("checkpoint ignored path=%s reason=other_format", path)
        return False
    if tuple(saved.get("feature_names", ())) != FEATURE_NAMES:
        log.warning("checkpoint ignored path=%s reason=other_feature_names", path)
        return False
    return True


def _report_failure(future: Future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("checkpoint write failed error=%r", exc)
