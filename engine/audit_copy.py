"""Fresh in-memory audit logs by copying a migrated one (``rules test`` opens one per case).

Creating the audit schema (tables, indexes, append-only triggers) costs ~8 ms; copying the pages
of an empty, already created in-memory database with sqlite's backup API costs a fraction of
that, and the copy is the same schema by construction. SQL lives here and in
:mod:`engine.audit` only (the storage layer).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from engine.audit import Audit, utcnow


class _Copied(Audit):
    def __init__(self, template: sqlite3.Connection, clock: Callable[[], str]) -> None:
        self._template = template
        super().__init__(":memory:", clock)

    def _create(self) -> None:  # the template's pages instead of the migrations
        self._template.backup(self.conn)


class AuditFactory:
    """Empty in-memory :class:`~engine.audit.Audit` logs, each a copy of one created once."""

    def __init__(self) -> None:
        self._template = Audit(":memory:")

    def new(self, clock: Callable[[], str] = utcnow) -> Audit:
        return _Copied(self._template.conn, clock)

    def close(self) -> None:
        self._template.close()
