"""Channel message templates: mappings whose string leaves are Jinja2 templates.

Templates render in Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``:
no attribute access to Python internals, no mutation, and a misspelt variable is an error
at ``rules validate`` time instead of an empty string at 3 a.m. Leaves under a key named
``html`` are HTML-escaped.

The template context (one documented type, :func:`context`):

``event``        the canonical event (``event.service``, ``event.metrics.error_rate``,
                 ``event.derived.trace_error_ratio``, ``event.labels``...)
``severity``     CRITICAL | MAJOR | MODERATE | NONE
``level``        P0..P3
``color``        the severity's colour (``colors:`` in the templates file)
``incident_id``  the incident this message is about
``owner``        ``team``, ``primary``, ``backup``, ``escalation_delay``, ``fallback`` (bool)
``remediation``  ``action`` and ``rule`` of the chosen remediation, or None
``fired_rules``  ids of the rules that fired, in order
``model``        ``label``, ``confidence`` of the classifier, or None
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError

from engine.compiler.template_budget import MAX_OUTPUT, BudgetedSandbox, budget

# every render has a work budget (loop items and calls): see engine/template_budget.py
_text_env = BudgetedSandbox(undefined=StrictUndefined, autoescape=False)
_html_env = BudgetedSandbox(undefined=StrictUndefined, autoescape=True)


def _duration(seconds: Any) -> str:
    s = int(seconds or 0)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m}m {s}s" if h else (f"{m}m {s}s" if m else f"{s}s")


def _pct(value: Any, digits: int = 1) -> str:
    return f"{float(value) * 100:.{digits}f}%"


for _env in (_text_env, _html_env):
    _env.add_filter("duration", _duration)
    _env.add_filter("pct", _pct)


class TemplateProblem(Exception):
    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer


def _has_syntax(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def compile_tree(tree: Any, pointer: str = "", html: bool = False) -> Any:
    """Compile every string leaf; raises :class:`TemplateProblem` on a syntax error."""
    if isinstance(tree, str):
        if not _has_syntax(tree):
            return tree  # plain text: nothing to render
        try:
            return (_html_env if html else _text_env).from_string(tree)
        except TemplateError as exc:
            raise TemplateProblem(pointer, f"template syntax error: {exc}") from None
    if isinstance(tree, Mapping):
        return {k: compile_tree(v, f"{pointer}/{k}", html or k == "html") for k, v in tree.items()}
    if isinstance(tree, list):
        return [compile_tree(v, f"{pointer}/{i}", html) for i, v in enumerate(tree)]
    return tree


def render_tree(tree: Any, ctx: Mapping[str, Any], pointer: str = "") -> Any:
    """Render a tree from :func:`compile_tree` leaf by leaf; the error names the failing leaf."""
    if isinstance(tree, Template):
        try:
            with budget():
                return tree.render(ctx)[:MAX_OUTPUT]
        except Exception as exc:  # the sandbox raises SecurityError, UndefinedError, TypeError...
            raise TemplateProblem(pointer, f"template failed to render: {type(exc).__name__}: {exc}") from None
    if isinstance(tree, Mapping):
        return {k: render_tree(v, ctx, f"{pointer}/{k}") for k, v in tree.items()}
    if isinstance(tree, list):
        return [render_tree(v, ctx, f"{pointer}/{i}") for i, v in enumerate(tree)]
    return tree


class _Slot(int):
    """Position of a rendered leaf in the skeleton of a :class:`MessageTemplate`."""


class MessageTemplate:
    """A whole template tree rendered by ONE Jinja template.

    Rendering a short Jinja template costs mostly its context set-up, and a Slack message has
    a dozen leaves: the leaves are joined, separated by a per-template random marker, into one
    template; its output is split back and put into a skeleton of the tree. Static values stay
    in the skeleton. On any error — or if a leaf's output ever contained the marker — it falls
    back to :func:`render_tree`, leaf by leaf, so the message names the failing leaf.
    """

    def __init__(self, tree: Any, pointer: str = "") -> None:
        self.pointer = pointer
        self.leaves = compile_tree(tree, pointer)  # validates syntax, locates errors
        self._sep = f"\x1e{secrets.token_hex(6)}\x1e"
        sources: list[str] = []
        self._skeleton = self._skel(tree, False, sources)
        self._slots = len(sources)
        self.template = _text_env.from_string(self._sep.join(sources)) if sources else None
        # Template.render copies its globals (a ChainMap, slow to iterate) into a fresh context on
        # every call; render() passes a flat copy made once, as a shared context, instead.
        self._globals = dict(self.template.globals) if self.template is not None else {}

    def _skel(self, node: Any, html: bool, sources: list[str]) -> Any:
        if isinstance(node, Mapping):
            return {k: self._skel(v, html or k == "html", sources) for k, v in node.items()}
        if isinstance(node, list):
            return [self._skel(v, html, sources) for v in node]
        if isinstance(node, str) and _has_syntax(node):
            leaf = node[:-1] if node.endswith("\n") else node  # Jinja drops one trailing newline per template
            sources.append(f"{{% autoescape true %}}{leaf}{{% endautoescape %}}" if html else leaf)
            return _Slot(len(sources) - 1)
        return node

    def _fill(self, node: Any, parts: list[str]) -> Any:
        if type(node) is _Slot:
            return parts[node][:MAX_OUTPUT]
        if isinstance(node, dict):
            return {k: self._fill(v, parts) for k, v in node.items()}
        if isinstance(node, list):
            return [self._fill(v, parts) for v in node]
        return node

    def render(self, ctx: Mapping[str, Any]) -> Any:
        if self.template is None:
            return self._fill(self._skeleton, [])
        t = self.template
        try:
            with budget():
                text = _text_env.concat(t.root_render_func(t.new_context({**self._globals, **ctx}, shared=True)))
            parts = text.split(self._sep)
        except Exception:  # noqa: BLE001 - re-rendered leaf by leaf for a precise error
            return render_tree(self.leaves, ctx, self.pointer)
        if len(parts) != self._slots:  # a leaf's output contained the marker: take the slow, exact path
            return render_tree(self.leaves, ctx, self.pointer)
        return self._fill(self._skeleton, parts)


def pick(compiled: Mapping[str, Any], channel: str, severity: str) -> tuple[str, Any] | None:
    """The template for ``channel`` at ``severity``: the severity's own, else ``default``."""
    per_channel = compiled.get(channel)
    if not per_channel:
        return None
    key = severity if severity in per_channel else "default"
    return (key, per_channel[key]) if key in per_channel else None


def context(
    event: Mapping[str, Any],
    severity: str,
    level: str,
    color: str,
    incident_id: str,
    owner: Mapping[str, Any],
    remediation: Mapping[str, Any] | None,
    fired_rules: list[str],
    model: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "event": event,
        "severity": severity,
        "level": level,
        "color": color,
        "incident_id": incident_id,
        "owner": owner,
        "remediation": remediation,
        "fired_rules": fired_rules,
        "model": model,
    }
