"""Templates render in a sandbox; the one-template fast path equals leaf-by-leaf rendering."""

from __future__ import annotations

import pytest

from engine.compiler import templates


def ctx(**kw):
    event = {"service": "api", "title": "<b>down</b>", "metrics": {"error_rate": 0.25}, "description": "d"}
    base = templates.context(event, "MAJOR", "P1", "#e8590c", "INC-1",
                             {"team": "t", "primary": ["a"], "backup": [], "escalation_delay": 60}, None, ["r"])
    return {**base, **kw}


def test_sandbox_blocks_python_internals() -> None:
    t = templates.MessageTemplate({"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    with pytest.raises(templates.TemplateProblem) as exc:
        t.render(ctx())
    assert "SecurityError" in str(exc.value) or "unsafe" in str(exc.value)


def test_unknown_variable_is_an_error_naming_the_leaf() -> None:
    t = templates.MessageTemplate({"a": "ok", "b": ["{{ event.nope }}"]}, "/templates/slack/default")
    with pytest.raises(templates.TemplateProblem) as exc:
        t.render(ctx())
    assert exc.value.pointer == "/templates/slack/default/b/0"


def test_fast_path_equals_leaf_rendering_and_escapes_html_only_under_html() -> None:
    tree = {"text": "{{ severity }}: {{ event.title }} {{ event.metrics.error_rate | pct }}",
            "n": 3, "flag": True, "plain": "no {braces} here",
            "fields": [{"title": "Service", "value": "{{ event.service }}"}],
            "html": "<p>{{ event.title }}</p>", "block": "{{ severity }} on\n{{ event.service }}.\n"}
    t = templates.MessageTemplate(tree)
    fast = t.render(ctx())
    slow = templates.render_tree(templates.compile_tree(tree), ctx())
    assert fast == slow
    assert fast["text"] == "MAJOR: <b>down</b> 25.0%"
    assert fast["html"] == "<p>&lt;b&gt;down&lt;/b&gt;</p>"
    assert fast["n"] == 3 and fast["flag"] is True and fast["plain"] == "no {braces} here"
    assert fast["block"] == "MAJOR on\napi."  # one trailing newline dropped, as Jinja does per template


def test_duration_filter() -> None:
    t = templates.MessageTemplate({"d": "{{ 332 | duration }}", "h": "{{ 3700 | duration }}"})
    assert t.render(ctx()) == {"d": "5m 32s", "h": "1h 1m 40s"}


def test_event_text_containing_the_leaf_separator_still_renders_exactly() -> None:
    t = templates.MessageTemplate({"a": "{{ event.title }}", "b": "{{ event.service }}"})
    c = ctx()
    c["event"] = {**c["event"], "title": f"x{t._sep}y"}
    assert t.render(c) == {"a": f"x{t._sep}y", "b": "api"}


def test_fast_path_keeps_jinja_globals_and_does_not_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fallback(*a: object, **k: object) -> None:
        raise AssertionError("fell back to leaf-by-leaf rendering")

    monkeypatch.setattr(templates, "render_tree", no_fallback)
    t = templates.MessageTemplate({"a": "{{ range(3) | list | length }}", "b": "{{ severity | lower }}"})
    assert t.render(ctx()) == {"a": "3", "b": "major"}
    assert t.render(ctx(severity="CRITICAL")) == {"a": "3", "b": "critical"}  # nothing leaks between renders
