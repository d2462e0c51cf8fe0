"""The daemon's audit-log health: ``/healthz`` says whether the log takes writes, and why not.

``_db_failed`` is "probe" (the idle write-lock check failed: its next success clears it) or "write" (real
work failed: cleared only when work commits rows, since taking the lock proves nothing about a full disk
or an I/O error).
"""

from __future__ import annotations

import contextlib
import logging
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
    _db_failed: str

    def _check_db(self) -> None:
        try:
            self.audit.probe_write()  # takes the write lock, writes nothing
        except AuditError as exc:
            self._db_error(exc, "probe")
            return
        if self._db_failed != "write":  # the lock proves nothing about a write that failed (SQLITE_FULL, EIO)
            self._db_failed = ""
            self.health.db_writable, self.health.db_error = True, ""

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
