"""Exceptions raised by the engine. Errors a user can fix derive from :class:`RulesError`::

    RulesError (exit 3 unless said)       the CLI prints one line and exits with ``exit_code``
     ├── AuditError                       the audit log cannot be opened, read or written (store/ maps every
     │                                    sqlite error to it)
     ├── EngineFailure                    durable-rules refused a message (engine.durable; a bug, not input)
     └── AlreadyRunning                   another daemon holds the audit log's lock (engine.run.daemon.lock)

Errors that stay inside their stage and become a diagnostic, a failed file or a problem on the decision:
``IntakeError`` (engine.intake: a file's code and reason), ``ConditionError`` and ``MatchError``
(engine.compiler: a diagnostic), ``TemplateProblem`` (engine.compiler.templates: a decision's problem),
``ModelUnavailable`` (engine.classifier: decide runs on the rules alone), ``TrainingDataError``
(``rules train``: exit 1). ``actions.base.ActionError`` (adapters: ``ActionConfigError``, ``ActionFailed``)
lives beside the adapters.

Rule files that fail validation are not an exception: ``validate`` returns their diagnostics. The CLI
maps RulesError to an exit code and a one-line message exactly once; nothing below the CLI prints or exits.
"""

from __future__ import annotations


class RulesError(Exception):
    """Base class for errors a user can fix."""

    exit_code = 3


class AuditError(RulesError):
    exit_code = 3
