"""``restart``: restart a service with systemctl, kubectl or docker, then check that it is healthy.

Takes an :class:`Intent` and runs two argv lists with ``subprocess.run(shell=False)`` (no shell
ever sees event data; names must match ``^[A-Za-z0-9_.@:-]{1,253}$`` and may not start with
``-``, so they cannot be options; a systemd name must be a service unit: ``nginx`` or
``nginx.service``, never ``reboot.target``, ``poweroff.target``, ``*.socket``, ``*.mount``...,
because ``systemctl restart`` of such a unit reboots, powers off or unmounts):

============  ==========================================  ==============================================
method        restart                                     health check
============  ==========================================  ==============================================
systemctl     ``systemctl restart UNIT``                  ``systemctl is-active --quiet UNIT``
kubectl       ``kubectl rollout restart deployment/NAME   ``kubectl rollout status deployment/NAME
              -n NS``                                     -n NS --timeout=60s``
docker        ``docker restart NAME``                     ``docker inspect -f {{.State.Running}} NAME``
============  ==========================================  ==============================================

A restart is safe to repeat, so transient failures are retried; the intent's idempotency key
keeps the executor from running the same step twice.

Config (``schemas/actions/restart.schema.json``): ``method`` (default ``systemctl``; the one
``configured()`` checks), ``names`` (service → unit/deployment/container name), ``namespace``
(default ``default``), ``allow`` (the targets that may be restarted: units or containers by name,
deployments as ``NAMESPACE/NAME``; ``nginx`` and ``nginx.service`` are one unit), ``timeout``
(seconds per command, default 120), ``health_timeout`` (seconds, default 60).

**Targets come from the policy, never from event data alone.** With ``allow`` set, a target not
in it is refused (``clientError``), whatever the params say. Without it, a target that would fall
back to the event's ``service`` (no param, no ``names`` entry) is refused; ``rules validate``
rejects a rule whose target param is a template without an ``allow`` list
(``engine/compiler/checks_targets.py``), so a literal param is the only other way in.

Env: ``PATH`` finds the executable; the whole ``env`` is the commands' environment (so
``KUBECONFIG``, ``DOCKER_HOST``... apply). No secrets.

Intent: ``params`` ``method``, ``unit`` | ``deployment`` | ``container`` (else ``names[service]``,
else ``intent.service``), ``namespace``. ``message`` is not read.

Failures: executable missing → ``authError`` (not configured), not retried. Unknown
unit/deployment/container ("not found", "No such container") or a paused deployment →
``clientError``; permission denied → ``authError``; both permanent. Timeouts and other non-zero
exits → retryable. A failing health check after a successful restart → ``serverError``, **not**
retried: restarting again is the escalation policy's call, not the retry loop's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any, ClassVar

from actions.base import ActionFailed, Intent, Outcome, Request

NAME = re.compile(r"^(?!-)[A-Za-z0-9_.@:-]{1,253}$")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a Kubernetes DNS label
# systemd unit types other than .service: ``systemctl restart poweroff.target`` powers the host off.
# Without one of these suffixes systemctl reads a name as NAME.service.
NOT_SERVICE = (".target", ".socket", ".device", ".mount", ".automount", ".swap", ".path", ".timer", ".slice",
               ".scope")
METHODS = {"systemctl": "unit", "kubectl": "deployment", "docker": "container"}
NOT_FOUND = ("not found", "no such container", "notfound", "could not be found", "can't restart paused")
DENIED = ("access denied", "permission denied", "forbidden", "unauthorized", "interactive authentication")


def _unit(method: str, name: str) -> str:
    """A target as the allow list compares it: ``nginx.service`` is the unit ``nginx``."""
    return name.removesuffix(".service") if method == "systemctl" else name


def _reject(why: str) -> ActionFailed:
    return ActionFailed(f"restart: {why}", retryable=False, reason="clientError")


class Restart:
    name: ClassVar[str] = "restart"
    schema: ClassVar[str] = "actions/restart.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ("PATH",)

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.method = str(config.get("method", "systemctl"))
        self.names = {str(k): str(v) for k, v in dict(config.get("names", {})).items()}
        self.namespace = str(config.get("namespace", "default"))
        self.timeout = float(config.get("timeout", 120))
        self.health_timeout = int(config.get("health_timeout", 60))
        allow = config.get("allow")
        self.allow = None if allow is None else [str(a) for a in allow]
        self.env = dict(env)

    def configured(self) -> str | None:
        if self._which(self.method) is None:
            return f"{self.method} not found on PATH"
        return None

    def render(self, intent: Intent) -> Request:
        params = intent.params
        method = str(params.get("method", self.method))
        if method not in METHODS:
            raise _reject(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
        name = str(params.get(METHODS[method]) or self.names.get(intent.service) or "")
        from_event = not name
        name = name or intent.service
        if not NAME.fullmatch(name):
            raise _reject(f"refusing {METHODS[method]} name {name[:80]!r}: must match {NAME.pattern}")
        if method == "systemctl" and name.lower().endswith(NOT_SERVICE):
            raise _reject(f"refusing unit {name[:80]!r}: only service units are restarted")
        namespace = str(params.get("namespace") or self.namespace)
        if method == "kubectl" and not NAMESPACE.fullmatch(namespace):
            raise _reject(f"refusing namespace {namespace[:80]!r}: not a Kubernetes DNS label")
        self._check_allowed(method, name, namespace, from_event)
        if method == "systemctl":
            restart = ["systemctl", "restart", name]
            check = ["systemctl", "is-active", "--quiet", name]
        elif method == "kubectl":
            target = f"deployment/{name}"
            restart = ["kubectl", "rollout", "restart", target, "-n", namespace]
            wait = f"--timeout={self.health_timeout}s"
            check = ["kubectl", "rollout", "status", target, "-n", namespace, wait]
        else:
            restart = ["docker", "restart", name]
            check = ["docker", "inspect", "-f", "{{.State.Running}}", name]
        body = {"method": method, "name": name, "restart": restart, "check": check}
        if method == "kubectl":
            body["namespace"] = namespace
        return Request(self.name, "EXEC", method, body, intent.idempotency_key)

    def _check_allowed(self, method: str, name: str, namespace: str, from_event: bool) -> None:
        target = f"{namespace}/{name}" if method == "kubectl" else name
        if self.allow is not None:
            if _unit(method, target) not in {_unit(method, a) for a in self.allow}:
                raise _reject(f"refusing {METHODS[method]} {target[:120]!r}: not in the policy's allow list")
        elif from_event:
            raise _reject(f"refusing {METHODS[method]} {target[:120]!r} taken from the event's service: name it "
                          "in params or 'names', or list it in 'allow'")

    def send(self, request: Request) -> Outcome:
        body = request.body
        executable = self._which(body["method"])
        if executable is None:
            problem = f"restart: {body['method']} not found on PATH"
            raise ActionFailed(problem, retryable=False, reason="authError")
        self._run(executable, body["restart"], self.timeout, "restart")
        out = self._run(executable, body["check"], self.timeout + self.health_timeout, "health check")
        if body["method"] == "docker" and out.strip() != "true":
            state = out.strip()[:40]
            problem = f"restart: {body['name']} is not running after restart (State.Running={state!r})"
            raise ActionFailed(problem, retryable=False, reason="serverError")
        return Outcome("ok", detail=f"restarted {body['name']} with {body['method']}; health check passed")

    def _which(self, method: str) -> str | None:
        return shutil.which(method, path=self.env.get("PATH"))

    def _run(self, executable: str, argv: list[str], timeout: float, step: str) -> str:
        """Run ``argv`` with its first element resolved to ``executable``; return stdout."""
        try:
            done = subprocess.run([executable, *argv[1:]], shell=False, capture_output=True, text=True,
                                  timeout=timeout, env=self.env, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise ActionFailed(f"restart: {step} timed out after {timeout:g}s: {' '.join(argv)}",
                               retryable=step == "restart", reason="timeout") from None
        except OSError as exc:  # vanished or not executable since which()
            raise ActionFailed(f"restart: cannot run {argv[0]}: {exc.strerror}", retryable=False,
                               reason="authError") from None
        if done.returncode == 0:
            return done.stdout
        tail = (done.stderr.strip() or done.stdout.strip())[-300:]
        message = f"restart: {step} failed (exit {done.returncode}): {' '.join(argv)}: {tail}"
        lowered = tail.lower()
        if any(s in lowered for s in DENIED):
            raise ActionFailed(message, retryable=False, reason="authError")
        if any(s in lowered for s in NOT_FOUND) or (argv[0] == "systemctl" and done.returncode in (4, 5)):
            raise ActionFailed(message, retryable=False, reason="clientError")
        if step == "health check":
            raise ActionFailed(message, retryable=False, reason="serverError")
        raise ActionFailed(message, retryable=True, reason="other")
