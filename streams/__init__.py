"""Kafka side of lifecycle: the Faust app, topics, agents, tables and commands.

Importing this package is cheap: nothing here imports Faust until the worker starts.
"""
