"""Read-only reports over the audit log (they read through :mod:`engine.store`)."""
