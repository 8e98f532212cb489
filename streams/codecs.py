"""Faust codecs for lifecycle's table keys and rows."""

from __future__ import annotations

from types import SimpleNamespace
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


class UserKey:
    """Key type of the users table: Faust reads its codec from ``_options``."""

    _options = SimpleNamespace(serializer="lifecycle_utf8")

    @classmethod
    def from_data(cls, data: Any, preferred_type: Any = None) -> Any:
        return data


class UserRow:
    """Value type of the users table; the codec already built the UserState."""

    _options = SimpleNamespace(serializer="lifecycle_user")

    @classmethod
    def from_data(cls, data: Any, preferred_type: Any = None) -> Any:
        return data
