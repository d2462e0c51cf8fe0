"""Remediation targets come from the policy's allow list, never from event data alone (real subprocesses)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from actions.base import ActionFailed, Intent
from actions.failover import Failover
from actions.restart import Restart
from actions.scale_out import ScaleOut

RECORDER = """#!/bin/sh
{ printf '%s' "${0##*/}"; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "$STUB_LOG"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A PATH whose systemctl and kubectl only record their argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("systemctl", "kubectl"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "STUB_LOG": str(tmp_path / "argv.log")}


def ran(env: dict[str, str]) -> list[str]:
    log = Path(env["STUB_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def intent(action: str, service: str, params: dict[str, Any] | None = None) -> Intent:
    return Intent(action=action, kind="remediate", incident_id="INC-1", event_id="ev-1", severity="MAJOR",
                  service=service, params=params or {})


@pytest.mark.parametrize("unit", ["systemd-poweroff", "systemd-reboot.service", "sshd"])
def test_an_event_service_outside_the_allow_list_never_reaches_systemctl(env, unit) -> None:
    adapter = Restart({"allow": ["nginx"]}, env)
    with pytest.raises(ActionFailed, match="not in the policy's allow list") as exc:
        adapter.send(adapter.render(intent("restart", unit)))
    assert exc.value.reason == "clientError" and not exc.value.retryable
    assert ran(env) == []


def test_without_an_allow_list_the_event_service_is_not_a_target(env) -> None:
    adapter = Restart({}, env)
    with pytest.raises(ActionFailed, match="taken from the event's service"):
        adapter.render(intent("restart", "systemd-poweroff"))
    assert ran(env) == []


def test_an_allowed_unit_is_restarted_with_or_without_its_suffix(env) -> None:
    adapter = Restart({"allow": ["nginx.service"]}, env)
    assert adapter.send(adapter.render(intent("restart", "nginx"))).status == "ok"
    assert ran(env)[0] == "systemctl\trestart\tnginx"


def test_kubectl_deployment_and_namespace_must_be_allowed_together(env) -> None:
    adapter = Restart({"method": "kubectl", "allow": ["production/payment-api"]}, env)
    hostile = intent("restart", "x", {"deployment": "coredns", "namespace": "kube-system"})
    with pytest.raises(ActionFailed, match="'kube-system/coredns': not in the policy's allow list"):
        adapter.render(hostile)
    crossed = intent("restart", "x", {"deployment": "payment-api", "namespace": "kube-system"})
    with pytest.raises(ActionFailed, match="allow list"):
        adapter.render(crossed)
    ok = adapter.render(intent("restart", "x", {"deployment": "payment-api", "namespace": "production"}))
    assert ok.body["restart"] == ["kubectl", "rollout", "restart", "deployment/payment-api", "-n", "production"]
    assert ran(env) == []


def test_a_literal_param_or_names_entry_needs_no_allow_list(env) -> None:
    adapter = Restart({"names": {"payment-api": "payments"}}, env)
    assert adapter.render(intent("restart", "payment-api")).body["name"] == "payments"
    assert adapter.render(intent("restart", "other", {"unit": "nginx"})).body["name"] == "nginx"


def test_scale_out_refuses_a_group_outside_the_allow_list() -> None:
    adapter = ScaleOut({"allow": ["payment-api"], "region": "us-east-1"}, {})
    assert adapter.render(intent("scale-out", "x", {"asg": "payment-api"})).body["asg"] == "payment-api"
    with pytest.raises(ActionFailed, match="not in the policy's allow list"):
        adapter.render(intent("scale-out", "x", {"asg": "prod-database"}))
    with pytest.raises(ActionFailed, match="taken from the event's service"):
        ScaleOut({"region": "us-east-1"}, {}).render(intent("scale-out", "prod-database"))


def test_failover_refuses_a_record_or_target_outside_the_allow_list() -> None:
    adapter = Failover({"allow": ["api.example.com", "api-dr.example.com."]}, {})
    params = {"zone_id": "Z1", "record": "API.example.com.", "to": "api-dr.example.com"}
    assert adapter.render(intent("failover", "x", params)).body["values"] == ["api-dr.example.com"]
    for bad in ({"record": "www.example.com."}, {"to": "attacker.example.net"}):
        with pytest.raises(ActionFailed, match="not in the policy's allow list"):
            adapter.render(intent("failover", "x", {**params, **bad}))
