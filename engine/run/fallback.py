"""A page that fails: retried for the level's budget, then handed to the level's fallback, then loud.

The executor's two hooks (:class:`~engine.run.execute.Executor` ``retry_for`` and ``on_failed``):

* :func:`retry_for` — the level's ``retry_budget_minutes`` turns the default 5 attempts (~4 s) into
  enough attempts that the capped backoff (at most 60 s, full jitter: 30 s on average) spans about
  that many minutes; a ``Retry-After`` still wins. Other intents keep the executor's policy.
* :meth:`Fallback.failed` — a ``page`` whose result is ``failed`` requests the same page (same step,
  targets, message) through the next pager of the level's ``fallback`` list that has not been tried
  for that step (rule id ``fallback:<pager>``, due at once). When no pager is left, every channel
  failed: one ERROR log line ``page-undelivered`` and the ``undelivered`` callback (the daemon counts
  it in ``escalation_pages_undelivered_total`` and names it in ``/healthz``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from actions.base import Intent
from actions.retry import RetryPolicy
from engine.model.policy import Policy
from engine.store.audit import Audit

logger = logging.getLogger("escalation_handlers.daemon")
BUDGET_MAX_DELAY = 60.0


def budget_policy(minutes: float, base: RetryPolicy | None = None) -> RetryPolicy:
    """Attempts whose expected backoff sums to about ``minutes``."""
    base = base or RetryPolicy()
    attempts = base.max_attempts + math.ceil(minutes * 60 / (BUDGET_MAX_DELAY / 2))
    return replace(base, max_attempts=attempts, max_delay=BUDGET_MAX_DELAY)


def retry_for(policy: Policy, default: RetryPolicy) -> Callable[[Intent], RetryPolicy]:
    budgets = {lv.level: lv.retry_budget_minutes for lv in policy.levels.values() if lv.retry_budget_minutes}

    def pick(intent: Intent) -> RetryPolicy:
        minutes = budgets.get(intent.level) if intent.kind == "page" else None
        return budget_policy(minutes, default) if minutes else default

    return pick


@dataclass
class Fallback:
    audit: Audit
    policy: Policy
    undelivered: Callable[[Intent, list[str]], None] | None = None

    def failed(self, intent: Intent, rules_hash: str) -> list[int]:
        """A page ended ``failed``: request it through the next fallback pager, or report it undelivered."""
        if intent.kind != "page":
            return []
        level = next((lv for lv in self.policy.levels.values() if lv.level == intent.level), None)
        chain = level.fallback if level else ()
        tried = self.audit.pagers_tried(intent.incident_id, intent.step)
        for pager in chain:
            if pager not in tried:
                nxt = replace(intent, action=pager, rule_id=f"fallback:{pager}",
                              params={k: v for k, v in intent.params.items() if k != "routing_key_env"})
                return self.audit.request_actions([nxt], intent.event_id, rules_hash)
        failures = [f"{action}: {detail[:200]}" for action, detail in
                    self.audit.page_failures(intent.incident_id, intent.step)]
        logger.error(f"page undelivered: every channel failed for {intent.incident_id} step {intent.step} "
                     f"({'; '.join(failures)})", extra={"event": "page-undelivered", "incident_id": intent.incident_id,
                                                        "step": intent.step})
        if self.undelivered is not None:
            self.undelivered(intent, failures)
        return []
