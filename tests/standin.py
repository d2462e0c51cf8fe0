"""A vendor stand-in on 127.0.0.1 that answers requests concurrently (one thread per connection).

``Standin(answer)``: ``answer(path, body) -> (status, headers, text)`` decides each reply; ``latency``
delays every reply; ``hang`` (an Event) holds every reply until it is set. ``received`` lists
``(monotonic time of arrival, path, body)`` in arrival order. Stop with :meth:`close`: it also ends
the connections the clients keep alive, and their threads.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, Any], tuple[int, dict[str, str], str]]


def accept(_path: str, _body: Any) -> tuple[int, dict[str, str], str]:
    return 202, {}, json.dumps({"status": "success", "ok": True, "ts": "1700000000.000100"})


class Standin:
    def __init__(self, answer: Answer = accept, latency: float = 0.0) -> None:
        self.answer, self.latency = answer, latency
        self.hang = threading.Event()
        self.hang.set()
        self.received: list[tuple[float, str, Any]] = []
        self.connections: list[tuple[socket.socket, threading.Thread]] = []
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the vendors answer: the adapter's client reuses connections

            def setup(self) -> None:
                super().setup()
                with standin.lock:
                    standin.connections.append((self.request, threading.current_thread()))

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with standin.lock:
                    standin.received.append((time.monotonic(), self.path, body))
                    status, headers, text = standin.answer(self.path, body)
                if standin.latency:
                    time.sleep(standin.latency)
                standin.hang.wait(60)
                data = text.encode()
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed or timed out
                    self.close_connection = True

            def log_message(self, *_: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a storm's connections are queued, not refused

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path: str = "") -> list[Any]:
        with self.lock:
            return [b for _, p, b in self.received if p.startswith(path)]

    def close(self) -> None:
        self.hang.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        for sock, thread in self.connections:  # a kept-alive connection holds its thread in a read: end both
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            thread.join(10)
