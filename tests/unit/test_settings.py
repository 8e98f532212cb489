import socket

import pytest

from streams.errors import ConfigError
from streams.settings import Settings
from streams.worker import check_can_start


@pytest.mark.parametrize("store", ["foo://", "rocksdict://", "memory", ""])
def test_an_unknown_table_store_is_refused_with_the_choices(store):
    with pytest.raises(ConfigError, match="memory:// or rocksdb://"):
        Settings(store=store).validate()


@pytest.mark.parametrize("name", ["batch_max"])
def test_batch_size_must_be_positive(name):
    with pytest.raises(ConfigError, match="LIFECYCLE_BATCH_MAX"):
        Settings(**{name: 0}).validate()


def test_a_web_port_with_a_listener_is_refused_before_the_worker_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(web_port=port)
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*--web-port"):
            check_can_start(settings)
    # Once nobody listens, the same port is fine.
    check_can_start(settings)


def test_the_learner_setting_is_checked():
    with pytest.raises(ConfigError, match="LIFECYCLE_LEARNER='thread'"):
        Settings.from_env({"LIFECYCLE_LEARNER": "thread"})
    with pytest.raises(ConfigError, match="LIFECYCLE_LEARNER_BACKLOG"):
        Settings(learner_backlog=0).validate()
    with pytest.raises(ConfigError, match="LIFECYCLE_SNAPSHOT_S"):
        Settings(snapshot_s=0).validate()
    assert Settings.from_env({"LIFECYCLE_LEARNER": "inline"}).learner == "inline"


def test_the_moments_learned_from_are_checked():
    assert Settings().learned_moments == {"activity", "session_end", "interval"}
    assert Settings.from_env(
        {"LIFECYCLE_LEARN_MOMENTS": " interval, session_end "}
    ).learned_moments == {"interval", "session_end"}
    assert Settings(learn_moments=" Interval , ACTIVITY").learned_moments == {
        "interval", "activity"
    }
    with pytest.raises(ConfigError, match="LIFECYCLE_LEARN_MOMENTS='visit'"):
        Settings.from_env({"LIFECYCLE_LEARN_MOMENTS": "visit"})
    with pytest.raises(ConfigError, match="LIFECYCLE_LEARN_MOMENTS=','"):
        Settings(learn_moments=",").validate()
    with pytest.raises(ConfigError, match="RESCORE_INTERVAL_S above 0"):
        Settings(learn_moments="interval", rescore_interval_s=0).validate()


def test_a_bad_churn_threshold_is_echoed():
    with pytest.raises(ConfigError, match="LIFECYCLE_CHURN_THRESHOLD=1.5"):
        Settings.from_env({"LIFECYCLE_CHURN_THRESHOLD": "1.5"})


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:abc", "127.0.0.1", ":9092",
                                       "a:1,b:70000", "notahost:abc"])
def test_a_bootstrap_that_is_not_host_port_pairs_is_refused(bootstrap):
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP=.*host:port"):
        Settings.from_env({"KAFKA_BOOTSTRAP": bootstrap})


def test_good_bootstraps_pass():
    for bootstrap in ("127.0.0.1:9092", "kafka-1:9092, kafka-2:9093", "[::1]:9092"):
        assert Settings.from_env({"KAFKA_BOOTSTRAP": bootstrap}).bootstrap == bootstrap
