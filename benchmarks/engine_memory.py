"""Does the engine keep anything per event? RSS of the durable-rules engine over many decisions.

Events share one durable-rules session, replaced every 10,000 events, and every fact of an event
is retracted once it is decided (see engine/durable/__init__.py), so resident memory must not grow with
the number of events. This posts
the same compiled policy a realistic mix of event facts and prints the RSS every 10 % of the
run, the growth between the first and the last checkpoint, and the rate.

    python benchmarks/engine_memory.py                   # 200,000 decisions
    python benchmarks/engine_memory.py --events 1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import synthetic  # noqa: E402

from engine.compiler.compile import compile_policy  # noqa: E402
from engine.compiler.validate import validate  # noqa: E402
from engine.durable import Engine, policy_fact  # noqa: E402
from engine.model.event import Event, event_document  # noqa: E402


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args()
    policy, diags = validate(ROOT / "rules")
    if policy is None:
        raise SystemExit("\n".join(d.text() for d in diags))
    compiled = compile_policy(policy)
    engine = Engine(compiled)
    facts = [policy_fact(compiled, event_document(Event.model_validate_json(b)))
             for b in synthetic(2000)]
    step = max(1, args.events // 10)
    checkpoints = []
    start = time.perf_counter()
    for i in range(args.events):
        engine.decide(facts[i % len(facts)])
        if (i + 1) % step == 0:
            checkpoints.append((i + 1, current_rss_mb()))
            print(f"{i + 1:>10,} decisions   RSS {checkpoints[-1][1]:7.1f} MB", flush=True)
    rate = args.events / (time.perf_counter() - start)
    growth = checkpoints[-1][1] - checkpoints[0][1]
    print(f"RSS growth from {checkpoints[0][0]:,} to {checkpoints[-1][0]:,} decisions: {growth:+.1f} MB")
    print(f"engine rate: {rate:,.0f} decisions/s (our wrapper + durable-rules, no parsing, no audit)")


if __name__ == "__main__":
    main()
