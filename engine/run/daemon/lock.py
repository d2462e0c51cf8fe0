"""The single-writer lock: one daemon per audit log file, whatever name reaches it."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from engine.model.errors import AuditError, RulesError


class AlreadyRunning(RulesError):
    exit_code = 3


def acquire_lock(db: str | Path) -> IO[bytes]:
    """Single writer: an exclusive ``flock`` on the database file itself, held until the process exits.

    The lock belongs to the file (its inode), not to a name: a second daemon given the same database
    through a symlink, a hard link or a bind mount is refused like one given the same path. It does not
    touch sqlite's own locks (``flock`` and POSIX record locks are separate on Linux), and the descriptor
    stays open for the process's lifetime (closing any descriptor of the file would drop sqlite's POSIX
    locks in this process). Local filesystems only: NFS emulates ``flock`` with record locks. The holder's
    pid is written to ``<real path of db>.lock`` for the error message only."""
    path = Path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:  # an unusable --db location: exit 3 with one line, like Audit(db)
        raise AuditError(f"cannot open audit log {db}: {exc.strerror or exc}") from None
    fh = os.fdopen(fd, "rb", buffering=0)  # noqa: SIM115 - held for the daemon's lifetime
    pid_file = Path(f"{os.path.realpath(path)}.lock")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        try:
            holder = pid_file.read_text().strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise AlreadyRunning(f"another daemon (pid {holder}) holds {db} (the database file itself, by inode); "
                             "refusing to run two writers") from None
    with contextlib.suppress(OSError):  # informational only
        pid_file.write_text(f"{os.getpid()}\n")
    return fh
