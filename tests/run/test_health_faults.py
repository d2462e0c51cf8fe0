"""/healthz tells the truth about the disk: a WAL that cannot be checkpointed, a spool the intake cannot write."""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import drop, event

from engine.run.daemon.http import IntakeConfig, serve
from engine.run.daemon.metrics import Health, Metrics
from engine.run.daemon.spool import Spool


def test_a_wal_that_cannot_be_checkpointed_makes_healthz_unhealthy(make_daemon, tmp_path: Path) -> None:
    daemon = make_daemon(max_wal_bytes=64 * 1024, checkpoint_every=0.0)
    reader = sqlite3.connect(tmp_path / "audit.db")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # an old snapshot: nothing past it checkpoints
    for i in range(40):
        drop(daemon.spool.incoming, f"{i:03d}.json", event(i))
    assert daemon.run_once().done == 40
    daemon._check_wal()
    ok, body = daemon.health.report()
    assert not ok and "cannot be checkpointed" in body["wal_error"]
    reader.rollback()  # the snapshot is released: the next checkpoint completes
    daemon._check_wal()
    assert daemon.health.report()[0]
    reader.close()


def test_a_database_file_that_takes_no_writes_makes_healthz_unhealthy(make_daemon, tmp_path: Path) -> None:
    """The main file immutable (chattr +i), the WAL still writable: commits succeed, checkpoints fail."""
    db = tmp_path / "audit.db"
    daemon = make_daemon(checkpoint_every=0.0)
    drop(daemon.spool.incoming, "1.json", event(1))
    assert daemon.run_once().done == 1
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i needs CAP_LINUX_IMMUTABLE on ext2/3/4, xfs or btrfs (the WAL bound test above "
                    "covers the same health path)")
    try:
        drop(daemon.spool.incoming, "2.json", event(2))
        assert daemon.run_once().done == 1  # the commit itself goes to the WAL and succeeds
        daemon._check_wal()
        ok, body = daemon.health.report()
        assert not ok and "WAL checkpoint failed" in body["wal_error"]
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@pytest.fixture
def small_file_limit() -> Iterator[int]:
    """A real write failure from the kernel: files may grow to 256 KiB (RLIMIT_FSIZE; EFBIG beyond)."""
    limit = 256 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_spool_write_failure_leaves_no_tmp_file_and_healthz_says_503(tmp_path: Path, small_file_limit) -> None:
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    health = Health()
    config = IntakeConfig(spool=spool, metrics=Metrics(), health=health, max_bytes=1_048_576)
    server = serve(config, "127.0.0.1", 0)

    def call(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    try:
        big = json.dumps({**event(1), "description": "x" * (small_file_limit * 2)}).encode()
        assert call("POST", "/v1/events", big)[0] == 503
        assert os.listdir(spool.incoming) == []  # before, the half-written .tmp stayed
        status, body = call("GET", "/healthz")
        assert status == 503 and "cannot write to the spool" in json.loads(body)["intake_error"]
        assert call("POST", "/v1/events", json.dumps(event(2)).encode())[0] == 202
        assert call("GET", "/healthz")[0] == 200  # a write succeeded again
    finally:
        server.shutdown()
        server.server_close()
