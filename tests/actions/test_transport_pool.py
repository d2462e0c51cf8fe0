"""One adapter instance's client carries as many sends at once as the daemon's lanes allow: httpx's own default
pool (100 connections) must not become a hidden second limit below ``--send-per-adapter``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actions.transport import Http

AT_ONCE = 150  # above httpx's default max_connections


@pytest.fixture
def server() -> Iterator[tuple[str, threading.Barrier]]:
    barrier = threading.Barrier(AT_ONCE, timeout=8)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            try:
                barrier.wait()  # answers only once every request is in flight at the same time
                code = 202
            except threading.BrokenBarrierError:
                code = 503
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 2 * AT_ONCE  # the listen backlog: every connection accepted, none reset

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", barrier
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_more_sends_in_flight_than_httpx_default_pool(server: tuple[str, threading.Barrier]) -> None:
    url, barrier = server
    http = Http("Stand-in", timeout=10)
    try:
        with ThreadPoolExecutor(AT_ONCE) as pool:
            codes = list(pool.map(lambda k: http.post(url, {"k": k}).status_code, range(AT_ONCE)))
    finally:
        http.close()
    assert not barrier.broken
    assert codes == [202] * AT_ONCE
