"""The do-nothing Faust agent `lifecycle bench` compares the pipeline against.

Run as ``python -m streams.bench.floor`` in a process of its own. It reads one topic
with one agent that only counts events, the cheapest work Faust can do per event,
and when it has seen the expected number it writes a JSON result file. The clock
starts at the first event, so group join and start-up are not measured.

Environment (set by the bench):

- ``BENCH_FLOOR_BOOTSTRAP``: Kafka bootstrap servers.
- ``BENCH_FLOOR_TOPIC``: the topic to read from its beginning.
- ``BENCH_FLOOR_APP_ID``: a fresh Faust app id, also the consumer group.
- ``BENCH_FLOOR_EVENTS``: how many events to count before reporting.
- ``BENCH_FLOOR_RESULT``: path of the JSON result file.
- ``BENCH_FLOOR_DATA_DIR``: Faust's local data directory.
- ``BENCH_FLOOR_PARTITIONS``: partitions of Faust's own internal topics.
- ``BENCH_FLOOR_SESSION_TIMEOUT_S``: consumer-group session timeout, as the worker's.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import faust
import orjson

log = logging.getLogger(__name__)


def write_result(path: Path, body: dict[str, float | int]) -> None:
    """Write the result so a reader never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_bytes(orjson.dumps(body))
    partial.replace(path)


def create_app(env: dict[str, str]) -> faust.App:
    bootstrap = env["BENCH_FLOOR_BOOTSTRAP"]
    expected = int(env["BENCH_FLOOR_EVENTS"])
    result_path = Path(env["BENCH_FLOOR_RESULT"])
    session_timeout_s = float(env.get("BENCH_FLOOR_SESSION_TIMEOUT_S", "10"))
    app = faust.App(
        env["BENCH_FLOOR_APP_ID"],
        broker=[f"kafka://{host}" for host in bootstrap.split(",")],
        datadir=env["BENCH_FLOOR_DATA_DIR"],
        topic_partitions=int(env.get("BENCH_FLOOR_PARTITIONS", "4")),
        web_enabled=False,
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=min(3.0, session_timeout_s / 5),
    )
    source = app.topic(
        env["BENCH_FLOOR_TOPIC"], key_serializer="raw", value_serializer="raw"
    )

    @app.agent(source, name="floor")
    async def floor(stream: faust.StreamT) -> None:
        count = 0
        first_s = 0.0
        async for _event in stream.events():
            count += 1
            if count == 1:
                first_s = time.monotonic()
                log.info("floor first event")
            if count == expected:
                elapsed_s = time.monotonic() - first_s
                write_result(result_path, {"events": count, "elapsed_s": elapsed_s})
                log.info("floor done events=%d elapsed_s=%.3f", count, elapsed_s)

    return app


def main() -> None:
    from faust import Worker

    app = create_app(dict(os.environ))
    worker = Worker(app, loglevel=os.environ.get("BENCH_FLOOR_LOG_LEVEL", "info"))
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
