"""How long the worker's consumer lets the broker hold a fetch with no new data.

Faust builds the worker's consumer with ``fetch_max_wait_ms=1500``, and has no
setting for it. A broker that answers a waiting fetch only when that time is up,
not as soon as a record arrives (the bundled one does), then adds up to 1.5 s to
every event that arrives while the stream is quiet: measured by ``lifecycle
bench``, a new user's first score came a second after its event (p50). Apache
Kafka answers as soon as ``fetch_min_bytes`` (1) has arrived, so there the wait
only bounds how often an idle consumer asks.

What we do: set the consumer's wait to ``LIFECYCLE_FETCH_MAX_WAIT_MS`` after Faust
builds it and before it starts (aiokafka hands the value to its fetcher at
start). An idle worker then sends about ten fetch requests a second per broker
at the default of 100 ms, which costs Kafka next to nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)

_original_create = AIOKafkaConsumerThread._create_worker_consumer
_wait_ms = {"value": 1500}


def _create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> Any:
    consumer = _original_create(self, transport)
    consumer._fetch_max_wait_ms = _wait_ms["value"]
    return consumer


def install(wait_ms: int) -> None:
    """Make every worker consumer built from now on wait at most ``wait_ms``."""
    _wait_ms["value"] = int(wait_ms)
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer
    log.debug("fetch wait set fetch_max_wait_ms=%d", wait_ms)
