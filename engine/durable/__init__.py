"""The durable-rules 2.0.28 boundary (this package is its only importer; the fusion join is ``join.py``).
Everything it does is a guard-rail.

How durable-rules really behaves (measured; the project's durable-rules notes have the experiments):

* ``post()`` fires only the first matching rule, so events enter as **facts**
  (``assert_fact``): every matching rule fires, in ``pri`` then definition order.
* Messages are identified by content hash per session (``sid``), a hash hit is taken for
  "already observed", and the session table holds 1,024 live sids. Every message therefore
  gets an explicit, never repeated ``id``, and every fact of an event is retracted once the
  event is decided: nothing accumulates per event, so the session holds at most the two facts
  of the event in hand. The session is reused for :data:`SESSION_EVENTS` events, then deleted
  and replaced (and at once after any failure). Creating a session costs more than deciding
  the event: durable-rules clears a per-node state table for it (~17 % of the instructions of
  a whole pipeline decision when every event had its own sid; measured with callgrind).
* The Host starts two background threads that run actions and timers. :class:`_Host`
  disables them (``_run``); :class:`Engine` runs the activations itself from the caller's
  thread and only *records* each firing (:class:`Firing`) — side effects run later, from the
  audit log's outbox.
* Exceptions raised in durable-rules' own action dispatcher never reach the caller (they land
  in the session state); :class:`Engine` does not use that dispatcher, so nothing is swallowed.
* A float with a signed exponent (``1e-05``, as ``json.dumps`` writes it) is rejected by
  the engine's JSON parser, so facts are serialized here with positional floats.
* Its regex engine (``$mt``) loses matches and refuses ordinary patterns (error 501), so no regex
  reaches it: text tests arrive as derived booleans (:func:`policy_fact`, ``engine.compiler.conditions``).
* Its compile errors are bare numbers and some limits hang the process: the compiler and
  :mod:`engine.compiler.checks` enforce them before a ruleset gets here.
* It builds from the sdist and fails to import on Python 3.13; ``pyproject.toml`` pins
  ``<3.13``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import durable_rules_engine
import orjson
from durable import engine as durable_engine

from engine.compiler import conditions
from engine.compiler.compile import RULESET, CompiledPolicy
from engine.model.errors import RulesError
from engine.model.firing import Firing, RuleMeta, selected  # noqa: F401 - re-exported


class EngineFailure(RulesError):
    """The engine rejected a message or an action failed inside it (a bug, not bad input)."""


class _RulesetJson:
    """Stands in for :mod:`json` inside ``durable.engine`` while it creates a ruleset: its ``json.dumps``
    writes a rule's constant such as ``0.00001`` as ``1e-05``, which the engine's parser rejects
    (``Could not create ruleset, error code: 204``); :func:`encode` writes it positionally."""

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        return encode(value)


class _Host(durable_engine.Host):
    def __init__(self, actions: Mapping[str, Callable[[Any], None]], definition: dict[str, Any]) -> None:
        self._actions = actions  # must be set before super().__init__ registers the rulesets
        saved, durable_engine.json = durable_engine.json, _RulesetJson
        try:
            super().__init__(definition)
        finally:
            durable_engine.json = saved

    def _run(self) -> None:  # no background dispatch/timer threads: we pump from one thread
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._actions[action_name]


def encode(value: Any) -> str:
    """JSON for durable-rules: floats without exponent, NaN/inf refused, UTF-8 kept.

    The stdlib encoder (C) does the work; only floats that ``repr`` would write with an
    exponent (|x| < 1e-4 or ≥ 1e16, rare) are swapped for placeholders and written positionally.
    """
    try:  # orjson first (~10x the stdlib here); it writes NaN/inf as null, so null means "check"
        text = orjson.dumps(value).decode()
        if "null" not in text and _EXPONENT.search(text) is None:
            return text  # the common case: no null and no float written with an exponent
    except TypeError:
        pass  # e.g. an int beyond 64 bits: the stdlib path below decides
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise EngineFailure(f"cannot post to the engine: {exc}") from exc
    if _EXPONENT.search(text) is None:
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


SESSION_EVENTS = 10_000  # events decided in one session before it is replaced (see Engine.decide)


class Engine:
    """One compiled policy loaded into durable-rules. Not thread-safe: one caller thread.

    Runs the activations itself on the C API (``start_action_for_state`` /
    ``complete_and_start_action``) instead of durable-rules' Python dispatcher: that one builds
    a ``Closure``, reads the clock twice and re-serialises the session state per firing, none of
    which a recording action needs, and it swallows exceptions raised in actions. Here an action
    that raises abandons the activation and surfaces as :class:`EngineFailure`.
    """

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled
        self._sids = itertools.count(1)
        self._sid = ""  # the session every event is decided in (see decide)
        self._uses = 0
        self._n = itertools.count(1)
        self._host = _Host({name: _never for name in compiled.rules}, compiled.definition())
        self._handle = self._host.get_ruleset(RULESET)._handle
        self._meta = compiled.rules
        self._severity_paths = compiled.severity_paths

    def decide(self, fact: Mapping[str, Any]) -> list[Firing]:
        """Assert one event fact, run every activation to completion, retract what is left."""
        if self._uses >= SESSION_EVENTS or not self._sid:
            self._rotate()
        self._uses += 1
        sid, n = self._sid, next(self._n)
        body = encode(fact)[:-1]  # "{...": our keys are appended to the encoded event
        sep = "," if len(body) > 1 else ""
        event = f'{body}{sep}"t":"event","id":"e{n}","sid":"{sid}"}}'
        firings: list[Firing] = []
        severity: str | None = None
        severity_fact = ""
        remediated = False
        handle = self._handle
        clean = False
        try:
            state = _check(durable_rules_engine.assert_fact(handle, event))
            started = durable_rules_engine.start_action_for_state(handle, state)
            message = started[1] if started else None
            while message:
                meta = self._meta.get(message[2:message.find('"', 2)]) or self._meta[next(iter(orjson.loads(message)))]
                firing = Firing(meta, message, len(firings))
                if meta.stage == "severity" and severity is None:
                    severity = meta.severity
                    firing.selected = True
                    # retracting the event fact drops every other pending severity activation
                    _check(durable_rules_engine.retract_fact(handle, event))
                    event = ""
                    # only the fields the later stages read: a smaller message to parse, match and retract
                    firing.asserted = event_fact(fact, self._severity_paths)
                    sev_body = encode(firing.asserted)[:-1] if firing.asserted else "{"
                    sev_sep = "," if len(sev_body) > 1 else ""
                    severity_fact = (f'{sev_body}{sev_sep}"t":"severity","id":"s{n}","sid":"{sid}",'
                                     f'"level":"{severity}"}}')
                    _check(durable_rules_engine.assert_fact(handle, severity_fact))
                elif meta.stage == "remediate" and not remediated:
                    remediated = firing.selected = True
                    _check(durable_rules_engine.retract_fact(handle, severity_fact))  # drops the other remediations
                    severity_fact = ""
                elif meta.stage in ("route", "notify"):
                    firing.selected = True
                firings.append(firing)
                message = durable_rules_engine.complete_and_start_action(handle, state)
            for left in (event, severity_fact):  # nothing of this event stays in the session
                if left:
                    _check(durable_rules_engine.retract_fact(handle, left))
            clean = True
        except durable_rules_engine.error as exc:
            raise EngineFailure(f"engine rejected the event: {exc}") from exc
        finally:
            if not clean:
                self._rotate()
        return firings

    def _rotate(self) -> None:
        """A new session; the old one (if any) is deleted with whatever it still holds."""
        if self._sid:
            with contextlib.suppress(Exception):  # a sid with no state left is not an error
                durable_rules_engine.delete_state(self._handle, self._sid)
        self._sid, self._uses = str(next(self._sids)), 0


def _never(c: Any) -> None:  # Engine runs activations itself; durable-rules' dispatcher never calls this
    raise EngineFailure("durable-rules dispatched an action the engine runs itself")


def _check(result: tuple[int, int]) -> int:
    """The state handle of an assert/retract; durable-rules' result codes as errors."""
    code, state = result
    if code in (0, 3):  # 3: handled, nothing pending for this state (durable-rules then uses handle 0)
        return state if code == 0 else 0
    raise EngineFailure(f"engine refused the message (code {code}: "
                        f"{'not handled' if code == 1 else 'already observed' if code == 2 else 'unknown'})")


def policy_fact(compiled: CompiledPolicy, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The event fact :meth:`Engine.decide` takes: the fields the rules test, plus the ``tested`` block
    of the text tests, evaluated here by the same evaluator as ``rules explain`` (never by durable-rules'
    regex engine, which misses matches and refuses ordinary patterns; see engine.compiler.conditions)."""
    fact = event_fact(doc, compiled.event_paths)
    if compiled.python_tests:
        passed = compiled.run_tests(doc if type(doc) is dict else dict(doc))
        if passed:
            fact[conditions.TESTED] = passed
    return fact


def event_fact(doc: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """Only the fields the rules reference, nested as in the event (bounded, small)."""
    tops, nested = _plan(paths)
    fact: dict[str, Any] = {}
    for head in tops:
        value = doc.get(head)
        if value is not None:
            fact[head] = value
    for head, rests in nested:
        value = doc.get(head)
        # type() first: isinstance against the Mapping ABC costs ~10x, and the document is plain dicts
        if value and (type(value) is dict or isinstance(value, Mapping)):
            picked = {rest: value[rest] for rest in rests if rest in value}
            if picked:
                fact[head] = picked
    return fact


@functools.lru_cache(maxsize=64)
def _plan(paths: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """``("service", "metrics.cpu", "metrics.mem")`` → ``(("service",), (("metrics", ("cpu", "mem")),))``."""
    tops: list[str] = []
    nested: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, []).append(rest)
        elif head not in tops:
            tops.append(head)
    # a field posted whole already carries its nested paths
    return tuple(tops), tuple((h, tuple(r)) for h, r in nested.items() if h not in tops)
