"""placeholder"""

from __future__ import annotations

import click


@click.command("impact")
def command() -> None:
    """Not yet."""
