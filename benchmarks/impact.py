"""``rules impact`` replay speed: N recorded events through both rule sets (targets: 10,000 in < 30 s,
100,000 in < 60 s on one core).

    python benchmarks/impact.py                        # 10,000 events: sqlite store vs memory store
    python benchmarks/impact.py --n 100000 --repeat 1
    python benchmarks/impact.py --sides memory,memory-jobs2

Setup (not timed): the corpus events (data/corpus/*.jsonl), re-stamped one every 20 s with
unique ids, are decided by the daemon's pipeline into an on-disk audit log, with the shipped
model. Timed: ``rules impact --baseline rules --rules <copy with one threshold changed>`` as a
fresh process (reading the log, both replays, the comparison, the report), once per side and
repeat, the sides interleaved so that they see the same load: ``sqlite`` (``--store sqlite --jobs 1``,
the daemon's tables: the reference), ``memory`` (``--store memory --jobs 1``, the default store: the
one-core figure), ``memory-jobs2`` (the base replay in a forked child). Each side's wall and CPU time
(user + system of the process and its child) is printed; the script exits 1 if the sides' reports differ.
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


SIDES = {"sqlite": ["--store", "sqlite", "--jobs", "1"], "memory": ["--store", "memory", "--jobs", "1"],
         "memory-jobs2": ["--store", "memory", "--jobs", "2"]}


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
    parser.add_argument("--sides", default="sqlite,memory", help=f"comma-separated, of: {', '.join(SIDES)}")
    args = parser.parse_args()
    unknown = set(args.sides.split(",")) - set(SIDES)
    if unknown:
        parser.error(f"unknown side(s) {', '.join(sorted(unknown))}; known: {', '.join(SIDES)}")
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
        runs = {side: ([], []) for side in args.sides.split(",")}  # side → (wall times, CPU times)
        docs: dict[str, dict] = {}  # type: ignore[type-arg]
        loads = [os.getloadavg()[0]]
        for _ in range(args.repeat):
            for side, (times, cpus) in runs.items():  # interleaved: every side sees the same load
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                res = subprocess.run([*cmd, *SIDES[side]], capture_output=True, text=True, env=env, cwd=ROOT)
                times.append(time.perf_counter() - t)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the forked base replay included
                cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                if res.returncode != 0:
                    raise SystemExit(f"{side}: {res.stderr[-2000:]}")
                docs[side] = json.loads(res.stdout)
                loads.append(os.getloadavg()[0])
        doc = next(iter(docs.values()))
        kinds = ", ".join(f"{k} {v['count']}" for k, v in doc["changes"].items())
        print(f"rules impact, {doc['events']} events through both rule sets; {doc['changed_events']} changed ({kinds})")
        print(f"  {os.cpu_count()} CPUs, load average {min(loads):.1f}-{max(loads):.1f} during the runs, "
              f"n={args.repeat}")
        for side, (times, cpus) in runs.items():
            print(f"  {side:13} {' '.join(SIDES[side]):26} wall median {statistics.median(times):7.2f} s "
                  f"(min {min(times):.2f}), CPU median {statistics.median(cpus):7.2f} s (min {min(cpus):.2f})")
        if "sqlite" in runs and "memory" in runs:
            ratios = [s / m for s, m in zip(runs["sqlite"][1], runs["memory"][1], strict=True)]
            print(f"  CPU sqlite / memory, per repeat: {', '.join(f'{r:.2f}' for r in ratios)}")
        differ = [side for side, d in docs.items() if d != doc]
        if differ:
            print(f"FAIL: the report of {', '.join(differ)} differs from {next(iter(docs))}'s", file=sys.stderr)
            raise SystemExit(1)
        print(f"  the reports of {', '.join(docs)} are identical")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
