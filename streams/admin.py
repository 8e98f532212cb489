"""Topic administration with kafka-python: create what is missing, read what is."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.errors import BrokerError

log = logging.getLogger(__name__)


def ensure_topics(
    bootstrap: str,
    names: list[str] | tuple[str, ...],
    partitions: int,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> dict[str, int]:
    """Create the topics that do not exist; return the partition count of each.

    Existing topics keep their partition count: the caller decides what to do when
    it differs from ``partitions``.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        missing = [n for n in names if n not in set(admin.list_topics())]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(n, partitions, replication) for n in missing],
                    timeout_ms=int(timeout_s * 1000),
                )
                log.info("topics created names=%s partitions=%d", missing, partitions)
            except TopicAlreadyExistsError:
                pass
        return _partition_counts(admin, names, timeout_s)
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics at {bootstrap}: {exc}") from exc
    finally:
        admin.close()


def _partition_counts(
    admin: KafkaAdminClient, names: list[str] | tuple[str, ...], timeout_s: float
) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        counts: dict[str, int] = {}
        for meta in admin.describe_topics(list(names)):
            if meta.get("error_code", 0) == 0 and meta.get("partitions"):
                name = meta.get("name") or meta.get("topic")
                counts[name] = len(meta["partitions"])
        if len(counts) == len(names) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    absent = [n for n in names if n not in counts]
    if absent:
        raise BrokerError(f"topics not visible after creation: {absent}")
    return counts
