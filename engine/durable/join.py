"""A join over events (durable-rules' ``all``): the fusion ruleset's engine half, behind three calls.

Signals are **posted as events** (``assert_event``: consumed when the join completes), each with an
explicit ``id``, into one sid per window. The caller's actions receive :data:`Bound`: the fact bound
to an alias (``None`` if that alias is unbound). Unlike :class:`engine.durable.Engine`, this join runs
durable-rules' own action dispatcher (``do_actions``): its errors are collected and raised here as
:class:`~engine.durable.EngineFailure`, so nothing is swallowed. ``delete_state`` on a sid on which no
action has ever run crashes the process (2.0.28), hence :meth:`SignalJoin.mark`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

from engine.durable import EngineFailure, _Host, encode

Bound = Callable[[str], "dict[str, Any] | None"]


def _action(run: Callable[[Bound], None]) -> Callable[[Any], None]:
    def action(c: Any) -> None:  # exactly one parameter: a synchronous action in durable-rules
        run(lambda alias: _fact(getattr(c, alias, None)))

    return action


def _fact(binding: Any) -> dict[str, Any] | None:
    return binding._d if binding else None  # the bound message's fields (durable.engine.Content)


class SignalJoin:
    """One ruleset of ``all`` joins, posted to by event; one caller thread."""

    def __init__(self, actions: Mapping[str, Callable[[Bound], None]], definition: dict[str, Any],
                 ruleset: str) -> None:
        self.name = ruleset
        self._host = _Host({name: _action(run) for name, run in actions.items()}, definition)
        self._ruleset = self._host.get_ruleset(ruleset)

    def post(self, event: dict[str, Any]) -> bool:
        """Post one event (``sid`` and ``id`` set) and run the actions it completes; False when no rule
        wants it or it is already pending in its sid."""
        errors: list[Any] = []
        try:
            self._dispatch(event, lambda e, s: errors.append(e) if e else None)
        except (durable_engine.MessageNotHandledException, durable_engine.MessageObservedException):
            return False
        except durable_rules_engine.error as exc:
            raise EngineFailure(f"{self.name} engine rejected the event: {exc}") from exc
        if errors:
            raise EngineFailure(f"{self.name} action failed: {errors[0]}")
        return True

    def mark(self, event: dict[str, Any]) -> None:
        """Post an event that fires a no-op rule, so that its sid may be deleted safely later."""
        self._dispatch(event, lambda e, s: None)

    def delete(self, sid: str) -> None:
        """Drop the sid's state: its half-matched events go with it (a sid never posted to has none)."""
        with contextlib.suppress(Exception):
            self._host.delete_state(self.name, sid)

    def _dispatch(self, event: dict[str, Any], complete: Callable[[Any, Any], None]) -> None:
        ruleset = self._ruleset
        handle = ruleset._handle_result(durable_rules_engine.assert_event(ruleset._handle, encode(event)), event)
        ruleset.do_actions(handle, complete)
