"""Errors of the replay package; all derive from the project's LifecycleError."""

from streams.errors import LifecycleError


class ReplayError(LifecycleError):
    """A replay cannot start or go on."""


class SourceError(ReplayError):
    """A dataset file, its layout or the column mapping given for it is unusable."""


class UnknownFormat(SourceError):
    """The format of a dataset file cannot be told from its name or header."""


class TopicMissing(ReplayError):
    """A topic to copy from does not exist on the broker."""
