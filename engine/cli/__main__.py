"""``python -m engine.cli``."""

from engine.cli import entry

entry()
