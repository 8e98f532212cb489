"""Replay of dataset files and recorded topics into the clickstream topic.

``sources`` turns dataset files into contract events, ``producer`` sends them to
Kafka and counts every outcome, ``command`` is ``lifecycle replay``.
"""
