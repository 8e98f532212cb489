"""Topic administration with kafka-python: create what is missing, read what is."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.errors import for_code as error_for_code

from streams.errors import BrokerError, LifecycleError

logger = logging.getLogger(__name__)

ADMIN_TIMEOUT_MS = 15_000


def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int,
    require: Iterable[str] = (),
) -> dict[str, int]:
    """Create the topics that are missing; return every topic's partition count.

    Existing topics keep their partition count. A topic created by someone else
    between the check and the creation counts as existing. A topic of
    ``require`` that does not exist is an error, raised before anything is
    created.
    """
    names = list(dict.fromkeys(names))
    required = list(require)
    try:
        with bootstrap_quietly(bootstrap):
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, client_id="replay-admin",
                request_timeout_ms=ADMIN_TIMEOUT_MS,
                bootstrap_timeout_ms=ADMIN_TIMEOUT_MS,
            )
    except KafkaError as exc:
        raise unreachable(bootstrap, exc) from None

    try:
        existing = set(admin.list_topics())
        absent = [name for name in required if name not in existing]
        if absent:
            raise LifecycleError(
                f"topic {', '.join(absent)} does not exist at bootstrap={bootstrap}"
            )
        missing = [name for name in names if name not in existing]
        if missing:
            _create_topics(admin, missing, partitions, replication)
            admin.wait_for_topics(missing, timeout_ms=ADMIN_TIMEOUT_MS)

        described = admin.describe_topics(names)
    except KafkaError as exc:
        raise BrokerError(
            f"cannot create or describe topics {names} at bootstrap={bootstrap}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    finally:
        admin.close()

    counts = {topic["name"]: len(topic["partitions"]) for topic in described}
    logger.info(
        "topics ready %s",
        " ".join(f"{name}.partitions={count}" for name, count in counts.items()),
    )
    return counts


def _create_topics(
    admin: KafkaAdminClient, names: list[str], partitions: int, replication: int
) -> None:
    spec = {"num_partitions": partitions, "replication_factor": replication}
    response = admin.create_topics(
        {name: dict(spec) for name in names},
        timeout_ms=ADMIN_TIMEOUT_MS, raise_errors=False,
    )
    for topic in response["topics"]:
        error = error_for_code(topic["error_code"])
        if topic["error_code"] == 0:
            logger.info(
                "created topic name=%s partitions=%d replication=%d",
                topic["name"], partitions, replication,
            )
        elif error is TopicAlreadyExistsError:
            logger.info("topic exists name=%s (created concurrently)", topic["name"])
        else:
            raise BrokerError(
                f"cannot create topic {topic['name']}: {error.__name__}: "
                f"{topic.get('error_message') or ''}"
            )


@contextmanager
def bootstrap_quietly(bootstrap: str) -> Iterator[None]:
    """While a kafka-python client bootstraps, keep its retry logs down.

    It logs two or three lines for every refused connection attempt, about 20
    before it gives up; the caller's single "cannot reach Kafka" error says it
    all. Once connected, kafka-python logs as usual.
    """
    client_log = logging.getLogger("kafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    logger.info(
        "connecting to Kafka bootstrap=%s timeout_s=%.0f",
        bootstrap, ADMIN_TIMEOUT_MS / 1000,
    )
    try:
        yield
    finally:
        client_log.setLevel(level)


def unreachable(bootstrap: str, exc: KafkaError) -> BrokerError:
    # kafka-python's errors already begin with their class name.
    detail = str(exc)
    name = type(exc).__name__
    if not detail.startswith(name):
        detail = f"{name}: {detail}" if detail else name
    return BrokerError(f"cannot reach Kafka at bootstrap={bootstrap}: {detail}")
