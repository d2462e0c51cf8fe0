"""Fixtures for the run tests: the daemon (defined in daemon_kit)."""

from daemon_kit import make_daemon  # noqa: F401
