"""Execute the outbox: every requested action without a result, through its adapter.

Reads pending rows from the audit log, builds the adapter from the registry, and either
records ``not-configured`` (credentials missing: reported, never silently skipped) or runs
:func:`actions.retry.execute` — every attempt and the final result are appended to the
audit log. Results are keyed by action id, so an action never gets two results, and
a restart picks up exactly the actions that have none.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actions.base import ActionError, Intent, Request
from actions.registry import Registry, default_registry
from actions.retry import RetryPolicy, execute
from engine.model.policy import Policy
from engine.run.acknowledge import cancellation
from engine.store.audit import Audit
from engine.store.outbox import intent_from_json  # noqa: F401 - re-exported


@dataclass
class ActionReport:
    action_id: int
    action: str
    kind: str
    outcome: str  # ok | failed | not-configured | cancelled | retrying (no result yet: see Executor.defer)
    detail: str
    attempts: int = 0
    retry_in: float | None = None  # retrying: seconds until attempt ``next_attempt`` is due
    next_attempt: int = 0
    used: int = 0  # retrying: attempts spent so far (a rate-limited one is not)


@dataclass
class Prepared:
    """An action ready to send: its adapter and rendered request (built on the loop thread, no I/O)."""

    action_id: int
    intent: Intent
    adapter: Any
    request: Request
    rules_hash: str


@dataclass
class Executor:
    audit: Audit
    policy: Policy
    registry: Registry = field(default_factory=default_registry)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    # asked before each wait between attempts: True leaves the action without a result and returns a
    # "retrying" report; the caller runs it again with ``resume`` when the wait is over (the daemon)
    defer: Callable[[float], bool] | None = None
    # the retry policy of one intent (engine.run.fallback.retry_for: a level's budget); None: ``retry``
    retry_for: Callable[[Intent], RetryPolicy] | None = None
    # called when a page ends failed (engine.run.fallback.Fallback.failed: the next pager, or loud)
    on_failed: Callable[[Intent, str], Any] | None = None
    _adapters: dict[str, Any] = field(default_factory=dict)

    def adapter(self, name: str) -> Any:
        if name not in self._adapters:
            self._adapters[name] = self.registry.create(name, self.policy.action_config.get(name, {}), self.env)
        return self._adapters[name]

    def run_pending(self, now: str | None = None, limit: int = 1000) -> list[ActionReport]:
        return [self.run_one(row) for row in self.audit.pending_actions(now, limit)]

    def run_one(self, row: Mapping[str, Any], resume: tuple[int, float, int] | None = None) -> ActionReport:
        """Execute one outbox row. ``resume``: (attempt number, seconds waited, attempts spent) of a
        deferred retry (a rate-limited attempt spends none: :func:`actions.retry.execute`)."""
        ready = self.prepare(row)
        if isinstance(ready, ActionReport):
            return ready
        action_id, intent, adapter, request, rules_hash = (ready.action_id, ready.intent, ready.adapter,
                                                           ready.request, ready.rules_hash)
        if self.audit.in_transaction:  # results recorded so far sent nothing: durable before a side effect
            self.audit.commit()
        first, waited, used = resume or (1, 0.0, 0)
        retry = self.retry_policy(intent)
        run = execute(adapter, request, retry, sleep=self.sleep, first=first, waited=waited, defer=self.defer,
                      used=used,
                      on_start=lambda n: self.audit.record_start(action_id, n, rules_hash),
                      on_attempt=lambda a: self.audit.record_attempt(action_id, a, rules_hash))
        if run.retry_in is not None:
            last = run.attempts[-1]
            return ActionReport(action_id, intent.action, intent.kind, "retrying", last.detail, len(run.attempts),
                                run.retry_in, last.number + 1, run.used)
        if not run.attempts:  # resumed past the last attempt: nothing left to try
            return self.finish(action_id, intent, "failed", "no attempt left", "other", rules_hash, 0)
        if run.ok and run.outcome is not None:
            memo_out = dict(run.outcome.memo) if run.outcome.memo else None
            return self.finish(action_id, intent, "ok", run.outcome.detail, None, rules_hash, len(run.attempts),
                                memo_out)
        last = run.attempts[-1]
        return self.finish(action_id, intent, "failed", last.detail, last.reason, rules_hash, len(run.attempts))

    def prepare(self, row: Mapping[str, Any]) -> ActionReport | Prepared:
        """The loop-thread half of an action: a result for one that sends nothing (cancelled, not
        configured, unrenderable: recorded, returned as a report), else what to send (:class:`Prepared`)."""
        action_id, rules_hash = int(row["id"]), row["rules_hash"]
        try:
            intent = intent_from_json(row["intent"])
        except (TypeError, ValueError, KeyError) as exc:  # a row no version of us wrote: recorded, never a crash
            detail = f"unreadable intent: {type(exc).__name__}: {exc}"[:500]
            self.audit.record_result(action_id, "failed", detail, "other", rules_hash)
            return ActionReport(action_id, str(row["action"]), str(row["kind"]), "failed", detail, 0)
        stopped = cancellation(self.audit, action_id, intent.kind)  # acked/resolved since it was requested
        if stopped:
            return self.finish(action_id, intent, "cancelled", stopped, None, rules_hash, 0)
        memo = self.audit.memo(intent.incident_id, intent.action)
        if memo:
            intent = _with_params(intent, memo)
        try:
            adapter = self.adapter(intent.action)
            problem = adapter.configured()
        except ActionError as exc:
            return self.finish(action_id, intent, "failed", str(exc), "other", rules_hash, 0)
        if problem:
            return self.finish(action_id, intent, "not-configured", problem, "authError", rules_hash, 0)
        try:
            request = adapter.render(intent)
        except ActionError as exc:
            return self.finish(action_id, intent, "failed", f"cannot render request: {exc}", "clientError",
                                rules_hash, 0)
        return Prepared(action_id, intent, adapter, request, rules_hash)

    def finish(self, action_id: int, intent: Intent, outcome: str, detail: str, reason: str | None,
                rules_hash: str, attempts: int, memo: dict[str, Any] | None = None) -> ActionReport:
        self.audit.record_result(action_id, outcome, detail, reason, rules_hash, memo=memo)
        if outcome == "failed" and attempts and self.on_failed is not None:  # sent and failed: a fallback
            self.on_failed(intent, rules_hash)  # (engine.run.fallback; serial and concurrent paths alike)
        return ActionReport(action_id, intent.action, intent.kind, outcome, detail, attempts)

    def retry_policy(self, intent: Intent) -> RetryPolicy:
        """The retry budget of one intent: its level's (``retry_for``), else the executor's ``retry``."""
        return self.retry_for(intent) if self.retry_for else self.retry

    def preview(self, intent: Intent) -> dict[str, Any]:
        """Dry run: what the adapter would send (no secrets), and whether it could."""
        out: dict[str, Any] = {"action": intent.action, "kind": intent.kind, "targets": list(intent.targets)}
        try:
            adapter = self.adapter(intent.action)
            out["configured"] = adapter.configured() or "yes"
            request: Request = adapter.render(intent)
            out["request"] = {"method": request.method, "target": request.target, "body": request.body}
        except ActionError as exc:
            out["error"] = str(exc)
        return out


def _with_params(intent: Intent, memo: Mapping[str, Any]) -> Intent:
    from dataclasses import replace

    return replace(intent, params={**memo, **intent.params})
