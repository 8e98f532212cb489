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
