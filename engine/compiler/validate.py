"""The compiler as a list of named stages: rule files → :class:`Policy` → :class:`CompiledPolicy`.

:data:`STAGES`, in order (each fills in part of a :class:`Compilation`; OPA's compiler is written so)::

    load      rule files → documents + source map (safe YAML; engine.compiler.load)
    schema    each document's kind and JSON Schema (engine.compiler.schema); errors stop here
    build     the typed Policy (engine.compiler.build; conditions parsed)
    check:*   the named semantic checks of engine.compiler.checks.CHECKS, each over the built policy
    compile   the Policy → one durable-rules ruleset as plain data (engine.compiler.compile), if no errors

:func:`validate` (``rules validate``) runs every stage but ``compile`` and returns
``(policy_or_None, diagnostics)``; :func:`compile_rules` runs them all. Never raises for bad rules:
every problem is a Diagnostic with file:line:col and the JSON pointer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.compiler.build import build_policy
from engine.compiler.checks import CHECKS, Check
from engine.compiler.compile import CompiledPolicy, compile_policy
from engine.compiler.load import Document, load_dir
from engine.compiler.schema import by_kind
from engine.model.diagnostics import Diagnostic
from engine.model.policy import Policy


@dataclass
class Compilation:
    """What the stages know so far about one rules directory."""

    root: Path
    docs: list[Document] = field(default_factory=list)
    by_kind: dict[str, list[Document]] = field(default_factory=dict)
    policy: Policy | None = None
    compiled: CompiledPolicy | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stopped: bool = False  # a stage found what the later ones cannot work on

    @property
    def errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    run: Callable[[Compilation], None]


def _load(c: Compilation) -> None:
    c.docs, c.diagnostics = load_dir(c.root, display_root=Path.cwd() if not c.root.is_absolute() else None)
    c.stopped = not c.root.exists()  # one error, not also a "no valid rule file of kind …" per required kind


def _schema(c: Compilation) -> None:
    unreadable = c.errors  # a file that did not load (YAML syntax, size, depth) is the cause to show
    c.by_kind, problems = by_kind(c.docs, str(c.root))
    if unreadable:  # not also "no valid rule file of kind …" for the kind that file held
        problems = [d for d in problems if d.code != "missing-kind"]
    c.diagnostics += problems
    c.stopped = unreadable or any(d.severity == "error" for d in problems)


def _build(c: Compilation) -> None:
    from engine.compiler.provenance import git_commit

    # the rules hash's Git commit (rules_versions), beside the hash build_policy computes
    c.policy = replace(build_policy(c.by_kind, c.diagnostics), rules_commit=git_commit(c.root))


def _check(check: Check) -> Callable[[Compilation], None]:
    def run(c: Compilation) -> None:
        assert c.policy is not None
        c.diagnostics += check(c.policy, c.by_kind)

    return run


def _compile(c: Compilation) -> None:
    if c.policy is not None and not c.errors:
        c.compiled = compile_policy(c.policy)


STAGES: tuple[Stage, ...] = (
    Stage("load", _load),
    Stage("schema", _schema),
    Stage("build", _build),
    *(Stage(f"check:{name}", _check(check)) for name, check in CHECKS),
    Stage("compile", _compile),
)


def run_stages(root: Path, stages: tuple[Stage, ...] = STAGES) -> Compilation:
    """Run ``stages`` in order over the rule files under ``root``, until one stops."""
    c = Compilation(root)
    for stage in stages:
        stage.run(c)
        if c.stopped:
            break
    return c


def validate(root: Path) -> tuple[Policy | None, list[Diagnostic]]:
    """Load and validate every rule file under ``root``: the whole of ``rules validate``."""
    c = run_stages(root, STAGES[:-1])
    return (None if c.errors else c.policy), c.diagnostics


def compile_rules(root: Path) -> tuple[CompiledPolicy | None, list[Diagnostic]]:
    """Every stage: the compiled policy (None if any error) and the diagnostics."""
    c = run_stages(root)
    return c.compiled, c.diagnostics
