"""`lifecycle worker`: run the Faust worker against the configured Kafka."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from streams import topics
from streams.admin import ensure_topics
from streams.errors import ConfigError
from streams.settings import Settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web-port", type=int, help="HTTP port (default LIFECYCLE_WEB_PORT)"
    )
    parser.add_argument("--data-dir", help="local state dir (LIFECYCLE_DATA_DIR)")


def prepare(settings: Settings) -> Settings:
    """Create the topics and align the partition count with clickstream's."""
    names = (topics.CLICKSTREAM, topics.REKEYED, *topics.OUTPUT_TOPICS)
    counts = ensure_topics(
        settings.bootstrap, names, settings.partitions, settings.replication
    )
    source_n = counts[topics.CLICKSTREAM]
    if counts[topics.REKEYED] != source_n:
        raise ConfigError(
            f"topic {topics.REKEYED} has {counts[topics.REKEYED]} partitions but "
            f"{topics.CLICKSTREAM} has {source_n}; they must match"
        )
    if source_n != settings.partitions:
        log.warning(
            "clickstream partitions=%d differ from LIFECYCLE_PARTITIONS=%d; "
            "following the topic", source_n, settings.partitions,
        )
        settings = settings.with_overrides(partitions=source_n)
    return settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from faust import Worker

    from streams.app import create_app

    overrides = {}
    if args.web_port:
        overrides["web_port"] = args.web_port
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = prepare(settings.with_overrides(**overrides))
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    log.info("worker starting %s", settings.describe())
    app = create_app(settings)
    worker = Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
    return 0
