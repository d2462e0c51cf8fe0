"""GitHub annotations for a rules pull request: only on changed lines, at most ten.

GitHub shows at most 10 error annotations per step (and 50 per job); a policy with many old
warnings would bury the new problem. This reads ``rules validate --format json`` output and the
lines the pull request changed (``git diff --unified=0 BASE...HEAD``), prints an ``::error`` /
``::warning`` workflow command for each diagnostic on a changed line, errors first, at most
:data:`LIMIT`, and a ``::notice`` with the number of others::

    rules validate --format json > diagnostics.json || status=$?
    python -m engine.run.review.annotate --base "origin/$BASE_REF" diagnostics.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

LIMIT = 10
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def changed_lines(base: str, cwd: Path | None = None) -> dict[str, set[int]]:
    """``{path: {line, ...}}`` of lines added or changed since ``base`` (merge base), per file."""
    diff = subprocess.run(["git", "diff", "--unified=0", "--no-color", f"{base}...HEAD"], capture_output=True,
                          text=True, check=True, cwd=cwd).stdout
    out: dict[str, set[int]] = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else None
        elif current and (m := _HUNK.match(line)):
            start, count = int(m.group(1)), int(m.group(2) or 1)
            out.setdefault(current, set()).update(range(start, start + count))
    return out


def _escape(value: str, prop: bool = False) -> str:
    out = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


def annotation_lines(report: dict[str, Any], changed: dict[str, set[int]], limit: int = LIMIT) -> list[str]:
    diags = [d for d in report.get("errors", []) + report.get("warnings", [])
             if d["line"] in changed.get(Path(d["file"]).as_posix(), set())]
    lines = []
    for d in diags[:limit]:
        level = "error" if d.get("severity", "error") == "error" else "warning"
        text = f"{d['pointer']}: {d['message']}" if d.get("pointer") else d["message"]
        lines.append(f"::{level} file={_escape(d['file'], True)},line={d['line']},col={d['col']},"
                     f"title={_escape(d['code'], True)}::{_escape(text)}")
    others = len(report.get("errors", [])) + len(report.get("warnings", [])) - len(lines)
    if others:
        lines.append(f"::notice title=rules validate::{others} more diagnostic(s) not annotated "
                     "(on unchanged lines or beyond the first 10); see the job log")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Annotate changed rule lines from `rules validate --format json`.")
    parser.add_argument("report", type=Path)
    parser.add_argument("--base", required=True, help="the pull request's base ref, e.g. origin/main")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    for line in annotation_lines(report, changed_lines(args.base)):
        print(line)
    return 1 if report.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
