"""Faust codecs for lifecycle's table keys and rows."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from models.features import UserState


class Utf8(codecs.Codec):
    """Table keys are user ids: plain UTF-8, the same bytes as the message keys."""

    def _dumps(self, obj: Any) -> bytes:
        return obj if isinstance(obj, bytes) else str(obj).encode()

    def _loads(self, s: bytes) -> str:
        return s.decode()


class UserStateCodec(codecs.Codec):
    """User rows as orjson, read back into :class:`UserState`."""

    def _dumps(self, obj: Any) -> bytes:
        return obj.dumps()

    def _loads(self, s: bytes) -> UserState:
        return UserState.loads(s)


def register() -> None:
    codecs.register("lifecycle_utf8", Utf8())
    codecs.register("lifecycle_user", UserStateCodec())
