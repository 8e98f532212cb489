"""What the app computes per event without a broker."""

from aiokafka.partitioner import DefaultPartitioner

from streams.app import partition_for


def test_partition_for_agrees_with_the_producers_partitioner_also_when_cached():
    partitioner = DefaultPartitioner()
    users = [f"u{i * 7919 % 100_003}" for i in range(3000)] + ["", "é", "543462"]
    for n in (1, 4, 12):
        partitions = list(range(n))
        for _ in range(2):
            for user_id in users:
                expected = partitioner(user_id.encode(), partitions, partitions)
                assert partition_for(user_id, n) == expected


def test_the_worker_consumer_waits_at_most_the_configured_fetch_wait(tmp_path):
    """Faust builds it with 1500 ms; at that, a quiet stream's events waited up
    to 1.5 s on a broker that answers a fetch only when its wait is up."""
    import asyncio

    from streams.app import create_app
    from streams.settings import Settings

    async def built_consumer_wait_ms():
        settings = Settings(
            kafka_bootstrap="127.0.0.1:9", fetch_max_wait_ms=123, learner="inline",
            data_dir=str(tmp_path),
        )
        app = create_app(settings)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()

    assert asyncio.run(built_consumer_wait_ms()) == 123
