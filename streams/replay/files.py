"""Opening dataset files: plain or gzip-compressed text, read as a stream."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TextIO

from streams.replay.errors import SourceError


def open_text(path: Path) -> TextIO:
    """Open a dataset file for reading text, decompressing it if it ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def first_line(path: Path) -> str:
    """The first line of a file, without its line ending."""
    try:
        with open_text(path) as handle:
            return handle.readline().rstrip("\r\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the first line: {exc}") from None
