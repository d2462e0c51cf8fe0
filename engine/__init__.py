"""escalation-handlers engine: load → validate → compile → run, with an append-only audit log."""
