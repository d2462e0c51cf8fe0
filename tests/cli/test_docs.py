"""Every command is documented: in the README, and with help text that shows an example."""

from __future__ import annotations

import click
from click.testing import CliRunner
from core_util import ROOT

from engine.cli import main


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    runner = CliRunner()
    names = main.list_commands(click.Context(main))
    assert set(names) >= {"validate", "simulate", "run", "train", "evaluate", "confirm"}
    for name in names:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output or f"rules {name}" in result.output, name
        assert f"rules {name}" in readme, f"README does not mention `rules {name}`"
