"""Per-event cost of three pipeline parts, each timed in isolation on ``throughput.synthetic()`` events.

``intake``    :func:`engine.intake.parse` + :func:`engine.model.event.event_document`, one event at a time;
``classify``  :func:`engine.decide.classify.predict_many` on batches of ``--batch`` parsed events;
``history``   the ``history.*`` provider as the pipeline calls it (once per event, while the pipeline
              appends decisions), measured by wrapping ``Decider.history`` during a real run ("in a run":
              CPU caches are cold from the rest of the pipeline), and in isolation: the same decision rows
              replayed into a fresh audit log, one insert then one timed call per event ("isolated").

Times are thread CPU time (``time.thread_time``), so preemption by other processes on a shared
machine does not count; each figure is the best of ``--repeat`` runs, in microseconds per event.
History is timed per call inside a run; the cost of the timer itself (measured around a no-op
provider) is subtracted.

    python benchmarks/parts.py --events 5000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from throughput import synthetic  # noqa: E402

from engine.compiler.compile import compile_policy  # noqa: E402
from engine.compiler.validate import validate  # noqa: E402
from engine.decide.classify import NO_MODEL, load_model, predict_many  # noqa: E402
from engine.decide.history import AuditHistory  # noqa: E402
from engine.intake import parse  # noqa: E402
from engine.model.event import Event, event_document  # noqa: E402
from engine.run.pipeline import Pipeline  # noqa: E402
from engine.store.audit import Audit  # noqa: E402


def best(run: Callable[[], float], repeat: int) -> float:
    return min(run() for _ in range(repeat))


clock = time.thread_time


def intake_cost(raw: list[bytes]) -> float:
    start = clock()
    for data in raw:
        for item in parse(data):
            event_document(item)  # type: ignore[arg-type]
    return (clock() - start) / len(raw) * 1e6


def classify_cost(events: list[Event], batch: int) -> float:
    state = load_model()
    start = clock()
    for first in range(0, len(events), batch):
        predict_many(state, events[first:first + batch])
    return (clock() - start) / len(events) * 1e6


def timer_overhead(calls: int = 20000) -> float:
    """Seconds the per-call timing in :func:`history_cost` adds to one call."""
    spent = 0.0

    def noop(service: str, at: Any) -> None:
        return None

    for _ in range(calls):
        start = clock()
        noop("s", None)
        spent += clock() - start
    return spent / calls


def history_cost(raw: list[bytes], batch: int, rows: list[tuple[Any, ...]] | None = None) -> float:
    policy, diags = validate(ROOT / "rules")
    if policy is None:
        raise SystemExit("\n".join(d.text() for d in diags))
    with tempfile.TemporaryDirectory() as tmp:
        audit = Audit(Path(tmp) / "bench.db")
        pipe = Pipeline(compile_policy(policy), audit, model=NO_MODEL)
        inner = pipe.decider.history
        assert inner is not None
        spent = [0.0]

        def timed(service: str, at: Any) -> dict[str, Any]:
            start = clock()
            out = inner(service, at)
            spent[0] += clock() - start
            return out

        pipe.decider.history = timed
        for first in range(0, len(raw), batch):
            pipe.process_batch([(f"e{i}.json", raw[i], None) for i in range(first, min(first + batch, len(raw)))])
        if rows is not None:
            rows += audit.conn.execute("SELECT * FROM decisions ORDER BY rowid").fetchall()
        audit.close()
    return (spent[0] / len(raw) - timer_overhead()) * 1e6


def history_isolated(rows: list[tuple[Any, ...]], events: list[Event]) -> float:
    """Per call: the provider after one more decision row, on a warm loop (rows from a real run)."""
    with tempfile.TemporaryDirectory() as tmp:
        audit = Audit(Path(tmp) / "bench.db")
        history = AuditHistory(audit.history_rows())
        marks = ", ".join("?" * len(rows[0]))
        audit.begin()
        spent = 0.0
        for row, event in zip(rows, events, strict=False):
            start = clock()
            history(event.service, event.timestamp)
            spent += clock() - start
            audit.conn.execute(f"INSERT INTO decisions VALUES ({marks})", row)
        audit.commit()
        audit.close()
    return (spent / len(rows) - timer_overhead()) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-history", action="store_true", help="history needs a full pipeline run (slow)")
    args = ap.parse_args()
    raw = synthetic(args.events)
    events = [e for data in raw for e in parse(data) if isinstance(e, Event)]
    print(f"intake (parse + validate + event_document): {best(lambda: intake_cost(raw), args.repeat):6.1f} µs/event")
    print(f"classify (predict_many, batch {args.batch}):       "
          f"{best(lambda: classify_cost(events, args.batch), args.repeat):6.1f} µs/event")
    if not args.skip_history:
        rows: list[tuple[Any, ...]] = []  # the decision rows of the first run, replayed by history_isolated
        runs = [history_cost(raw, args.batch, rows)]
        runs += [history_cost(raw, args.batch) for _ in range(max(1, args.repeat // 2) - 1)]
        print(f"history (AuditHistory per event, in a run):  {min(runs):6.1f} µs/event")
        print(f"history (AuditHistory per event, isolated):  "
              f"{best(lambda: history_isolated(rows, events), args.repeat):6.1f} µs/event")


if __name__ == "__main__":
    main()
