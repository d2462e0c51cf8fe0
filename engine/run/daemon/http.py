"""HTTP intake: webhook bodies in, spool files out. ``POST /v1/events`` → ``incoming/`` → 202.

The HTTP threads never touch the engine or the audit log: each body is written into the
spool (temporary name, fsync, rename; :meth:`engine.run.daemon.spool.Spool.write`) *before* the 202,
so the spool stays the one durable path and the engine stays single-threaded. Also serves
``GET /metrics`` (Prometheus text format) and ``GET /healthz`` (JSON; 503 when the loop is
stuck or the audit log is not writable).

Authentication, when configured (either one suffices; none configured = open, logged):

* ``Authorization: Bearer <INTAKE_TOKEN>``;
* ``X-Signature-256: sha256=<hex HMAC-SHA256 of the body with INTAKE_HMAC_SECRET>``.

Missing credentials → 401, wrong ones → 403 (both compared in constant time). A body over
the size limit → 413 from ``Content-Length`` alone (never read); no body → 400. Every refused POST
is one ``http-refused`` log line, ``escalation_intake_refused_total{status}`` and, through
``on_refused``, an ``intake`` row (outcome ``refused``, code ``http-<status>``). Every socket
read waits at most ``timeout`` seconds and the whole body must arrive within ``timeout`` (else
408): an idle or trickling client cannot hold a server thread for ever. At most
``max_connections`` are served at once; one more is answered 503 (``Retry-After: 1``) and closed
without a thread, so a flood of connections cannot exhaust the process either.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.run.daemon.metrics import Health, Metrics, health_json
from engine.run.daemon.spool import Spool

logger = logging.getLogger("escalation_handlers.http")
EVENTS_PATH = "/v1/events"


@dataclass
class IntakeConfig:
    spool: Spool
    metrics: Metrics
    health: Health
    max_bytes: int = 1_048_576
    token: str = ""
    hmac_secret: str = ""
    on_write: Callable[[], None] | None = None  # wakes the engine loop
    # told of every refused POST (status, reason, client): the daemon records it as an intake row
    on_refused: Callable[[int, str, str], None] | None = None
    timeout: float = 10.0  # seconds per socket read, and for the whole body
    max_connections: int = 64  # served at once; more get 503 at once, without a thread

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kw: Any) -> IntakeConfig:
        return cls(token=env.get("INTAKE_TOKEN", ""), hmac_secret=env.get("INTAKE_HMAC_SECRET", ""), **kw)

    def auth(self, headers: Any, body: bytes) -> int:
        """0 if allowed, else the HTTP status to answer (401 no credentials, 403 wrong ones)."""
        if not self.token and not self.hmac_secret:
            return 0
        bearer = headers.get("Authorization", "")
        signature = headers.get("X-Signature-256", "")
        if self.token and bearer.startswith("Bearer ") and hmac.compare_digest(
                bearer[7:].strip().encode(), self.token.encode()):
            return 0
        if self.hmac_secret and signature.startswith("sha256="):
            want = hmac.new(self.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(signature[7:].strip().lower().encode(), want.encode()):
                return 0
        return 403 if bearer or signature else 401


class _Handler(BaseHTTPRequestHandler):
    server_version = "escalation-handlers"
    config: IntakeConfig  # set on the subclass built by serve()

    def log_message(self, fmt: str, *args: Any) -> None:  # access log as structured lines
        logger.debug(fmt % args, extra={"event": "http", "client": self.client_address[0]})

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.config.metrics.http.labels(str(status)).inc()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        if status in (401, 403):
            self.close_connection = True
        if self.command == "POST":
            self._refused(status, message)
        self._send(status, (json.dumps({"error": message}) + "\n").encode())

    def _refused(self, status: int, reason: str) -> None:
        """A body the sender offered and we did not take: one log line, a metric, an intake row (via the
        daemon). Never the headers or the body: they may carry the credentials that were refused."""
        client = str(self.client_address[0]) if self.client_address else ""
        logger.warning("HTTP request refused", extra={"event": "http-refused", "status": status, "reason": reason,
                                                      "client": client, "path": self.path.split("?", 1)[0][:200]})
        self.config.metrics.refused.labels(str(status)).inc()
        if self.config.on_refused is not None:
            self.config.on_refused(status, reason, client)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.config.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/healthz":
            self._send(*health_json(self.config.health))
        else:
            self._error(404, f"no such path; POST {EVENTS_PATH}, GET /metrics, GET /healthz")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != EVENTS_PATH:
            self._error(404, f"POST event bodies to {EVENTS_PATH}")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._error(400 if "chunked" not in self.headers.get("Transfer-Encoding", "") else 411,
                        "a Content-Length header and a body are required")
            return
        if length > self.config.max_bytes:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._error(413, f"body is {length} bytes; the limit is {self.config.max_bytes}")
            return
        if length <= 0:
            self._error(400, "empty body")
            return
        body = self._read_body(length)  # capped by the checked Content-Length
        if body is None:
            self.close_connection = True
            self._error(408, f"the body did not arrive within {self.config.timeout:g} s")
            return
        if len(body) < length:
            self._error(400, "body shorter than Content-Length")
            return
        denied = self.config.auth(self.headers, body)
        if denied:
            self._error(denied, "missing credentials" if denied == 401 else "invalid credentials")
            return
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        try:
            written = self.config.spool.write(body, name)
        except OSError as exc:
            logger.error("cannot write to the spool", extra={"event": "spool-error", "error": str(exc)})
            self._error(503, "cannot write to the spool")
            return
        if self.config.on_write is not None:
            self.config.on_write()
        self._send(202, (json.dumps({"accepted": written.name}) + "\n").encode())


    def _read_body(self, length: int) -> bytes | None:
        """At most ``length`` bytes, all within ``config.timeout`` seconds; None when too slow."""
        deadline = time.monotonic() + self.config.timeout
        chunks, got = [], 0
        try:
            while got < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.connection.settimeout(min(left, self.config.timeout))
                chunk = self.rfile.read1(min(length - got, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:
            return None
        return b"".join(chunks)


class _Server(ThreadingHTTPServer):
    """A thread per connection, up to ``config.max_connections`` at once."""

    daemon_threads = True
    BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self, address: tuple[str, int], handler: type[_Handler], config: IntakeConfig) -> None:
        super().__init__(address, handler)
        self.config = config
        self._slots = threading.BoundedSemaphore(config.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.config.metrics.http.labels(status="503").inc()
            with contextlib.suppress(OSError):  # the client may be gone already
                request.sendall(self.BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: give the slot back
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, not socketserver's traceback on stderr: a client that hangs up or times out
        mid-request is routine; anything else is logged with its traceback as an error."""
        exc = sys.exc_info()[1]
        client = str(client_address[0]) if client_address else ""
        if isinstance(exc, ConnectionError | TimeoutError):
            logger.info("HTTP client went away", extra={"event": "http-client-gone", "client": client,
                                                        "error": f"{type(exc).__name__}: {exc}"})
            return
        logger.error("HTTP intake request failed", exc_info=True, extra={"event": "http-error", "client": client})


def serve(config: IntakeConfig, host: str, port: int) -> ThreadingHTTPServer:
    """Start the server on a daemon thread; ``server.shutdown()`` stops it."""
    # ``timeout``: StreamRequestHandler puts it on the socket, so the request line and headers
    # cannot be withheld for ever either (http.server answers nothing and closes on a timeout)
    handler = type("IntakeHandler", (_Handler,), {"config": config, "timeout": config.timeout})
    server = _Server((host, port), handler, config)
    threading.Thread(target=server.serve_forever, name="http-intake", daemon=True).start()
    if not config.token and not config.hmac_secret:
        logger.warning("HTTP intake is unauthenticated (set INTAKE_TOKEN or INTAKE_HMAC_SECRET)",
                       extra={"event": "http-open", "listen": f"{host}:{port}"})
    logger.info("HTTP intake listening", extra={"event": "listening", "listen": f"{host}:{server.server_port}"})
    return server


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT``; an empty host is 127.0.0.1); ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:9095)")
    return (host.strip("[]") or "127.0.0.1"), int(port)
