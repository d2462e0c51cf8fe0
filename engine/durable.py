"""The only module that talks to durable-rules 2.0.28. Everything it does is a guard-rail.

How durable-rules really behaves (measured; see docs/durable-rules.md in the project notes):

* ``post()`` fires only the first matching rule, so events enter as **facts**
  (``assert_fact``): every matching rule fires, in ``pri`` then definition order.
* Messages are identified by content hash per session (``sid``), and the session table holds
  1,024 live sids. Every event therefore gets a fresh sid, every message an explicit ``id``,
  and the sid is deleted as soon as the event is decided: nothing accumulates per event.
* The Host starts two background threads that run actions and timers. :class:`_Host`
  disables them (``_run``); the engine is pumped from the caller's thread only, and
  actions only *record* the firing (:class:`Firing`) — side effects run later, from the
  audit log's outbox.
* Exceptions raised in actions never reach the caller; they land in the returned state as
  ``exception``. :meth:`Engine.decide` checks for it and raises.
* A float with a signed exponent (``1e-05``, as ``json.dumps`` writes it) is rejected by
  the engine's JSON parser, so facts are serialized here with positional floats.
* Its compile errors are bare numbers and some limits hang the process: the compiler and
  :mod:`engine.checks` enforce them before a ruleset gets here.
* It builds from the sdist and fails to import on Python 3.13; ``pyproject.toml`` pins
  ``<3.13``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

from engine.compile import RULESET, CompiledPolicy, RuleMeta
from engine.errors import RulesError


class EngineFailure(RulesError):
    """The engine rejected a message or an action failed inside it (a bug, not bad input)."""


@dataclass
class Firing:
    """One rule firing: which rule, in which stage, and the facts bound to it."""

    meta: RuleMeta
    bindings: dict[str, dict[str, Any]]
    seq: int
    selected: bool = False  # decided the stage (first severity / first remediation)


@dataclass
class _Run:
    sid: str
    firings: list[Firing] = field(default_factory=list)
    severity: str | None = None
    remediated: bool = False


class _Host(durable_engine.Host):
    def __init__(self, actions: Mapping[str, Callable[[Any], None]], definition: dict[str, Any]) -> None:
        self._actions = actions  # must be set before super().__init__ registers the rulesets
        super().__init__(definition)

    def _run(self) -> None:  # no background dispatch/timer threads: we pump from one thread
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._actions[action_name]


def encode(value: Any) -> str:
    """JSON for durable-rules: floats without exponent, NaN/inf refused, UTF-8 kept.

    The stdlib encoder (C) does the work; only floats that ``repr`` would write with an
    exponent (|x| < 1e-4 or ≥ 1e16, rare) are swapped for placeholders and written positionally.
    """
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise EngineFailure(f"cannot post to the engine: {exc}") from exc
    if _EXPONENT.search(text) is None:  # the common case: no float was written with an exponent
        return text
    swaps: list[str] = []
    text = _ENCODER.encode(_swap_floats(value, swaps))
    for i, digits in enumerate(swaps[1:]):  # swaps[0] is this call's random tag
        text = text.replace(f'"\\u0000{swaps[0]}{i}\\u0000"', digits, 1)
    return text


def _swap_floats(value: Any, swaps: list[str]) -> Any:
    if type(value) is float:
        if value != value or value in (_INF, -_INF):
            raise EngineFailure("non-finite number cannot be posted to the engine")
        if value != 0.0 and not (1e-4 <= abs(value) < 1e16):
            if not swaps:
                swaps.append(secrets.token_hex(6))  # event text cannot forge a placeholder
            swaps.append(format(Decimal(repr(value)), "f"))
            return f"\x00{swaps[0]}{len(swaps) - 2}\x00"
        return value
    if isinstance(value, dict):
        return {k: _swap_floats(v, swaps) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_swap_floats(v, swaps) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise EngineFailure(f"cannot post a {type(value).__name__} to the engine")


_INF = float("inf")
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_EXPONENT = re.compile(r"\d[eE][-+]?\d")  # also matches such text inside strings: then the slow path runs


class Engine:
    """One compiled policy loaded into durable-rules. Not thread-safe: one caller thread."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled
        self._sids = itertools.count(1)
        self._run: _Run | None = None
        actions = {name: self._recorder(meta) for name, meta in compiled.rules.items()}
        self._host = _Host(actions, compiled.definition())
        self._ruleset = self._host.get_ruleset(RULESET)

    def _recorder(self, meta: RuleMeta) -> Callable[[Any], None]:
        # Exactly one parameter: durable-rules treats a two-parameter callable as async.
        def record(c: Any) -> None:
            run = self._run
            assert run is not None
            bindings = c._m  # {alias: fact}, freshly decoded by durable-rules for this firing
            firing = Firing(meta, bindings, len(run.firings))
            if meta.stage == "severity" and run.severity is None:
                run.severity = meta.severity
                firing.selected = True
                fact = bindings["m"]
                self._retract(fact)  # drops every other pending severity activation
                self._assert({**fact, "t": "severity", "id": "severity", "level": meta.severity})
            elif meta.stage == "remediate" and not run.remediated:
                run.remediated = True
                firing.selected = True
                self._retract(bindings["sev"])  # drops the other pending remediation activations
            elif meta.stage in ("route", "notify"):
                firing.selected = True
            run.firings.append(firing)

        return record

    # Inside an action, Closure.assert_fact/retract_fact would json.dumps the fact (and a float
    # such as 1e-05 breaks the engine's parser), so the wrapper posts its own encoding.
    def _assert(self, fact: Mapping[str, Any]) -> None:
        self._ruleset._handle_result(durable_rules_engine.assert_fact(self._ruleset._handle, encode(fact)), fact)

    def _retract(self, fact: Mapping[str, Any]) -> None:
        self._ruleset._handle_result(durable_rules_engine.retract_fact(self._ruleset._handle, encode(fact)), fact)

    def decide(self, fact: Mapping[str, Any]) -> list[Firing]:
        """Assert one event fact, run every activation to completion, forget the session."""
        sid = str(next(self._sids))
        self._run = run = _Run(sid)
        payload = encode({**fact, "t": "event", "id": "event", "sid": sid})
        errors: list[Any] = []
        state: list[Any] = []
        try:
            result = durable_rules_engine.assert_fact(self._ruleset._handle, payload)
            handle = self._ruleset._handle_result(result, fact)
            self._ruleset.do_actions(handle, lambda e, s: (errors.append(e) if e else None, state.append(s)))
        except durable_engine.MessageNotHandledException:
            pass  # impossible while severity:default exists; kept for clarity
        except durable_rules_engine.error as exc:
            raise EngineFailure(f"engine rejected the event: {exc}") from exc
        finally:
            self._run = None
            with contextlib.suppress(Exception):  # a sid with no state left is not an error
                self._host.delete_state(RULESET, sid)
        if errors:
            raise EngineFailure(f"engine action failed: {errors[0]}")
        if state and isinstance(state[-1], dict) and state[-1].get("exception"):
            raise EngineFailure(f"engine action raised: {state[-1]['exception']}")
        return run.firings


def event_fact(doc: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """Only the fields the rules reference, nested as in the event (bounded, small)."""
    fact: dict[str, Any] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        value = doc.get(head)
        if rest:
            if isinstance(value, Mapping) and rest in value:
                fact.setdefault(head, {})[rest] = value[rest]
        elif value is not None:
            fact[head] = value
    return fact
