"""``rules`` commands added beside :mod:`engine.cli`, one module per command.

Each module defines one click command and imports what it needs inside the command, so that
``rules validate`` does not pay for what ``rules test`` uses.
"""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from engine.commands import analyze, explain, impact, test

    for command in (test.command, explain.command, impact.command, analyze.command):
        group.add_command(command)
