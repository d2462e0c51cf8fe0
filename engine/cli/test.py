"""``rules test [PATH…]``: run the test cases beside the rules; optionally measure coverage."""

from __future__ import annotations

import re
from pathlib import Path

import click

from engine.cli import main

FORMATS = ("text", "junit", "json", "github")
COVERAGE_FORMATS = ("text", "json", "cobertura", "lcov")


def _regex(ctx: click.Context, param: click.Parameter, value: str | None) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"invalid regex {value!r}: {exc}") from None


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--rules", "rules", metavar="DIR", help="rule files (default ./rules, else the shipped policy)")
@click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
              help="accepted like on every command (env ESCALATION_DB); tests use an in-memory audit log")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--run", "run_re", metavar="REGEX", callback=_regex, help="only the cases whose name matches")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="also write JUnit XML to FILE")
@click.option("--coverage", is_flag=True, help="report rule and condition-leaf coverage")
@click.option("--coverage-format", type=click.Choice(COVERAGE_FORMATS), default="text", show_default=True)
@click.option("--coverage-out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="write the coverage report to FILE instead of stdout")
@click.option("--threshold", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="fail (exit 1) when rule or leaf coverage is below PERCENT (measured; printed with --coverage)")
@click.option("--model", "model", metavar="FILE", envvar="ESCALATION_MODEL",
              help="severity model for cases with 'model: configured' (default the shipped one)")
@click.option("-v", "--verbose", is_flag=True, help="list passing cases too")
def command(paths: tuple[Path, ...], rules: str | None, db: str, fmt: str, run_re: re.Pattern[str] | None,
            junit_out: Path | None, coverage: bool, coverage_format: str, coverage_out: Path | None,
            threshold: float | None, model: str | None, verbose: bool) -> None:
    """Run rule test cases (*.test.yaml, and event files with 'expect' blocks); exit 1 on a failure.

    PATH: test files or directories (default: the rules directory). Each case's events are decided
    on a virtual clock with a fresh audit log; nothing is sent.

    Example: rules test rules/ --coverage --threshold 95 --format junit
    """
    from engine.cli.options import load_compiled, rules_dir
    from engine.report import rule_tests as output
    from engine.run.review import cases as case_files
    from engine.run.review.runner import Runner

    root = rules_dir(rules)
    compiled = load_compiled(root, quiet_warnings=True)
    found = case_files.load(list(paths) or [root])
    if run_re is not None:
        found = [c for c in found if run_re.search(c.name)]
    if not found:
        click.echo("error: no test cases found" + (" matching --run" if run_re else ""), err=True)
        raise SystemExit(1)
    collector = None
    if coverage or threshold is not None:
        from engine.compiler.load import load_dir
        from engine.run.review.coverage import EngineCoverage

        docs, _ = load_dir(root, display_root=Path.cwd() if not root.is_absolute() else None)
        collector = EngineCoverage(compiled, docs)
    runner = Runner(compiled, model=model, observer=collector)
    results = runner.run_all(found)
    report = collector.report() if collector else None
    if junit_out is not None:
        junit_out.write_text(output.junit(results))
    if fmt == "json":
        click.echo(output.as_json(results, report))
    elif fmt == "junit":
        click.echo(output.junit(results))
    elif fmt == "github":
        click.echo(output.github(results))
    if report is not None and (coverage or coverage_out is not None):  # --threshold alone only enforces
        _coverage(report, coverage_format, coverage_out, fmt)
    if fmt in ("text",):
        click.echo(output.text(results, verbose))
    elif fmt != "github":
        click.echo(output.summary(results), err=True)
    passed, failed = output.counts(results)
    short = []
    if report is not None and threshold is not None:
        from engine.run.review.coverage import below

        short = below(report, threshold)
    for line in short + [f"the engine and the Python evaluator disagree: {d}"
                         for d in (report or {}).get("disagreements", [])]:
        click.echo(f"error: {line}", err=True)
    raise SystemExit(1 if failed or short or (report or {}).get("disagreements") else 0)


def _coverage(report: dict, fmt: str, out: Path | None, results_fmt: str) -> None:  # type: ignore[type-arg]
    import json

    from engine.run.review import coverage

    if fmt == "text" and out is None and results_fmt == "json":
        return  # already inside the JSON document
    body = {"text": coverage.text, "json": lambda r: json.dumps(r, indent=2), "cobertura": coverage.cobertura,
            "lcov": coverage.lcov}[fmt](report)
    if out is not None:
        out.write_text(body if body.endswith("\n") else body + "\n")
    else:
        click.echo(body, err=results_fmt != "text")
