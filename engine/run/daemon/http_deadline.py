"""A request's line and headers must arrive within one total deadline (slowloris), not only within a per-read timeout.

Takes the handler's buffered reader and its socket; :class:`DeadlineReader` is a drop-in ``rfile`` whose
``readline`` (what ``http.server`` reads the request line and every header line with) waits for the
socket at most until the deadline set by :meth:`DeadlineReader.start` — each ``recv`` gets only the time
that is left — and raises ``TimeoutError`` after it, which ``http.server`` answers by closing the
connection. A client sending one header byte every few seconds is cut off at the deadline (10 s by
default) instead of holding a connection slot for as long as it keeps trickling. Body reads
(``read``/``read1``) pass through: the handler bounds the body with its own deadline.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any


class DeadlineReader:
    def __init__(self, raw: io.BufferedIOBase, sock: socket.socket, seconds: float) -> None:
        self.raw, self.sock, self.seconds = raw, sock, seconds
        self.deadline = time.monotonic() + seconds

    def start(self) -> None:
        """A new request begins: its line and headers have ``seconds`` from now."""
        self.deadline = time.monotonic() + self.seconds

    def readline(self, limit: int = -1) -> bytes:
        out = bytearray()
        while limit < 0 or len(out) < limit:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"request line and headers took longer than {self.seconds:g} s")
            self.sock.settimeout(min(left, self.seconds))
            ahead = self.raw.peek(1)  # type: ignore[attr-defined]  # a BufferedReader: at most one recv
            if not ahead:
                break  # the client closed
            want = len(ahead) if limit < 0 else min(len(ahead), limit - len(out))
            cut = ahead.find(b"\n", 0, want)
            out += self.raw.read(cut + 1 if cut >= 0 else want)
            if cut >= 0:
                break
        return bytes(out)

    def __getattr__(self, name: str) -> Any:  # read, read1, close...: the buffered reader's own
        return getattr(self.raw, name)
