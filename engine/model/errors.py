"""Exceptions raised by the engine. Every user-facing error derives from :class:`RulesError`::

    RulesError
     ├── RuleFileError        rule files failed validation; carries the Diagnostics
     ├── EventError           an event file could not be read or normalized (reason, code)
     ├── EngineLimitError     a ruleset would exceed a durable-rules hard limit
     └── AuditError           the audit log cannot be opened or written

    actions.base.ActionError (adapters) lives beside the adapters.

The CLI maps RulesError to an exit code and a one-line message exactly once; nothing
below the CLI prints or exits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.model.diagnostics import Diagnostic


class RulesError(Exception):
    """Base class for errors a user can fix."""

    exit_code = 3


class RuleFileError(RulesError):
    exit_code = 1

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in rule files")


class EventError(RulesError):
    exit_code = 1

    def __init__(self, reason: str, code: str = "invalid-event") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class EngineLimitError(RulesError):
    exit_code = 1


class AuditError(RulesError):
    exit_code = 3
