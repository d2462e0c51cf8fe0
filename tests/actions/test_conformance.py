"""One conformance suite for every installed action adapter (every entry point that loads).

Adapters added later are picked up automatically. What an adapter has to provide:

* ``schema``: a valid JSON Schema 2020-12 file under ``schemas/``, an object schema with no
  secret-looking property (secrets live in the environment; config may only *name* a variable,
  ``*_env``). Optional ``examples`` are configs the suite also runs (each must validate).
* ``render``: deterministic, and free of every secret in the env it was given. Secret variables
  are ``secret_env_vars`` when the class declares it, else those whose name contains KEY, TOKEN,
  PASSWORD, SECRET or WEBHOOK_URL; variables a config names (``*_env``) are secret too.
* ``configured()``: ``None`` or one line naming the missing variable; ``send`` on an unconfigured
  adapter fails permanently (``authError``) with that reason and does nothing.
* the module docstring documents every variable in ``env_vars``.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from adapter_kit import make_intent
from jsonschema import Draft202012Validator

from actions.base import Action, ActionError, ActionFailed, Intent, Request
from actions.registry import default_registry

SCHEMAS = Path(__file__).parents[2] / "schemas"
SECRET_NAME = re.compile(r"KEY|TOKEN|PASSWORD|SECRET|WEBHOOK_URL")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
KINDS = ("page", "notify", "remediate", "acknowledge", "resolve", "log")


def loadable() -> list[str]:
    names = []
    for name in default_registry().names():
        try:
            default_registry().get(name)
        except ActionError:
            continue  # declared but not (yet) importable: nothing to check
        names.append(name)
    return names


ADAPTERS = loadable()


def adapter_class(name: str) -> type[Action]:
    return default_registry().get(name)


def schema_of(cls: type[Action]) -> dict[str, Any]:
    return json.loads((SCHEMAS / cls.schema).read_text())


def configs(cls: type[Action]) -> list[dict[str, Any]]:
    return schema_of(cls).get("examples") or [{}]


def secret_vars(cls: type[Action], config: dict[str, Any]) -> set[str]:
    declared = getattr(cls, "secret_env_vars", None)
    names = set(declared) if declared is not None else {v for v in cls.env_vars if SECRET_NAME.search(v)}
    named = {v for k, v in config.items() if k.endswith("_env") and isinstance(v, str) and ENV_NAME.match(v)}
    return names | named


def marker(var: str) -> str:
    token = f"s3cr3t-{var.lower()}-7f3c9e"
    return f"https://hooks.conformance.invalid/{token}" if var.endswith("_URL") else token


def plain_value(var: str) -> str:
    """A plausible value for a variable that is not a secret (it may legitimately be rendered)."""
    for suffix, value in (
        ("_URL", "https://api.conformance.invalid"),
        ("_PORT", "2525"),
        ("_HOST", "mail.invalid"),
    ):
        if var.endswith(suffix):
            return value
    if "FROM" in var:
        return "rules@conformance.invalid"
    return "/nonexistent" if var == "PATH" else "conformance"


def full_env(cls: type[Action], config: dict[str, Any]) -> dict[str, str]:
    secrets = secret_vars(cls, config)
    env = {var: plain_value(var) for var in cls.env_vars if var not in secrets}
    env.update({var: marker(var) for var in secrets})
    return env


def renderable(adapter: Action) -> list[Intent]:
    """Sample intents (one per kind) that this adapter accepts."""
    intents = []
    for kind in KINDS:
        intent = make_intent(action=adapter.name, kind=kind, targets=("oncall@example.com",))
        try:
            adapter.render(intent)
        except ActionError:
            continue
        intents.append(intent)
    return intents


def test_built_in_adapters_load() -> None:
    assert {"log", "pagerduty", "opsgenie", "slack"} <= set(ADAPTERS)


@pytest.mark.parametrize("name", ADAPTERS)
def test_class_declares_the_interface(name: str) -> None:
    cls = adapter_class(name)
    assert cls.name == name
    assert cls.schema == f"actions/{name}.schema.json"
    assert all(isinstance(var, str) and ENV_NAME.match(var) for var in cls.env_vars)
    assert isinstance(cls(configs(cls)[0], {}), Action)


@pytest.mark.parametrize("name", ADAPTERS)
def test_schema_is_valid_json_schema_2020_12(name: str) -> None:
    cls = adapter_class(name)
    schema = schema_of(cls)
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema.get("type") == "object"
    for config in schema.get("examples", []):
        Draft202012Validator(schema).validate(config)
    secretish = [
        p for p in schema.get("properties", {}) if SECRET_NAME.search(p.upper()) and not p.endswith("_env")
    ]
    assert secretish == [], f"secrets belong in the environment, not in config: {secretish}"


@pytest.mark.parametrize("name", ADAPTERS)
def test_render_is_deterministic_and_holds_no_secret(name: str) -> None:
    cls = adapter_class(name)
    for config in configs(cls):
        env = full_env(cls, config)
        first, second = cls(config, env), cls(config, env)
        intents = renderable(first)
        assert intents, f"{name} renders none of the kinds {KINDS}"
        for intent in intents:
            request = first.render(intent)
            assert isinstance(request, Request)
            assert request == first.render(intent) == second.render(intent)
            assert repr(request) == repr(second.render(intent))
            assert request.idempotency_key == intent.idempotency_key
            for var in secret_vars(cls, config):
                assert env[var] not in repr(request), f"{var} leaks into {name}'s rendered request"
                assert marker(var).rsplit("/", 1)[-1] not in repr(request)


@pytest.mark.parametrize("name", ADAPTERS)
def test_unconfigured_adapter_names_the_variable_and_refuses_to_send(name: str) -> None:
    cls = adapter_class(name)
    for config in configs(cls):
        for env in ({}, dict.fromkeys(cls.env_vars, "")):
            adapter = cls(config, env)
            reason = adapter.configured()
            if reason is None:
                continue
            assert "\n" not in reason
            known = set(cls.env_vars) | secret_vars(cls, config)
            assert any(var in reason for var in known), f"{reason!r} names none of {sorted(known)}"
            intents = renderable(adapter)
            with pytest.raises(ActionFailed) as failure:
                adapter.send(adapter.render(intents[0]))
            assert (failure.value.retryable, failure.value.reason) == (False, "authError")
            assert reason in str(failure.value)


@pytest.mark.parametrize("name", ADAPTERS)
def test_module_docstring_documents_every_variable(name: str) -> None:
    cls = adapter_class(name)
    doc = inspect.getmodule(cls).__doc__ or ""
    missing = [var for var in cls.env_vars if var not in doc]
    assert missing == [], f"{name}'s module docstring does not document {missing}"


def test_retry_after_takes_ascii_seconds_or_an_http_date_only() -> None:
    from actions.retry import parse_retry_after

    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("\u00b2") is None  # latin-1 header text: a digit to str.isdigit, not to float()
