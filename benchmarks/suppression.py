"""Cost of the suppression stage per event: ``SuppressionStage.assess`` timed inside the full pipeline.

Runs the pipeline (shipped rules, one transaction per ``--batch`` files) and times each
``assess`` call, grouped by outcome (new, repeat, attached, ...). Workloads built from
``throughput.py``'s ``synthetic()`` events (same metrics, so the same severities):

``repeat``  the throughput benchmark as is: six services, one fingerprint each, one event a
            second, so almost every event repeats an open incident (dedup join)
``new``     every event from another service: a new incident each (ten events a second)
``attach``  1,000 services with 10 fingerprints each, ten events a second: mostly group attaches
``mixed``   300 services with 20 fingerprints each, one event a second, 3% resolved: new
            incidents (many after the dedup window closed the previous one: " +close"), group
            attaches, repeats, closes, member resolves

A repeat or an attach that also sends a group update (a re-decision) is counted apart (" +update").

    python benchmarks/suppression.py --events 20000
    python benchmarks/suppression.py --workload mixed
    python benchmarks/suppression.py --isolated     # the stage alone

``assess`` includes the re-decision of a group update or an upgrade (``Decider.decide``, the
engine's cost, not this stage's): the "own" column leaves it out. In the full pipeline the
figures are noisy (the engine around it evicts caches, its garbage triggers collections that
land in the stage): ``--isolated`` decides every event first, freezes what exists for the
garbage collector, then runs only ``assess`` (one transaction per batch). On a shared machine
the medians are the figures least disturbed by other work.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from statistics import fmean, median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import START, feed, synthetic  # noqa: E402
from engine.compiler.compile import compile_policy  # noqa: E402
from engine.compiler.validate import validate  # noqa: E402
from engine.intake import parse  # noqa: E402
from engine.run.pipeline import Pipeline  # noqa: E402
from engine.store.audit import Audit  # noqa: E402


def variant(n: int, services: int | None, fingerprints: int, step: float, resolved: float = 0.0,
            seed: int = 11) -> list[bytes]:
    """``synthetic()`` events spread over ``services`` (None: a new one per event), ``step`` seconds apart."""
    rng = random.Random(seed)
    out = []
    for i, raw in enumerate(synthetic(n, seed)):
        ev = json.loads(raw)
        service = i if services is None else rng.randrange(services)
        ev["service"] = f"svc-{service}"
        ev["fingerprint"] = f"svc-{service}/alert-{rng.randrange(fingerprints)}"
        ev["timestamp"] = (START + timedelta(seconds=i * step)).isoformat().replace("+00:00", "Z")
        if rng.random() < resolved:
            ev["status"] = "resolved"
        out.append(json.dumps(ev).encode())
    return out


WORKLOADS: dict[str, Callable[[int], list[bytes]]] = {
    "repeat": synthetic,
    "new": lambda n: variant(n, None, 1, 0.1),
    "attach": lambda n: variant(n, 1000, 10, 0.1),
    "mixed": lambda n: variant(n, 300, 20, 1.0, resolved=0.03),
}


class Timings:
    """Seconds per ``assess`` call by outcome, with and without the re-decisions inside it."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = defaultdict(list)
        self.own: dict[str, list[float]] = defaultdict(list)  # spent minus the re-decisions

    def wrap(self, stage: Any) -> None:
        """Time ``stage.assess``; an outcome gets " +close" when the event also closed an idle incident, and a
        repeat or attach " +update" when it sent a group update (a re-decision)."""
        assess, redecide, close = stage.assess, stage.redecide, stage._close
        clock = time.perf_counter
        redecided = [0.0]
        closed = [False]
        updated = [False]

        def marking_close(*args: Any, **kwargs: Any) -> Any:
            closed[0] = True
            return close(*args, **kwargs)

        def timed_redecide(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return redecide(*args, **kwargs)
            finally:
                redecided[0] += clock() - start
                updated[0] = True

        def timed(event: Any, decision: Any) -> Any:
            redecided[0], closed[0], updated[0] = 0.0, False, False
            start = clock()
            verdict = assess(event, decision)
            took = clock() - start
            key = f"{verdict.outcome}/{verdict.mechanism}" if verdict.mechanism else verdict.outcome
            key += " +close" if closed[0] and verdict.outcome != "closed" else ""
            key += " +update" if updated[0] and verdict.outcome in ("repeat", "attached") else ""
            self.spent[key].append(took)
            self.own[key].append(took - redecided[0])
            return verdict

        stage.assess, stage.redecide, stage._close = timed, timed_redecide, marking_close

    def report(self) -> None:
        every = [t for ts in self.spent.values() for t in ts]
        own = [t for ts in self.own.values() for t in ts]
        print(f"  assess per event: mean {fmean(every) * 1e6:.1f} us, own (no re-decision) mean "
              f"{fmean(own) * 1e6:.1f} us, median {median(own) * 1e6:.1f} us")
        print(f"  {'outcome':24s} {'events':>7s}  {'mean':>8s}  {'own mean':>8s}  {'own median':>10s}")
        for key, ts in sorted(self.spent.items(), key=lambda kv: -len(kv[1])):
            print(f"  {key:24s} {len(ts):7,d}  {fmean(ts) * 1e6:6.1f}us  {fmean(self.own[key]) * 1e6:6.1f}us  "
                  f"{median(self.own[key]) * 1e6:8.1f}us")


def run(events: list[bytes], rules: Path, batch: int, isolated: bool = False) -> tuple[float, Timings]:
    """Events/s of the pipeline (of the stage alone when ``isolated``) and the stage's timings."""
    policy, diags = validate(rules)
    if policy is None:
        raise SystemExit("\n".join(d.text() for d in diags))
    compiled = compile_policy(policy)
    timings = Timings()
    with tempfile.TemporaryDirectory() as tmp:
        audit = Audit(Path(tmp) / "bench.db")
        pipe = Pipeline(compiled, audit)
        if isolated:
            items = [item for data in events for item in parse(data)]
            decisions = [pipe.decider.decide(item) for item in items]
            timings.wrap(pipe.suppression)
            gc.collect()
            gc.freeze()
            start = time.perf_counter()
            for first in range(0, len(items), batch):
                audit.begin()
                for i in range(first, min(first + batch, len(items))):
                    pipe.suppression.assess(items[i], decisions[i])
                audit.commit()
            elapsed = time.perf_counter() - start
            gc.unfreeze()
        else:
            timings.wrap(pipe.suppression)
            start = time.perf_counter()
            for _ in feed(pipe, events, batch):
                pass
            elapsed = time.perf_counter() - start
        audit.close()
    return len(events) / elapsed, timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=100, help="files per transaction (group commit)")
    ap.add_argument("--workload", choices=tuple(WORKLOADS), default="repeat")
    ap.add_argument("--rules", default=str(ROOT / "rules"))
    ap.add_argument("--isolated", action="store_true", help="decide every event first, then time the stage alone")
    args = ap.parse_args()
    events = WORKLOADS[args.workload](args.events)
    rate, timings = run(events, Path(args.rules), args.batch, args.isolated)
    what = "the stage alone" if args.isolated else "full pipeline"
    print(f"workload {args.workload}, {args.events:,} events: {what} {rate:,.0f} events/s")
    timings.report()


if __name__ == "__main__":
    main()
