"""The project's errors. Every error lifecycle raises derives from LifecycleError."""


class LifecycleError(Exception):
    """Root of every error raised by lifecycle."""


class InvalidEvent(LifecycleError):
    """An input event breaks the event contract.

    ``reason`` is a short stable code (it names the dead-letter counter), ``detail``
    says what was wrong and where, in words an operator can act on.
    """

    def __init__(self, reason: str, detail: str, **fields: int | str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        # Machine-readable facts for the dead letter, such as late_by_ms.
        self.fields = fields


class ConfigError(LifecycleError):
    """A setting has a value lifecycle cannot work with."""


class BrokerError(LifecycleError):
    """The Kafka broker could not be started or reached."""
