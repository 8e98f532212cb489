"""Training the network in another process, never on the caller's thread.

:func:`train` is a pure function from a :class:`TrainJob` to a
:class:`TrainResult`; it imports torch, so the worker process never does. A
:class:`Trainer` sends jobs to a one-process pool started with ``spawn`` (a fresh
interpreter: no copy of the worker's threads, locks or event loop) and hands back
finished results when asked, without ever waiting for one.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from models.network import NetworkConfig, NetworkWeights, normaliser

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TrainJob:
    target: str
    version: int
    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    seed: int
    config: NetworkConfig
    reason: str
    # CPU seconds burnt before the job returns: lets a test make training slow.
    delay_s: float = 0.0


@dataclass(frozen=True, eq=False)
class TrainResult:
    target: str
    reason: str
    weights: NetworkWeights
    train_s: float
    loss: float
    # CPU seconds of the training process (train_s is wall time, longer when the
    # machine is busy: the training process runs at low priority).
    cpu_s: float = 0.0


def _burn_cpu(seconds: float) -> None:
    """Keep this process's CPU busy for ``seconds`` of its own CPU time."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        sum(range(10_000))


def train(job: TrainJob) -> TrainResult:
    """Fit a fresh network on the job's examples and return its weights."""
    import torch

    started, started_cpu = time.monotonic(), time.process_time()
    torch.set_num_threads(1)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    cfg = job.config

    # Normalise as the numpy forward pass will: mean, scale, clip.
    mean, scale = normaliser(job.x)
    z = np.clip((job.x - mean) / scale, -5.0, 5.0).astype(np.float32)
    inputs = torch.from_numpy(z)
    labels = torch.from_numpy(job.y.astype(np.float32))

    net = build_mlp(inputs.shape[1], cfg.hidden)
    optimiser = torch.optim.Adam(
        net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    n = len(labels)
    loss = float("nan")
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            optimiser.zero_grad()
            step_loss = loss_fn(net(inputs[batch]).squeeze(1), labels[batch])
            step_loss.backward()
            optimiser.step()
            total += step_loss.item() * len(batch)
        loss = total / n

    if job.delay_s > 0:
        _burn_cpu(job.delay_s)
    layers = tuple(
        (
            module.weight.detach().numpy().astype(np.float64),
            module.bias.detach().numpy().astype(np.float64),
        )
        for module in net
        if isinstance(module, torch.nn.Linear)
    )
    weights = NetworkWeights(
        version=job.version,
        feature_names=job.feature_names,
        mean=mean,
        scale=scale,
        layers=layers,
        trained_on=n,
        meta={"reason": job.reason, "loss": round(loss, 6), "seed": job.seed},
    )
    return TrainResult(
        job.target, job.reason, weights, time.monotonic() - started, loss,
        time.process_time() - started_cpu,
    )


def build_mlp(n_inputs: int, hidden: tuple[int, ...]) -> Any:
    """Linear and ReLU layers down to one logit."""
    import torch

    layers: list[torch.nn.Module] = []
    width = n_inputs
    for units in hidden:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


def _init_worker() -> None:
    """In the training process: one thread, low priority, deaf to Ctrl-C (the
    worker that owns the pool decides when it stops)."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    torch.set_num_threads(1)
    try:
        os.nice(10)
    except OSError:
        pass


def _exit_with_parent() -> None:
    """Ask Linux to kill this process when the worker that started it dies, so a
    SIGKILLed worker leaves no training process behind (elsewhere: nothing)."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(
            pr_set_pdeathsig, signal.SIGKILL
        )
    except (OSError, AttributeError):
        pass
    # The worker may have died before the request took effect.
    if os.getppid() == 1:
        os._exit(0)


def process_pool() -> Executor:
    """One training process, started from a fresh interpreter."""
    return ProcessPoolExecutor(
        max_workers=1, mp_context=get_context("spawn"), initializer=_init_worker
    )


class InlineExecutor(Executor):
    """Runs each job at once in the caller's thread: for tests and offline
    evaluation, where blocking is wanted and determinism matters."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed back like a pool would
            future.set_exception(exc)
        return future


Finished = tuple[TrainJob, TrainResult | BaseException]


class Trainer:
    """At most one job per target in flight; results collected without waiting."""

    def __init__(self, executor_factory: Callable[[], Executor] = process_pool) -> None:
        self._factory = executor_factory
        self._executor: Executor | None = None
        self._running: dict[str, TrainJob] = {}
        self._futures: dict[str, Future] = {}
        # Filled by the futures' callbacks (possibly on the pool's own thread):
        # appending to a deque is atomic, and that is all a callback does.
        self._done: deque[tuple[TrainJob, Future]] = deque()

    @property
    def has_results(self) -> bool:
        return bool(self._done)

    def busy(self, target: str) -> bool:
        return target in self._running

    def submit(self, job: TrainJob) -> None:
        """Start ``job``; returns at once."""
        if job.target in self._running:
            raise RuntimeError(f"a job for target={job.target} is still running")
        if self._executor is None:
            self._executor = self._factory()
        self._running[job.target] = job
        try:
            future = self._executor.submit(train, job)
        except (BrokenProcessPool, RuntimeError) as exc:
            # A pool whose process died cannot take work; the next job gets a
            # new one.
            log.error("training pool unusable error=%r; restarting it", exc)
            self._drop_executor()
            future = Future()
            future.set_exception(exc)
        self._futures[job.target] = future
        future.add_done_callback(lambda f, job=job: self._done.append((job, f)))

    def collect(self) -> list[Finished]:
        """Jobs finished since the last call, with their result or error."""
        out: list[Finished] = []
        while self._done:
            job, future = self._done.popleft()
            self._running.pop(job.target, None)
            self._futures.pop(job.target, None)
            exc = CancelledError() if future.cancelled() else future.exception()
            if isinstance(exc, BrokenProcessPool):
                self._drop_executor()
            out.append((job, exc if exc is not None else future.result()))
        return out

    def close(self, timeout_s: float | None = None) -> None:
        """Stop the pool: queued jobs are cancelled; a running one gets
        ``timeout_s`` to finish (None: as long as it takes), then its process is
        terminated and its result dropped."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # The pool forgets its processes on shutdown: take them first.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        running = list(self._futures.values())
        _, unfinished = wait(running, timeout=timeout_s)
        if unfinished:
            # ProcessPoolExecutor cannot stop a running call (Python 3.14 adds
            # terminate_workers); without this, the interpreter would wait for the
            # job at exit anyway.
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(5.0)
            log.warning("training stopped unfinished jobs=%d", len(unfinished))
        executor.shutdown(wait=True)
        self._done = deque(
            (job, future) for job, future in self._done if future not in unfinished
        )
        for target, future in list(self._futures.items()):
            if future in unfinished:
                del self._futures[target]
                self._running.pop(target, None)

    def _drop_executor(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
