"""Engine throughput: the full pipeline versus raw durable-rules on the same compiled ruleset.

Full pipeline, per event: parse the JSON bytes, validate the canonical event (pydantic),
classifier + history facts when the policy uses them, every stage in the engine (severity,
route, notify, remediate), templates rendered, and every audit row (intake, event, facts,
firings, decision, outbox) committed to a sqlite file — one transaction per batch of
``--batch`` files (group commit, as the daemon commits a claimed batch; ``--batch 1`` for a
transaction per file).

Raw durable-rules, in the same run: the same compiled ruleset with actions that only do the
chaining the policy needs (retract the event fact, assert the same severity fact), and the same
session scheme as ``engine.durable`` (one session for ``SESSION_EVENTS`` events, an event's
facts retracted once it is decided) — no parsing,
validation, classification, rendering or audit. It posts exactly the facts the full run posted
(read back from the audit log's ``facts`` table, so ``model.*`` and ``history.*`` included),
pre-encoded, straight to the C engine, and runs the activations with durable-rules' own
dispatcher (``Ruleset.do_actions``).

Also printed: our engine module alone (``engine.durable.Engine``) on the same facts. It runs
the activations itself on the C API, which is cheaper than durable-rules' dispatcher, so the
full pipeline's engine stage costs less than the "raw" figure.

    python benchmarks/throughput.py            # 100,000 events
    python benchmarks/throughput.py --events 20000
    python benchmarks/throughput.py --no-model # rules alone: what the classifier costs

Prints decisions/s for both (wall clock, and per CPU-second of this process, which a busy
machine disturbs less), their ratio, the time per decision split into our engine module and
the rest of the pipeline, and the peak RSS after 10k events and at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import durable_rules_engine  # noqa: E402

from engine.compiler.compile import RULESET, compile_policy  # noqa: E402
from engine.compiler.validate import validate  # noqa: E402
from engine.decide.classify import NO_MODEL  # noqa: E402
from engine.durable import SESSION_EVENTS, Engine, _Host, encode, event_fact  # noqa: E402
from engine.run.daemon.heap import settle_heap  # noqa: E402
from engine.run.pipeline import Pipeline  # noqa: E402
from engine.store.audit import Audit  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
SERVICES = ["payment-api", "user-service", "auth-service", "checkout-web", "search-api", "unowned-svc"]


def synthetic(n: int, seed: int = 7) -> list[bytes]:
    """A realistic mix: mostly healthy, some warnings, fewer majors, rare outages."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        roll = rng.random()
        m: dict[str, float] = {"availability": 0.9995, "error_rate": rng.uniform(0, 0.004),
                               "latency_p99_ms": rng.uniform(80, 400), "cpu_utilization": rng.uniform(0.2, 0.7)}
        cond: dict[str, bool] = {}
        if roll < 0.03:
            m["availability"] = rng.uniform(0.0, 0.4)
            cond["service_unavailable"] = True
        elif roll < 0.13:
            m["latency_p99_ms"] = rng.uniform(1000, 4000)
            cond["load_driven" if rng.random() < 0.5 else "crash_loop"] = True
        elif roll < 0.35:
            m["error_rate"] = rng.uniform(0.01, 0.04)
        stamp = (START + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")  # one event per second
        ev = {"event_id": f"bench-{seed}-{i}", "timestamp": stamp, "source": "bench",
              "service": rng.choice(SERVICES), "title": "synthetic signal", "metrics": m, "conditions": cond,
              "logs": [{"level": "error", "message": "x", "count": rng.randint(0, 30)}],
              "traces": {"error_spans": rng.randint(0, 5), "slow_spans": rng.randint(0, 20), "total_spans": 1000}}
        out.append(json.dumps(ev).encode())
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def feed(pipe: Pipeline, events: list[bytes], batch: int) -> Iterator[int]:
    """Decide ``events`` in transactions of ``batch`` files; yields each batch's first index once committed."""
    for first in range(0, len(events), batch):
        chunk = [(f"e{i}.json", events[i], None) for i in range(first, min(first + batch, len(events)))]
        for result in pipe.process_batch(chunk):
            if not result.ok:
                raise SystemExit(f"{result.name} rejected: {result.reason}")
        yield first


def full(compiled: Any, events: list[bytes], db: Path, batch: int,
         model: Any = None) -> tuple[float, float, float, float, list[str]]:
    audit = Audit(db)
    pipe = Pipeline(compiled, audit, model=model)
    settle_heap()  # as `rules run` does before its loop (engine/run/daemon/loop.py)
    rss_10k = 0.0
    cpu = time.process_time()
    start = time.perf_counter()
    for first in feed(pipe, events, batch):
        if first < 10_000 <= first + batch:
            rss_10k = peak_rss_mb()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_end = peak_rss_mb()  # before reading the posted facts back: that list is the benchmark's, not ours
    posted = [row[0] for row in audit.conn.execute("SELECT fact FROM facts WHERE kind = 'event' ORDER BY id")]
    audit.close()
    return len(events) / elapsed, len(events) / cpu, rss_10k, rss_end, posted


def raw(compiled: Any, posted: list[str]) -> tuple[float, float]:
    """Same ruleset, same facts, same session scheme; actions reduced to the chaining the stages need."""
    severity_of = {name: meta.severity for name, meta in compiled.rules.items()}
    handle: list[Any] = []
    live: dict[str, str] = {}  # what this event has in the session, to retract at its end

    def post(kind: str, fact: dict[str, Any]) -> None:
        live[kind] = encode(fact)
        durable_rules_engine.assert_fact(handle[0], live[kind])

    def pull(kind: str) -> None:
        text = live.pop(kind, None)
        if text:
            durable_rules_engine.retract_fact(handle[0], text)

    def make(name: str) -> Any:
        stage = compiled.rules[name].stage
        if stage == "severity":
            return lambda c: (pull("event"), post("severity", {
                **event_fact(c.m._d, compiled.severity_paths), "t": "severity", "id": f"s{c.m._d['id']}",
                "sid": c.m._d["sid"], "level": severity_of[name]}))
        if stage == "remediate":
            return lambda c: pull("severity")
        return lambda c: None

    host = _Host({name: make(name) for name in compiled.rules}, compiled.definition())
    rs = host.get_ruleset(RULESET)
    handle.append(rs._handle)
    # prepared outside the timed loop: no parsing in the raw rate; one session per SESSION_EVENTS
    # events, as engine.durable.Engine keeps them
    facts = [encode({**json.loads(text), "t": "event", "id": f"e{i}", "sid": str(i // SESSION_EVENTS)})
             for i, text in enumerate(posted)]
    # CPython's default GC thresholds for this side: durable-rules' dispatcher leaves a Closure's worth
    # of cyclic garbage per firing, and the pipeline's (engine/run/daemon/loop.py GC_YOUNG_THRESHOLD) makes it
    # ~20 % slower; the ratio compares each side at its best
    tuned = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    cpu = time.process_time()
    start = time.perf_counter()
    for i, payload in enumerate(facts):
        live["event"] = payload
        res = durable_rules_engine.assert_fact(rs._handle, payload)
        rs.do_actions(rs._handle_result(res, None), lambda e, s: None)
        for text in live.values():
            durable_rules_engine.retract_fact(rs._handle, text)
        live.clear()
        if (i + 1) % SESSION_EVENTS == 0:
            host.delete_state(RULESET, str(i // SESSION_EVENTS))
    rates = len(facts) / (time.perf_counter() - start), len(facts) / (time.process_time() - cpu)
    gc.set_threshold(*tuned)
    return rates


def wrapper(compiled: Any, posted: list[str]) -> float:
    """Our engine module alone (engine.durable.Engine: its own activation loop) on the same facts."""
    engine = Engine(compiled)
    facts = [json.loads(text) for text in posted]
    start = time.perf_counter()
    for fact in facts:
        engine.decide(fact)
    return len(facts) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100, help="files per transaction (group commit)")
    ap.add_argument("--rules", default=str(ROOT / "rules"))
    ap.add_argument("--no-model", action="store_true",
                    help="rules alone: no classifier (model.* facts absent), to see what classification costs")
    args = ap.parse_args()
    policy, diags = validate(Path(args.rules))
    if policy is None:
        raise SystemExit("\n".join(d.text() for d in diags))
    compiled = compile_policy(policy)
    events = synthetic(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        full_rate, full_cpu, rss_10k, rss_end, posted = full(compiled, events, Path(tmp) / "bench.db", args.batch,
                                                          NO_MODEL if args.no_model else None)
    raw_rate, raw_cpu = raw(compiled, posted)
    wrapper_rate = wrapper(compiled, posted)
    print(f"events:                 {args.events:,}" + ("  (no classifier)" if args.no_model else ""))
    print(f"full pipeline:          {full_rate:,.0f} decisions/s  (parse, validate, all stages, audit committed;"
          f" {args.batch} per transaction)")
    print(f"raw durable-rules:      {raw_rate:,.0f} events/s     (same ruleset, chaining-only actions)")
    print(f"ratio full/raw:         {full_rate / raw_rate:.2f}")
    print(f"engine module alone:    {wrapper_rate:,.0f} events/s     (engine.durable.Engine on the same facts: "
          "its own activation loop on the C API)")
    full_us, engine_us = 1e6 / full_rate, 1e6 / wrapper_rate
    print(f"per decision:           full {full_us:.0f} µs = engine module {engine_us:.0f} µs + the rest"
          f" {full_us - engine_us:.0f} µs; raw durable-rules {1e6 / raw_rate:.0f} µs")
    print(f"per CPU-second:         full {full_cpu:,.0f}/s, raw {raw_cpu:,.0f}/s, ratio {full_cpu / raw_cpu:.2f}"
          "  (process CPU time: steadier than wall time on a busy machine)")
    print(f"peak RSS after 10k:     {rss_10k:.0f} MB" if rss_10k else "peak RSS after 10k:     n/a (fewer events)")
    print(f"peak RSS at the end:    {rss_end:.0f} MB")


if __name__ == "__main__":
    main()
