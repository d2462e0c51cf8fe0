"""The ``rules`` command: thin wrappers around the engine's functions.

Exit codes: 0 success; 1 rule files invalid or simulate expectations not met; 2 usage error;
3 runtime failure (audit log unwritable, engine failure); 4 ``rules run --once``: a page failed.
Results go to stdout, diagnostics and logs to stderr, so ``rules simulate --format json | jq`` always works.
"""

from __future__ import annotations

import os

import click

from engine.model.errors import RulesError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


# one file per command; each registers itself on ``main`` (imported last: they import ``main`` from here)
from engine.cli import (  # noqa: E402,F401
    ack,
    analyze,
    anomalies,
    audit,
    confirm,
    evaluate,
    explain,
    history,
    impact,
    incidents,
    ledger,
    metrics,
    run,
    simulate,
    test,
    timeline,
    train,
    validate,
)
from engine.cli.options import load_compiled, rules_dir  # noqa: E402,F401 - the helpers scripts import
