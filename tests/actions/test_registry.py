"""Action registry: built-ins come from the entry-point group, unknown names list the valid ones."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import ClassVar

import pytest

from actions.base import Action, ActionConfigError, Intent, Outcome, Request
from actions.registry import GROUP, Registry, default_registry


def test_builtins_are_registered_through_entry_points() -> None:
    names = {ep.name for ep in entry_points(group=GROUP)}
    assert {"log", "pagerduty", "opsgenie", "slack", "teams", "email", "restart", "scale-out", "failover"} <= names
    assert set(default_registry().names()) == names


def test_a_third_party_action_plugs_in_without_touching_the_registry() -> None:
    class Echo:
        name: ClassVar[str] = "echo"
        schema: ClassVar[str] = "actions/log.schema.json"
        env_vars: ClassVar[tuple[str, ...]] = ()

        def __init__(self, config, env) -> None:
            self.config = config

        def configured(self):
            return None

        def render(self, intent: Intent) -> Request:
            return Request("echo", "LOG", "-", {"id": intent.incident_id}, intent.idempotency_key)

        def send(self, request: Request) -> Outcome:
            return Outcome("ok", detail=str(request.body))

    reg = Registry({"echo": lambda: Echo})  # what an entry point's .load would return
    adapter = reg.create("echo", {}, {})
    assert isinstance(adapter, Action)
    intent = Intent("echo", "notify", "INC-1", "e1", "MAJOR", "api")
    assert adapter.send(adapter.render(intent)).detail == "{'id': 'INC-1'}"


def test_unknown_action_lists_available_ones_and_suggests() -> None:
    with pytest.raises(ActionConfigError) as exc:
        default_registry().get("pagerduty2")
    assert "available actions are:" in str(exc.value) and 'did you mean "pagerduty"' in str(exc.value)


def test_broken_plugin_is_reported_not_fatal() -> None:
    def boom():
        raise ImportError("no module named vendor_sdk")

    reg = Registry({"broken": boom, "log": default_registry().get("log")})
    with pytest.raises(ActionConfigError, match="failed to load"):
        reg.get("broken")
    assert reg.get("log").name == "log"
