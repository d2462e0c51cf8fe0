"""placeholder"""

from __future__ import annotations

import click


@click.command("explain")
def command() -> None:
    """Not yet."""
