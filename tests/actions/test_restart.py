"""restart adapter with real subprocesses: stub systemctl/kubectl/docker scripts first on PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from actions.base import ActionFailed, Intent
from actions.restart import Restart
from actions.retry import execute

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"

# Records argv (tab-separated, argv[0] reduced to its basename) to $STUB_LOG, then runs BODY.
STUB = """#!/bin/sh
{ printf '%s' "${0##*/}"; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "$STUB_LOG"
"""


class Stubs:
    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.log = tmp_path / "argv.log"
        self.env = {"PATH": f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin", "STUB_LOG": str(self.log)}

    def add(self, name: str, body: str = "exit 0") -> None:
        path = self.bin / name
        path.write_text(STUB + body + "\n")
        path.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split("\t") for line in self.log.read_text().splitlines()]


@pytest.fixture
def stubs(tmp_path: Path) -> Stubs:
    return Stubs(tmp_path)


# The targets these tests restart, as a policy's allow list names them (an event's service alone is never one).
ALLOWED = ["nginx", "worker@2", "nope", "payment-api", "payment-api.v2", "getty@tty1", "c2ada9df5af8",
           "payments/payment-api", "default/api"]


def intent(params: dict[str, Any] | None = None, service: str = "nginx.service") -> Intent:
    return Intent(action="restart", kind="remediate", incident_id="INC-3", event_id="ev-3",
                  severity="MAJOR", service=service, params=params or {})


def test_systemctl_restarts_then_checks_is_active(stubs: Stubs) -> None:
    stubs.add("systemctl")
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    assert adapter.configured() is None
    outcome = adapter.send(adapter.render(intent()))
    assert outcome.status == "ok"
    assert stubs.calls() == [
        ["systemctl", "restart", "nginx.service"],
        ["systemctl", "is-active", "--quiet", "nginx.service"],
    ]


def test_kubectl_rollout_restart_and_status_in_namespace(stubs: Stubs) -> None:
    stubs.add("kubectl")
    adapter = Restart({"method": "kubectl", "health_timeout": 45, "allow": ALLOWED}, stubs.env)
    adapter.send(adapter.render(intent({"deployment": "payment-api", "namespace": "payments"})))
    assert stubs.calls() == [
        ["kubectl", "rollout", "restart", "deployment/payment-api", "-n", "payments"],
        ["kubectl", "rollout", "status", "deployment/payment-api", "-n", "payments", "--timeout=45s"],
    ]


def test_docker_restart_then_inspects_running_state(stubs: Stubs) -> None:
    stubs.add("docker", 'if [ "$1" = inspect ]; then echo true; fi')
    adapter = Restart({"names": {"payment-api": "payment_api_1"}}, stubs.env)
    adapter.send(adapter.render(intent({"method": "docker"}, service="payment-api")))
    assert stubs.calls() == [
        ["docker", "restart", "payment_api_1"],
        ["docker", "inspect", "-f", "{{.State.Running}}", "payment_api_1"],
    ]


def test_render_is_pure_and_shows_both_commands(stubs: Stubs) -> None:
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    request = adapter.render(intent({"unit": "worker@2.service"}))
    assert request.body["restart"] == ["systemctl", "restart", "worker@2.service"]
    assert request == adapter.render(intent({"unit": "worker@2.service"}))
    assert stubs.calls() == []


@pytest.mark.parametrize(
    "params",
    [
        {"unit": "x; rm -rf /"},
        {"unit": "$(touch PWNED)"},
        {"unit": "`touch PWNED`"},
        {"unit": "--help"},
        {"unit": "-H evil-host"},
        {"unit": "a b"},
        {"unit": "nginx\n--now"},
        {"unit": "nginx\n"},
        {"unit": "../../etc/passwd"},
        {"method": "docker", "container": "c && touch PWNED"},
        {"method": "kubectl", "deployment": "api", "namespace": "default; touch PWNED"},
        {"method": "kubectl", "deployment": "api", "namespace": "--all-namespaces"},
        {"method": "kubectl", "deployment": "api", "namespace": "default\n"},
        {"method": "sh", "unit": "nginx"},
    ],
)
def test_unsafe_names_are_rejected_before_any_process_runs(
    stubs: Stubs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("systemctl", "kubectl", "docker", "sh"):
        stubs.add(name)
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent(params)))
    assert info.value.reason == "clientError" and not info.value.retryable
    assert stubs.calls() == []
    assert not (tmp_path / "PWNED").exists()


def test_failing_health_check_is_a_permanent_failure_and_restarts_once(stubs: Stubs) -> None:
    stubs.add("systemctl", 'if [ "$1" = is-active ]; then echo "failed" >&2; exit 3; fi')
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    run = execute(adapter, adapter.render(intent()), sleep=lambda s: None)
    assert not run.ok and len(run.attempts) == 1
    assert run.attempts[0].reason == "serverError" and not run.attempts[0].retryable
    assert "health check failed (exit 3)" in run.attempts[0].detail
    assert [c[1] for c in stubs.calls()] == ["restart", "is-active"]


def test_container_not_running_after_restart_fails(stubs: Stubs) -> None:
    stubs.add("docker", 'if [ "$1" = inspect ]; then echo false; fi')
    adapter = Restart({"method": "docker", "allow": ALLOWED}, stubs.env)
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent({"container": "nginx"})))
    assert info.value.reason == "serverError" and "State.Running='false'" in str(info.value)


def test_no_such_container_is_a_permanent_client_error(stubs: Stubs) -> None:
    message = json.loads((FIXTURES / "docker_engine_restart_404_error_docs.json").read_text())["message"]
    stubs.add("docker", f'echo "Error response from daemon: {message}" >&2; exit 1')
    adapter = Restart({"method": "docker", "allow": ALLOWED}, stubs.env)
    run = execute(adapter, adapter.render(intent({"container": "c2ada9df5af8"})), sleep=lambda s: None)
    assert len(run.attempts) == 1 and run.attempts[0].reason == "clientError"
    assert "No such container: c2ada9df5af8" in run.attempts[0].detail  # stderr tail kept
    assert stubs.calls() == [["docker", "restart", "c2ada9df5af8"]]  # no health check after a failed restart


def test_unknown_unit_and_access_denied_are_permanent(stubs: Stubs) -> None:
    stubs.add("systemctl", 'echo "Failed to restart nope.service: Unit nope.service not found." >&2; exit 5')
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent({"unit": "nope.service"})))
    assert info.value.reason == "clientError" and not info.value.retryable
    stubs.add("systemctl", 'echo "Failed to restart x.service: Access denied" >&2; exit 4')
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "authError" and not info.value.retryable


def test_transient_restart_failure_is_retried_then_checked_once(stubs: Stubs, tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    stubs.add("systemctl", f'if [ "$1" = restart ] && [ ! -e {marker} ]; then touch {marker}; '
                           'echo "Failed to connect to bus" >&2; exit 1; fi')
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent()), sleep=slept.append)
    assert run.ok and [a.reason for a in run.attempts] == ["other", None] and len(slept) == 1
    assert [c[1] for c in stubs.calls()] == ["restart", "restart", "is-active"]


def test_hanging_command_times_out_and_is_retryable(stubs: Stubs) -> None:
    stubs.add("systemctl", "exec sleep 5")
    adapter = Restart({"timeout": 0.3, "allow": ALLOWED}, stubs.env)
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "timeout" and info.value.retryable


def test_missing_executable_is_not_configured(stubs: Stubs) -> None:
    adapter = Restart({"method": "kubectl", "allow": ALLOWED}, {"PATH": str(stubs.bin)})
    assert adapter.configured() == "kubectl not found on PATH"
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent({"deployment": "api"})))
    assert info.value.reason == "authError" and not info.value.retryable


@pytest.mark.parametrize("unit", ["reboot.target", "poweroff.target", "Shutdown.TARGET", "docker.socket",
                                  "home.mount", "dev-sda1.swap", "logrotate.timer", "user.slice"])
def test_only_service_units_are_restarted(stubs: Stubs, unit: str) -> None:
    """Before, an event whose service was ``poweroff.target`` (the unit name defaults to the event's
    service) ran ``systemctl restart poweroff.target``."""
    stubs.add("systemctl")
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent(service=unit)))
    assert info.value.reason == "clientError" and not info.value.retryable
    assert stubs.calls() == []


def test_service_units_with_dots_and_templates_still_restart(stubs: Stubs) -> None:
    stubs.add("systemctl")
    adapter = Restart({"allow": ALLOWED}, stubs.env)
    for unit in ("payment-api", "payment-api.v2", "getty@tty1.service"):
        adapter.send(adapter.render(intent(service=unit)))
    assert [call[2] for call in stubs.calls()[::2]] == ["payment-api", "payment-api.v2", "getty@tty1.service"]
