"""Connection handling of the HTTP intake: a total header deadline, a burst answered 503, /metrics behind the token."""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.run.daemon.http import IntakeConfig, _Handler, _Server, serve
from engine.run.daemon.metrics import Health, Metrics
from engine.run.daemon.spool import Spool


def config(tmp_path: Path, **kw) -> IntakeConfig:
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    return IntakeConfig(spool=spool, metrics=Metrics(), health=Health(), **kw)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[IntakeConfig, int]]:
    cfg = config(tmp_path, token="t0ken-for-tests", timeout=1.0)
    srv = serve(cfg, "127.0.0.1", 0)
    yield cfg, srv.server_port
    srv.shutdown()
    srv.server_close()


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_total_deadline(server) -> None:
    """Each byte comes well within the per-read timeout (1 s); before, 10 s of trickle held the slot 10 s."""
    _, port = server
    slow = socket.create_connection(("127.0.0.1", port), timeout=15)
    slow.sendall(b"GET /healthz HTTP/1.1\r\n")
    started, closed = time.monotonic(), False
    for _ in range(50):  # up to 10 s of trickle, one header byte every 0.2 s
        try:
            slow.sendall(b"X")
        except OSError:  # reset by the server: cut off
            closed = True
            break
        ready = selectors.DefaultSelector()
        ready.register(slow, selectors.EVENT_READ)
        if ready.select(0.2):
            closed = slow.recv(64) == b""  # the server closed the connection
            break
    assert closed and time.monotonic() - started < 5
    slow.close()


def test_a_burst_beyond_the_old_backlog_is_accepted_and_answered(tmp_path: Path) -> None:
    """The listen queue holds a burst while the accept loop is busy: every connection completes at once
    and is answered (200, or 503 beyond the slots), none waits unanswered in SYN retries."""
    cfg = config(tmp_path, max_connections=8, timeout=5)
    handler = type("H", (_Handler,), {"config": cfg, "timeout": cfg.timeout})
    srv = _Server(("127.0.0.1", 0), handler, cfg)  # not serving yet: nothing is accepted
    clients: list[socket.socket] = []
    loop = None
    try:
        for _ in range(100):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(srv.server_address)
            clients.append(c)
        sel = selectors.DefaultSelector()
        for c in clients:
            sel.register(c, selectors.EVENT_WRITE)
        connected: set[socket.socket] = set()
        deadline = time.monotonic() + 0.8  # under the first SYN retransmission (1 s)
        while len(connected) < len(clients) and time.monotonic() < deadline:
            connected |= {key.fileobj for key, _ in sel.select(0.1)}  # type: ignore[misc]
        assert len(connected) == 100  # with socketserver's backlog of 5 only about 6 complete
        loop = threading.Thread(target=srv.serve_forever, daemon=True)
        loop.start()
        statuses = []
        for c in clients:
            c.setblocking(True)
            c.settimeout(10)
            c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            statuses.append(c.recv(12)[9:12])
        assert set(statuses) <= {b"200", b"503"} and len(statuses) == 100
    finally:
        for c in clients:
            c.close()
        if loop is not None:
            srv.shutdown()  # waits for serve_forever: only once it runs
        srv.server_close()


def test_metrics_need_the_token_when_one_is_set_and_healthz_does_not(server) -> None:
    _, port = server

    def get(path: str, headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    assert get("/metrics", {}) == 401
    assert get("/metrics", {"Authorization": "Bearer wrong"}) == 403
    assert get("/metrics", {"Authorization": "Bearer t0ken-for-tests"}) == 200
    assert get("/healthz", {}) in (200, 503)
