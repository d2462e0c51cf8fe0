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

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_text_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_html_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
MAX_OUTPUT = 40_000


def _duration(seconds: Any) -> str:
    s = int(seconds or 0)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m}m {s}s" if h else (f"{m}m {s}s" if m else f"{s}s")


def _pct(value: Any, digits: int = 1) -> str:
    return f"{float(value) * 100:.{digits}f}%"


for _env in (_text_env, _html_env):
    _env.filters["duration"] = _duration
    _env.filters["pct"] = _pct


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
            return tree.render(ctx)[:MAX_OUTPUT]
        except Exception as exc:  # the sandbox raises SecurityError, UndefinedError, TypeError...
            raise TemplateProblem(pointer, f"template failed to render: {type(exc).__name__}: {exc}") from None
    if isinstance(tree, Mapping):
        return {k: render_tree(v, ctx, f"{pointer}/{k}") for k, v in tree.items()}
    if isinstance(tree, list):
        return [render_tree(v, ctx, f"{pointer}/{i}") for i, v in enumerate(tree)]
    return tree


class MessageTemplate:
    """A whole template tree compiled into ONE Jinja template that renders JSON.

    Rendering a short Jinja template costs mostly its context set-up, and a Slack message
    has a dozen leaves; one template per tree renders in a fraction of the time. On any
    error it falls back to :func:`render_tree` so the message names the failing leaf.
    """

    def __init__(self, tree: Any, pointer: str = "") -> None:
        self.pointer = pointer
        self.leaves = compile_tree(tree, pointer)  # validates syntax, locates errors
        self.template = _text_env.from_string(self._source(tree, False))

    def _source(self, node: Any, html: bool) -> str:
        if isinstance(node, Mapping):
            items = [f"{{% raw %}}{json.dumps(str(k))}:{{% endraw %}}{self._source(v, html or k == 'html')}"
                     for k, v in node.items()]
            return "{% raw %}{{% endraw %}" + "{% raw %},{% endraw %}".join(items) + "{% raw %}}{% endraw %}"
        if isinstance(node, list):
            return "{% raw %}[{% endraw %}" + "{% raw %},{% endraw %}".join(self._source(v, html) for v in node) + \
                "{% raw %}]{% endraw %}"
        if isinstance(node, str) and _has_syntax(node):
            inner = f"{{% autoescape true %}}{node}{{% endautoescape %}}" if html else node
            return f"{{% filter tojson %}}{inner}{{% endfilter %}}"
        return "{% raw %}" + json.dumps(node) + "{% endraw %}"

    def render(self, ctx: Mapping[str, Any]) -> Any:
        try:
            out = self.template.render(ctx)
        except Exception:  # noqa: BLE001 - re-rendered leaf by leaf for a precise error
            return render_tree(self.leaves, ctx, self.pointer)
        if len(out) > MAX_OUTPUT * 4:
            raise TemplateProblem(self.pointer, f"rendered message is {len(out)} characters; the limit is "
                                                f"{MAX_OUTPUT * 4}")
        return json.loads(out)


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
