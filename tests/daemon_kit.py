"""Helpers for the daemon tests: canonical events, an in-process daemon, the real `rules run` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.cli import load_compiled
from engine.run.daemon.loop import Daemon, DaemonConfig
from engine.run.daemon.reload import RulesWatcher
from engine.run.daemon.spool import Spool
from engine.run.execute import Executor
from engine.run.pipeline import Pipeline
from engine.store.audit import Audit

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "vendor"
# Environment with no adapter credentials: every action is `log` (ok) or not-configured, no network.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}


def event(i: int, *, service: str | None = None, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"E{i:06d}", "timestamp": ts or f"2025-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
            f"{i % 60:02d}Z", "source": "prometheus", "service": service or f"svc-{i % 7}",
            "environment": "production", "title": f"event {i}", "metrics": {"error_rate": (i % 10) / 10}, **extra}


def drop(incoming: Path, name: str, data: bytes | str | dict[str, Any]) -> Path:
    """Producer protocol: write a temporary name, then rename into incoming/."""
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    tmp = incoming / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, incoming / name)
    return incoming / name


@pytest.fixture
def make_daemon(tmp_path: Path, rules_copy: Path, monkeypatch: pytest.MonkeyPatch):
    for key in set(os.environ) - set(CLEAN_ENV):
        monkeypatch.delenv(key, raising=False)
    made: list[Audit] = []

    def build(*, watcher: bool = False, max_event_bytes: int = 1_048_576, batch: int = 1000, **config: Any) -> Daemon:
        compiled = load_compiled(rules_copy, quiet_warnings=True)
        audit = Audit(tmp_path / "audit.db")
        made.append(audit)
        spool = Spool(tmp_path / "spool")
        watch = RulesWatcher(rules_copy, interval=1e-6) if watcher else None
        return Daemon(Pipeline(compiled, audit, max_event_bytes=max_event_bytes), Executor(audit, compiled.policy),
                      spool, config=DaemonConfig(**{"interval": 0.01, "batch": batch, **config}), watcher=watch)

    yield build
    for audit in made:
        audit.close()


def rules_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from engine.cli import entry; entry()", *args]


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(rules_cmd(*args), cwd=REPO, env=CLEAN_ENV, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"))  # noqa: SIM115


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
