"""One settings object for every command, read from the environment and validated.

Each field names its environment variable in the comment beside it. Durations carry
their unit in the name. Nothing here is secret today; if a field ever is, keep it out
of ``describe()``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

from streams.errors import ConfigError

DEFAULT_BROKER_PORT = 9092
# Table stores the worker is tested with ("rocksdb" needs the rocksdb extra).
STORE_SCHEMES = ("memory", "rocksdb")
LEARNERS = ("process", "inline")
# Kinds of scoring moment (streams/pipeline.py), in the order they come to a user.
MOMENTS = ("activity", "session_end", "interval")


@dataclass(frozen=True, slots=True)
class Settings:
    # KAFKA_BOOTSTRAP: "host:port[,host:port]" of an existing Kafka. When unset, the
    # commands that need a broker start the bundled one on 127.0.0.1.
    kafka_bootstrap: str | None = None
    # LIFECYCLE_BROKER_PORT: port of the bundled broker when KAFKA_BOOTSTRAP is unset.
    broker_port: int = DEFAULT_BROKER_PORT
    # LIFECYCLE_APP_ID: Faust application id, also the consumer group id.
    app_id: str = "lifecycle"
    # LIFECYCLE_PARTITIONS: partitions of the topics lifecycle creates. An existing
    # clickstream topic keeps its own count and the worker follows it.
    partitions: int = 4
    # LIFECYCLE_REPLICATION: replication factor of the topics lifecycle creates.
    replication: int = 1
    # LIFECYCLE_DATA_DIR: where the worker keeps local state (table stores).
    data_dir: str = "var/lifecycle"
    # LIFECYCLE_MODELS_DIR: where the worker checkpoints its models and reads them
    # back at start. Empty means "<LIFECYCLE_DATA_DIR>/models", so workers with
    # their own data dirs never share one; a directory already in use by another
    # worker is read but not written.
    models_dir: str = ""
    # LIFECYCLE_STORE: Faust table store URL, "memory://" or "rocksdb://".
    store: str = "memory://"
    # LIFECYCLE_WEB_PORT: port of the worker's HTTP server (JSON views, stats).
    web_port: int = 6066
    # LIFECYCLE_WEB_BIND: interface the HTTP server listens on.
    web_bind: str = "127.0.0.1"
    # LIFECYCLE_WEB_HOST: host name other workers use to reach this one, for
    # requests about users whose partition this worker owns.
    web_host: str = "127.0.0.1"
    # LIFECYCLE_PROCESSING_GUARANTEE: "at_least_once" or "exactly_once" (the latter
    # needs Kafka transactions, which Apache Kafka has and some brokers lack).
    processing_guarantee: str = "at_least_once"
    # LIFECYCLE_REBALANCE_TIMEOUT_S: how long the group coordinator waits for every
    # member to rejoin during a rebalance. Some brokers hold a first join for this
    # long, so shorter means faster start-up, longer means fewer evictions.
    rebalance_timeout_s: float = 60.0
    # LIFECYCLE_SESSION_TIMEOUT_S: a worker silent for this long leaves the group.
    # Some brokers (Tansu) also hold the first join of a group for half of it.
    session_timeout_s: float = 10.0
    # LIFECYCLE_GRACE_S: event-time grace; the watermark is the highest event time
    # seen minus this.
    grace_s: float = 60.0
    # LIFECYCLE_IDLE_PARTITION_S: a partition with no event for this long (wall
    # clock) is swept on the worker watermark instead of its own.
    idle_partition_s: float = 10.0
    # LIFECYCLE_MAX_FUTURE_S: events stamped more than this ahead of the wall clock
    # are quarantined to the dead-letter topic.
    max_future_s: float = 86400.0
    # LIFECYCLE_USER_TTL_S: users idle this long in event time are evicted from the
    # table (a tombstone goes to the changelog). Must exceed both horizons.
    user_ttl_s: float = 30 * 86400.0
    # LIFECYCLE_SESSION_GAP_S: inactivity that ends a session without a session id.
    session_gap_s: float = 1800.0
    # LIFECYCLE_CHURN_HORIZON_S: a user with no activity for this long after a scoring
    # moment counts as churned for that moment.
    churn_horizon_s: float = 3600.0
    # LIFECYCLE_PURCHASE_HORIZON_S: a purchase within this long after a scoring moment
    # labels that moment positive for purchase propensity.
    purchase_horizon_s: float = 3600.0
    # LIFECYCLE_RESCORE_INTERVAL_S: a silent user (session over) is scored again
    # after this much event time or the silence so far, whichever is longer, until
    # evicted, so the models also learn from, and alert on, users long gone quiet.
    # 0 turns it off.
    rescore_interval_s: float = 86400.0
    # LIFECYCLE_LEARN_MOMENTS: comma-separated kinds of scoring moment whose
    # examples the models learn from (activity, session_end, interval). Every
    # moment is scored and published either way. Scores read at rest (a purchase
    # log judged at a cut-off date) rank better when learned from interval moments
    # only: moments taken at activity or a session's end are drawn by the very
    # behaviour the labels measure (README "Learning").
    learn_moments: str = "activity,session_end,interval"
    # LIFECYCLE_TRAIN_EXTRA_CPU_S: CPU seconds every network training burns on top
    # of its work. A fault-injection knob, 0 in production: it shows that a slow
    # training never stalls the stream, its timers or its group membership.
    train_extra_cpu_s: float = 0.0
    # LIFECYCLE_CHURN_THRESHOLD: churn risk at or above which an alert opens.
    churn_threshold: float = 0.7
    # LIFECYCLE_CHURN_REARM: churn risk below which an open alert episode closes.
    churn_rearm: float = 0.5
    # LIFECYCLE_ALERT_MIN_EVENTS: users with fewer events never raise alerts.
    alert_min_events: int = 3
    # LIFECYCLE_ALERT_MIN_LABELS: the churn model must have learned this many labelled
    # examples before its scores may raise alerts.
    alert_min_labels: int = 200
    # LIFECYCLE_SWEEP_INTERVAL_S: wall-clock period of the inactivity sweep.
    sweep_interval_s: float = 2.0
    # LIFECYCLE_RECOMMEND_K: items per recommendation message.
    recommend_k: int = 5
    # LIFECYCLE_RECOMMEND_EXCLUDE: comma-separated item ids never recommended nor
    # learned from (postage, fees and similar non-products).
    recommend_exclude: str = ""
    # LIFECYCLE_RECOMMEND_INTERVAL_S: event time between two recommendation messages
    # for one user.
    recommend_interval_s: float = 600.0
    # LIFECYCLE_DEDUP_WINDOW_S: event ids of a user's events this close to the user's
    # newest event are remembered for de-duplication.
    dedup_window_s: float = 86400.0
    # LIFECYCLE_DEDUP_MAX_IDS: cap on remembered event ids per user.
    dedup_max_ids: int = 4096
    # LIFECYCLE_BATCH_MAX: most events an agent takes from its stream at once. A
    # batch's changed rows and outputs go to the producer together, each user's
    # row once however many of its events the batch held, and its offsets are
    # acknowledged only after that.
    batch_max: int = 500
    # LIFECYCLE_BATCH_WAIT_S: longest an agent waits for a batch to fill before it
    # works on what it has: the latency added to an event at low rates.
    batch_wait_s: float = 0.05
    # LIFECYCLE_FETCH_MAX_WAIT_MS: longest the broker may hold the worker's fetch
    # when no record is there (Faust fixes it at 1500; see streams/fetch_wait.py).
    fetch_max_wait_ms: int = 100
    # LIFECYCLE_LEARNER: where the models learn. "process" (about twice the
    # throughput of inline): a learner process of the worker's own judges,
    # teaches, retrains and checkpoints, and the worker scores with its newest
    # snapshot (models/learner.py; README "The learner process"). "inline": all
    # of that on the worker's event loop, each label at once.
    learner: str = "process"
    # LIFECYCLE_LEARNER_BACKLOG: labelled examples the learner process may be
    # behind before the worker's agents wait for it.
    learner_backlog: int = 20_000
    # LIFECYCLE_SNAPSHOT_S: the learner sends its models to the worker at most this
    # often (seconds); new learning reaches the scores within about this long.
    snapshot_s: float = 2.0
    # LIFECYCLE_LOG_LEVEL: log level of every command.
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from environment variables, validating every value."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            name = env_name(field.name)
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[field.name] = _convert(name, raw, field.type)
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        settings = replace(self, **changes)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.partitions < 1:
            raise ConfigError("LIFECYCLE_PARTITIONS must be at least 1")
        for name in ("replication", "recommend_k", "dedup_max_ids", "batch_max",
                     "learner_backlog"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{env_name(name)} must be at least 1")
        if self.kafka_bootstrap:
            for server in self.kafka_bootstrap.split(","):
                host, _, port = server.strip().rpartition(":")
                if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                    raise ConfigError(
                        f"KAFKA_BOOTSTRAP={self.kafka_bootstrap!r}: give host:port "
                        "pairs separated by commas, each port a number from 1 to "
                        "65535"
                    )
        if not 1 <= self.fetch_max_wait_ms <= 30_000:
            raise ConfigError(
                "LIFECYCLE_FETCH_MAX_WAIT_MS must be 1 to 30000 (milliseconds)"
            )
        if not 1 <= self.web_port <= 65535:
            raise ConfigError("LIFECYCLE_WEB_PORT must be a port number, 1 to 65535")
        if self.session_timeout_s <= 0 or self.rebalance_timeout_s <= 0:
            raise ConfigError(
                "LIFECYCLE_SESSION_TIMEOUT_S and LIFECYCLE_REBALANCE_TIMEOUT_S must be "
                "positive"
            )
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                "LIFECYCLE_LOG_LEVEL must be debug, info, warning or error"
            )
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ConfigError(
                "LIFECYCLE_PROCESSING_GUARANTEE must be at_least_once or exactly_once"
            )
        if not 0.0 < self.churn_rearm <= self.churn_threshold < 1.0:
            raise ConfigError(
                "need 0 < LIFECYCLE_CHURN_REARM <= LIFECYCLE_CHURN_THRESHOLD < 1, got "
                f"LIFECYCLE_CHURN_REARM={self.churn_rearm} and "
                f"LIFECYCLE_CHURN_THRESHOLD={self.churn_threshold}"
            )
        for name in ("grace_s", "session_gap_s", "churn_horizon_s",
                     "purchase_horizon_s", "sweep_interval_s", "dedup_window_s",
                     "idle_partition_s", "max_future_s", "user_ttl_s",
                     "batch_wait_s", "snapshot_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{env_name(name)} must be positive")
        scheme = self.store.partition("://")[0]
        if scheme not in STORE_SCHEMES or "://" not in self.store:
            raise ConfigError(
                f"LIFECYCLE_STORE={self.store!r}: use memory:// or rocksdb://"
            )
        if self.learner not in LEARNERS:
            raise ConfigError(
                f"LIFECYCLE_LEARNER={self.learner!r}: use process or inline"
            )
        if self.rescore_interval_s < 0:
            raise ConfigError("LIFECYCLE_RESCORE_INTERVAL_S must be 0 (off) or more")
        kinds = self.learned_moments
        unknown = kinds - set(MOMENTS)
        if not kinds or unknown:
            raise ConfigError(
                f"LIFECYCLE_LEARN_MOMENTS={self.learn_moments!r}: use one or more of "
                f"{', '.join(MOMENTS)}, separated by commas"
            )
        if kinds == {"interval"} and not self.rescore_interval_s:
            raise ConfigError(
                "LIFECYCLE_LEARN_MOMENTS=interval needs LIFECYCLE_RESCORE_INTERVAL_S "
                "above 0: with rescoring off no interval moment comes"
            )
        longest_s = max(self.churn_horizon_s, self.purchase_horizon_s)
        if self.user_ttl_s <= longest_s + self.session_gap_s:
            raise ConfigError(
                "LIFECYCLE_USER_TTL_S must exceed the longer horizon plus the "
                "session gap, or users would be evicted before their labels resolve"
            )

    @property
    def learned_moments(self) -> frozenset[str]:
        """The kinds of scoring moment the models learn from."""
        return frozenset(
            k.strip().lower() for k in self.learn_moments.split(",") if k.strip()
        )

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers every client should use."""
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return f"127.0.0.1:{self.broker_port}"

    @property
    def models_path(self) -> str:
        """The models dir in force (see LIFECYCLE_MODELS_DIR)."""
        return self.models_dir or os.path.join(self.data_dir, "models")

    def describe(self) -> str:
        """One log line with every setting, as key=value."""
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def env_name(field_name: str) -> str:
    if field_name == "kafka_bootstrap":
        return "KAFKA_BOOTSTRAP"
    return "LIFECYCLE_" + field_name.upper()


def _convert(name: str, raw: str, type_name: object) -> object:
    kind = str(type_name)
    if kind.startswith("int"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if kind.startswith("float"):
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name}={raw!r} must be a finite number")
        return value
    return raw
