"""Fixtures for the daemon tests (defined in daemon_kit)."""

from daemon_kit import make_daemon, rules_copy  # noqa: F401
