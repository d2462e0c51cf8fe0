"""Diagnostics: one problem in one rule file, with its location, and their renderings.

Text (``file:line:col: error[code] /pointer: message``), GitHub Actions annotations
(``::error file=…,line=…,col=…,title=…::…``) and JSON (``{"version": 1, "errors": [...]}``).
Lines and columns are 1-based.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    col: int
    code: str
    message: str
    pointer: str = ""
    severity: str = "error"  # error | warning
    have: Any = None
    want: Any = None
    hint: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.col, self.code)

    def text(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.code}] {self.body()}"

    def body(self) -> str:
        """The message with its JSON pointer, what was expected and the hint (every format shows it)."""
        line = (f"{self.pointer}: " if self.pointer else "") + self.message
        if self.want is not None and "want" not in self.message:
            line += f" (want {_short(self.want)})"
        if self.hint:
            line += f" — {self.hint}"
        return line

    def github(self) -> str:
        """A GitHub Actions workflow command: the same message as :meth:`text` (pointer, what was
        expected, hint), with the data and property escaping of GitHub's toolkit (``escapeData`` /
        ``escapeProperty``), so a path holding ``,`` or ``:`` cannot cut the properties short."""
        kind = "error" if self.severity == "error" else "warning"
        msg = self.body()
        props = f"file={_gh_property(self.file)},line={self.line},col={self.col},title={_gh_property(self.code)}"
        return f"::{kind} {props}::{_gh_data(msg)}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        return {k: v for k, v in d.items() if v not in (None, "")}


def _gh_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(value: str) -> str:
    return _gh_data(value).replace(":", "%3A").replace(",", "%2C")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "one of " + ", ".join(str(v) for v in value)
    return str(value)


def render(diagnostics: list[Diagnostic], fmt: str = "text") -> str:
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    if fmt == "json":
        return json.dumps(
            {
                "version": 1,
                "errors": [d.as_dict() for d in ordered if d.severity == "error"],
                "warnings": [d.as_dict() for d in ordered if d.severity == "warning"],
            },
            indent=2,
            default=str,
        )
    if fmt == "github":
        return "\n".join(d.github() for d in ordered)
    return "\n".join(d.text() for d in ordered)


def summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    files = len({d.file for d in diagnostics})
    return f"{errors} error(s), {warnings} warning(s) in {files} file(s)"
