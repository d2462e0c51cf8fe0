"""The only package that speaks SQL to the audit log (read-only queries so far: history, timeline, audit)."""
