"""``rules impact`` replay speed: N recorded events through both rule sets (target 10,000 in < 30 s).

    python benchmarks/impact.py            # 10,000 events
    python benchmarks/impact.py --n 100000

Setup (not timed): the corpus events (data/corpus/*.jsonl), re-stamped one every 20 s with
unique ids, are decided by the daemon's pipeline into an on-disk audit log, with the shipped
model. Timed: ``rules impact --baseline rules --rules <copy with one threshold changed>`` as a
fresh process (reading the log, both replays, the comparison, the report), repeated, with
``--jobs 1`` (one replay after the other: the one-core figure) and ``--jobs 2`` (the base replay in a
forked child) interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def record(db: Path, n: int) -> None:
    from engine.cli import load_compiled
    from engine.run.pipeline import Pipeline
    from engine.store.audit import Audit

    raw = [json.loads(line)["event"] for f in ("train.jsonl", "eval.jsonl")
           for line in (ROOT / "data" / "corpus" / f).read_text().splitlines() if line.strip()]
    start = datetime(2025, 3, 1, tzinfo=UTC)
    audit = Audit(str(db))
    pipeline = Pipeline(load_compiled(ROOT / "rules", quiet_warnings=True), audit)
    batch = []
    for i in range(n):
        doc = dict(raw[i % len(raw)], event_id=f"bench-{i:06d}",
                   timestamp=(start + timedelta(seconds=20 * i)).isoformat().replace("+00:00", "Z"))
        doc.pop("expect", None)
        batch.append((f"bench-{i}.json", json.dumps(doc).encode(), None))
        if len(batch) == 500:
            pipeline.process_batch(batch)
            batch = []
    if batch:
        pipeline.process_batch(batch)
    audit.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="impact-bench-"))
    try:
        db = tmp / "recorded.db"
        began = time.perf_counter()
        record(db, args.n)
        print(f"recorded {args.n} events in {time.perf_counter() - began:.1f} s (setup, not timed)")
        head = tmp / "head"
        shutil.copytree(ROOT / "rules", head)
        sev = head / "severity.yaml"
        sev.write_text(sev.read_text().replace("metrics.error_rate: {gte: 0.01}", "metrics.error_rate: {gte: 0.02}"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "engine.cli", "impact", "--baseline", str(ROOT / "rules"), "--rules", str(head),
               "--db", str(db), "--format", "json"]
        runs: dict[str, tuple[list[float], list[float]]] = {"1": ([], []), "2": ([], [])}
        doc: dict = {}  # type: ignore[type-arg]
        for _ in range(args.repeat):
            for jobs, (times, cpus) in runs.items():  # interleaved: both sides see the same load
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                res = subprocess.run([*cmd, "--jobs", jobs], capture_output=True, text=True, env=env, cwd=ROOT)
                times.append(time.perf_counter() - t)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the forked base replay included
                cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                if res.returncode != 0:
                    raise SystemExit(res.stderr[-2000:])
                doc = json.loads(res.stdout)
        kinds = ", ".join(f"{k} {v['count']}" for k, v in doc["changes"].items())
        print(f"rules impact, {doc['events']} events through both rule sets; {doc['changed_events']} changed ({kinds})")
        for jobs, (times, cpus) in runs.items():
            print(f"  --jobs {jobs}: wall median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
                  f"CPU median {statistics.median(cpus):.2f} s (n={args.repeat}, {os.cpu_count()} CPUs, "
                  f"load {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
