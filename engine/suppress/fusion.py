"""Multi-signal fusion: a small durable-rules ruleset that joins signals of one service.

Takes the ``fusion:`` section (signal kinds as conditions, a window, the fused severity) and
compiles one rule per fusion into a dedicated ruleset ``fusion``: an ``all`` join with one
binding per signal kind, each binding the kind's condition compiled by
:func:`engine.compiler.conditions.compile_expr`. Signals are **posted as events** (consumed when the
join completes) into one sid per ``(fusion, service)`` window, each with an explicit ``id``
(durable-rules identifies messages by content hash otherwise).

Guard-rails (see the durable-rules notes, §2.4 and §7):

* a half-matched event stays in durable-rules' memory until its sid is deleted, so
  :meth:`FusionJoin.expire` deletes the sid of every window whose end has passed (the
  caller sweeps on the event clock);
* at most ``max_windows`` (≤ 1,000, under the engine's 1,024 live sids per ruleset) windows
  are open; opening one more evicts the oldest;
* ``delete_state`` on a sid on which no action has ever run crashes the process (measured:
  segfault / ``free(): invalid pointer`` in 2.0.28), so every window starts by posting an
  ``open`` marker that fires a no-op rule; after that, deleting the sid is safe;
* windows survive a restart: the caller re-posts the unexpired signals from sqlite with
  :attr:`FusionJoin.replaying` set, which makes the join's action a no-op.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.compiler import conditions, text_tests
from engine.compiler.suppression import Fusion
from engine.durable import event_fact
from engine.durable.join import Bound, SignalJoin

RULESET = "fusion"


@dataclass
class Window:
    """One open correlation window: the signals seen so far for one service."""

    fusion_id: str
    service: str
    sid: str
    started: float
    incident_id: str
    kinds: dict[str, str] = field(default_factory=dict)  # event_id → signal kinds (comma-separated)

    def missing(self, fusion: Fusion) -> list[str]:
        seen = {k for ks in self.kinds.values() for k in ks.split(",")}
        return [k for k in fusion.signals if k not in seen]


def compile_fusion(fusions: tuple[Fusion, ...]) -> dict[str, Any]:
    """The ``fusion`` ruleset as plain data: one join per fusion, one binding per signal kind."""
    rules: dict[str, Any] = {}
    for f in fusions:
        bindings = []
        for i, cond in enumerate(f.signals.values()):
            expr = conditions.compile_expr(cond)
            bindings.append({f"s{i}": {"$and": [{"fusion": f.id}, expr]} if expr else {"fusion": f.id}})
        rules[f"fusion:{f.id}"] = {"all": bindings, "run": f"fusion:{f.id}"}
    rules["fusion:$open"] = {"all": [{"m": {"t": "open"}}], "run": "fusion:$open"}
    return {RULESET: rules}


class FusionJoin:
    """The durable-rules join plus the window bookkeeping. One caller thread."""

    def __init__(self, fusions: tuple[Fusion, ...]) -> None:
        self.fusions = {f.id: f for f in fusions}
        self.paths = tuple(sorted({p for f in fusions for c in f.signals.values() for p in conditions.paths(c)}))
        # the contains/matches leaves, evaluated here as in the policy's engine (engine.durable.policy_fact)
        self.tests = text_tests.tester(text_tests.python_tests([c for f in fusions for c in f.signals.values()]))
        self.windows: dict[str, Window] = {}
        self.replaying = False
        self._completed: list[dict[str, Any]] = []
        self._join: SignalJoin | None = None
        self._opened = 0
        # (end, opening order, window) of every window opened; closed ones are skipped when they come up
        self._ends: list[tuple[float, int, Window]] = []
        self._order = itertools.count()
        self._open_count: Counter[str] = Counter()  # fusion id → windows open
        if fusions:
            actions: dict[str, Callable[[Bound], None]] = {f"fusion:{f.id}": self._recorder(f) for f in fusions}
            actions["fusion:$open"] = lambda bound: None
            self._join = SignalJoin(actions, compile_fusion(fusions), RULESET)

    def _recorder(self, fusion: Fusion) -> Callable[[Bound], None]:
        def record(bound: Bound) -> None:
            if self.replaying:
                return
            facts = [bound(f"s{i}") for i in range(len(fusion.signals))]
            self._completed.append({"fusion": fusion.id, "event_ids": [b["event_id"] for b in facts if b]})

        return record

    def kinds(self, fusion: Fusion, doc: Mapping[str, Any]) -> list[str]:
        """The signal kinds this event carries (same semantics as the compiled conditions)."""
        doc = doc if isinstance(doc, dict) else dict(doc)
        return [k for k, cond in fusion.signals.items() if conditions.evaluate(cond, doc)]

    @staticmethod
    def sid(fusion: Fusion, service: str) -> str:
        return f"{fusion.id}|{service}"

    def post(self, fusion: Fusion, sid: str, doc: Mapping[str, Any], event_id: str) -> list[str] | None:
        """Post one signal; the bound event ids when this completed the join, else None."""
        plain = dict(doc)
        fact = {**event_fact(plain, self.paths), "fusion": fusion.id, "event_id": event_id,
                "id": event_id, "sid": sid}
        if passed := self.tests(plain):
            fact[conditions.TESTED] = passed
        self._completed = []
        assert self._join is not None
        if not self._join.post(fact):
            return None  # no binding wants it / already pending in this window
        done = [c for c in self._completed if c["fusion"] == fusion.id]
        return done[0]["event_ids"] if done else None

    def open(self, fusion: Fusion, service: str, now: float, incident_id: str) -> tuple[Window, Window | None]:
        """A new window; also returns the window evicted to stay under ``max_windows``, if any."""
        evicted = None
        if self._open_count[fusion.id] >= fusion.max_windows:
            evicted = min((w for w in self.windows.values() if w.fusion_id == fusion.id), key=lambda w: w.started)
            self.close(evicted.sid)
        window = Window(fusion.id, service, self.sid(fusion, service), now, incident_id)
        if window.sid not in self.windows:
            self._open_count[fusion.id] += 1
        self.windows[window.sid] = window
        heapq.heappush(self._ends, (now + fusion.window, next(self._order), window))
        self._opened += 1
        assert self._join is not None
        self._join.mark({"t": "open", "sid": window.sid, "id": f"open-{self._opened}"})
        return window, evicted

    def close(self, sid: str) -> Window | None:
        """Forget a window and delete its sid: the half-matched events go with it."""
        window = self.windows.pop(sid, None)
        if window is not None:
            self._open_count[window.fusion_id] -= 1
        if self._join is not None:
            self._join.delete(sid)
        return window

    def expire(self, now: float) -> list[Window]:
        """Close every window whose end (start + window) is before ``now``; the end itself is inside."""
        if not self._ends or now <= self._ends[0][0]:  # the caller sweeps on every event: usually nothing ended
            return []
        ended: list[tuple[int, Window]] = []
        while self._ends and now > self._ends[0][0]:
            _, order, window = heapq.heappop(self._ends)
            if self.windows.get(window.sid) is window:
                ended.append((order, window))
        gone = [w for _, w in sorted(ended, key=lambda ow: ow[0])]  # in opening order
        for w in gone:
            self.close(w.sid)
        return gone
