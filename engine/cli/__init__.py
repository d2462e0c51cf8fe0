"""The ``rules`` command: thin wrappers around the engine's functions.

Exit codes: 0 success; 1 rule files invalid, simulate expectations not met, an event file rejected by
``rules run --once``, or an incident/event not found; 2 usage error; 3 runtime failure (audit log missing or
unwritable, engine failure); 4 ``rules run --once``: a page failed.
Results go to stdout, diagnostics and logs to stderr, so ``rules simulate --format json | jq`` always works.

Each command lives in its own module (``engine/cli/<module>.py``), which registers itself on
:data:`main` when imported. :class:`LazyGroup` imports only the module of the command being run
(click's documented lazy-loading pattern), so ``rules validate`` never loads what ``rules run``
needs; :data:`COMMANDS` maps each command name to its module, and a test checks it against the
commands the modules register.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

import click

from engine.model.errors import RulesError

COMMANDS: dict[str, tuple[str, ...]] = {  # command name → the engine.cli modules that register it (or its subcommands)
    "ack": ("ack",),
    "analyze": ("analyze",),
    "anomalies": ("anomalies",),
    "audit": ("audit", "ledger"),
    "confirm": ("confirm",),
    "escalate": ("ack",),
    "evaluate": ("evaluate",),
    "explain": ("explain",),
    "history": ("history",),
    "impact": ("impact",),
    "incident": ("incidents",),
    "incidents": ("incidents",),
    "metrics": ("metrics",),
    "resolve": ("ack",),
    "run": ("run",),
    "simulate": ("simulate",),
    "test": ("test",),
    "timeline": ("timeline",),
    "train": ("train",),
    "validate": ("validate",),
}
HELPERS = ("options",)  # modules of engine/cli that register no command


class LazyGroup(click.Group):
    """A group whose commands are imported when asked for (by name, or all of them for ``--help``)."""

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            modules = COMMANDS.get(cmd_name)
            if modules is not None:
                for module in modules:
                    importlib.import_module(f"engine.cli.{module}")
            else:  # a module not in COMMANDS yet: import them all rather than say "no such command"
                import_all()
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        import_all()
        return sorted(self.commands)


def command_modules() -> list[str]:
    """Every command module of this package (all of engine/cli but ``__init__``, ``__main__`` and helpers)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if not m.name.startswith("_") and m.name not in HELPERS)


def import_all() -> None:
    for module in command_modules():
        importlib.import_module(f"engine.cli.{module}")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="escalation-handlers", prog_name="rules", message="%(prog)s %(version)s")
def main() -> None:
    """Incident policy as code: validate, simulate and run the YAML rules."""
    from engine.run.daemon import logs

    logs.install(os.environ.get("LOG_LEVEL", "INFO"), plain=True)  # secrets redacted from every line


def entry() -> None:
    """The ``rules`` console script: a :class:`RulesError` becomes one line on stderr and its exit code."""
    try:
        main(standalone_mode=True)
    except RulesError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None


def __getattr__(name: str) -> object:
    """``from engine.cli import load_compiled, rules_dir``: the helpers scripts import, loaded when asked for."""
    if name in ("load_compiled", "rules_dir"):
        from engine.cli import options

        return getattr(options, name)
    raise AttributeError(f"module 'engine.cli' has no attribute {name!r}")
