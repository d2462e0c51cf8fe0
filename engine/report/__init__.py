"""Read-only reports over the audit log (read through engine.store)."""
