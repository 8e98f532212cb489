"""Learning side of lifecycle: user features, River scorers, recommendations.

Nothing in this package knows of Faust or Kafka, and nothing reads a clock: every
time is an event time passed in, in epoch milliseconds.
"""
