"""A claimed spool file and its careful read (no symlink followed, no FIFO blocking, size checked first)."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from engine.intake import IntakeError


@dataclass(slots=True)
class File:
    path: str  # in processing/
    name: str
    arrived: float | None  # ctime of the producer's rename into incoming/ (None: recovered)
    mode: int  # lstat before the claim; the descriptor it is read through is checked again
    data: bytes = b""
    items: list[Any] = field(default_factory=list)
    key: float = math.inf
    size: int = 0  # bytes, from the lstat before the claim


class NotAFile(Exception):
    def __init__(self, mode: int) -> None:
        self.mode = mode


def read(path: str, limit: int) -> bytes:
    """A claimed file's bytes through one descriptor: a symlink is not followed (``ELOOP``), a FIFO
    does not block, the size is checked before reading, and at most ``limit + 1`` bytes are read
    (a file that grew after the check is still caught by the parser's limit)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink after the listing
            raise NotAFile(stat.S_IFLNK) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile(st.st_mode)
        if st.st_size > limit:  # never read an oversized file into memory
            raise IntakeError(f"file is {st.st_size} bytes; the limit is {limit} (--max-body-bytes)", "too-large")
        chunks, total, want = [], 0, st.st_size + 1
        while total <= limit:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = min(limit + 1 - total, 1 << 16)
        return b"".join(chunks)
    finally:
        os.close(fd)
