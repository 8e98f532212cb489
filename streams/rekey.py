"""Where a re-keyed event came from, carried in Kafka headers.

An event whose message key or partition does not match its user is sent on to
the internal re-keyed topic, keyed by the user, with its original bytes. The
headers name the clickstream message it was, so that if it is rejected after the
re-keying (late, from the future), its dead letter still gives the original key
and the clickstream topic, partition and offset, as the contract promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOPIC = "lifecycle-source-topic"
PARTITION = "lifecycle-source-partition"
OFFSET = "lifecycle-source-offset"
KEY = "lifecycle-source-key"  # absent when the original message had no key


def source_headers(message: Any) -> list[tuple[str, bytes]]:
    """Headers naming ``message`` for its re-keyed copy."""
    headers = [
        (TOPIC, message.topic.encode()),
        (PARTITION, str(message.partition).encode()),
        (OFFSET, str(message.offset).encode()),
    ]
    if message.key is not None:
        headers.append((KEY, message.key))
    return headers


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """The fields of the original message a dead letter reports."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, message: Any) -> SourceMessage | None:
        """The original of a re-keyed ``message``; None if it carries no source
        headers (re-keyed by a worker older than these headers)."""
        found = dict(_pairs(message.headers))
        if TOPIC not in found:
            return None
        return cls(
            topic=found[TOPIC].decode(),
            partition=int(found[PARTITION]),
            offset=int(found[OFFSET]),
            key=found.get(KEY),
            value=message.value,
        )


def _pairs(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)
