"""The daemon's audit-log health: ``/healthz`` says whether the log takes writes, and why not.

``_db_failed`` is "probe" (the idle write-lock check failed: its next success clears it) or "write" (real
work failed: cleared only when work commits rows, since taking the lock proves nothing about a full disk
or an I/O error).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, NoReturn

from engine.model.errors import AuditError
from engine.run.daemon.metrics import Health

logger = logging.getLogger("escalation_handlers.daemon")


class DbDown(Exception):
    pass


class DbHealth:
    """Mixed into :class:`~engine.run.daemon.loop.Daemon`."""

    audit: Any
    health: Health
    config: Any
    _db_failed: str
    _next_checkpoint: float

    def _check_db(self) -> None:
        try:
            self.audit.probe_write()  # takes the write lock, writes nothing
        except AuditError as exc:
            self._db_error(exc, "probe")
            return
        if self._db_failed != "write":  # the lock proves nothing about a write that failed (SQLITE_FULL, EIO)
            self._db_failed = ""
            self.health.db_writable, self.health.db_error = True, ""
        self._check_wal()

    def _check_wal(self) -> None:
        """A database file that takes no writes while its WAL does (read-only, immutable, EIO on the main
        file) keeps answering commits: only a checkpoint fails, and sqlite's automatic ones fail silently
        while the WAL grows without bound. So checkpoint explicitly, and report a failure or a WAL that
        cannot be checkpointed (a reader holding an old snapshot) past ``max_wal_bytes`` in /healthz."""
        now = time.monotonic()
        if now < self._next_checkpoint:
            return
        self._next_checkpoint = now + self.config.checkpoint_every
        try:
            frames, done, page = self.audit.checkpoint()
        except AuditError as exc:
            self.health.wal_error = f"{exc} (the database file takes no writes?)"
            logger.error("audit log checkpoint failed", extra={"event": "db-checkpoint-error", "error": str(exc)})
            return
        pending = max(0, frames - done) * page
        self.health.wal_error = "" if pending <= self.config.max_wal_bytes else (
            f"WAL holds {pending} bytes that cannot be checkpointed (a reader holds an old snapshot?); "
            f"bound {self.config.max_wal_bytes}")

    def _wrote(self, changes: int) -> None:
        """Work since ``changes`` committed rows: the audit log takes writes again."""
        if self._db_failed and self.audit.changes > changes:
            self._db_failed = ""
            self.health.db_writable, self.health.db_error = True, ""

    def _db_error(self, exc: BaseException, kind: str = "write") -> None:
        self._db_failed = "write" if "write" in (kind, self._db_failed) else kind
        self.health.db_writable, self.health.db_error = False, str(exc)
        logger.error("audit log not writable; files stay in processing/", extra={"event": "db-error",
                                                                                  "error": str(exc)})
        with contextlib.suppress(Exception):
            self.audit.rollback()

    def _db_down(self, exc: BaseException) -> NoReturn:
        self._db_error(exc)
        raise DbDown(str(exc)) from exc
