"""The single-writer lock: one daemon per audit log."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from engine.model.errors import AuditError, RulesError


class AlreadyRunning(RulesError):
    exit_code = 3


def acquire_lock(db: str | Path) -> IO[str]:
    """Single writer: an exclusive ``flock`` on ``<db>.lock``, held until the process exits."""
    path = Path(f"{db}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 - held for the daemon's lifetime
    except OSError as exc:  # an unusable --db location: exit 3 with one line, like Audit(db)
        raise AuditError(f"cannot open audit log {db}: lock file {path}: {exc}") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise AlreadyRunning(f"another daemon (pid {holder}) holds {path}; refusing to run two writers") from None
    fh.truncate(0)
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh
