"""Fresh in-memory audit logs by copying a migrated one (``rules test`` opens one per case).

Migrating the audit schema (tables, indexes, append-only triggers) costs ~8 ms; copying the pages
of an empty, already migrated in-memory database with sqlite's backup API costs a fraction of
that, and the copy has the same schema by construction.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.model.clock import utcnow
from engine.store.audit import Audit


class AuditFactory:
    """Empty in-memory :class:`~engine.store.audit.Audit` logs, each a copy of one migrated once."""

    def __init__(self) -> None:
        self._template = Audit(":memory:")

    def new(self, clock: Callable[[], str] = utcnow) -> Audit:
        return Audit(":memory:", clock, template=self._template.conn)

    def close(self) -> None:
        self._template.close()
