"""Offline baselines the streaming models are judged against."""
