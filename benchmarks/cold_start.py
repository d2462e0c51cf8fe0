"""Cold start of the CI commands: wall time of fresh processes, repeated, median and min printed.

    python benchmarks/cold_start.py                    # this checkout
    python benchmarks/cold_start.py --baseline main    # and a git ref, measured alternately in the same run

Wall time is what CI waits for; on a shared machine the CPU time of the child (user + system) is
the steadier figure. Commands: ``rules validate``; ``rules simulate`` of one event; ``rules test`` of 1,000 cases
(the shipped cases repeated; only where the checkout has ``rules test``). Each run is a new
``python -m engine.cli`` process with PYTHONPATH at the checkout and cwd there, so ``./rules``
is that checkout's policy. The baseline is exported with ``git archive`` into a temporary
directory (the repository is not changed). Runs alternate between the two so that a change in
machine load hits both. One unmeasured run per command comes first, with bytecode writing on
(``PYTHONDONTWRITEBYTECODE`` removed, as after an install), so no run compiles sources.

After the timings, the third-party packages (and the number of modules) each command loaded, listed
from ``sys.modules`` at exit: what tests/review/test_cold_start.py guards.
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
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EVENT = "sample-events/critical-service-outage.json"


def export(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def thousand_cases(checkout: Path, out: Path) -> Path | None:
    tests = sorted((checkout / "rules" / "tests").glob("*.test.yaml"))
    if not tests:
        return None
    cases = []
    for t in tests:
        doc = yaml.safe_load(t.read_text())
        cases += [dict(c, model=c.get("model", doc.get("model", "configured")), start=c.get("start", doc.get("start")))
                  for c in doc["cases"]]
    many = [dict(cases[i % len(cases)], name=f"{cases[i % len(cases)]['name']} #{i}") for i in range(1000)]
    path = out / "many.test.yaml"
    path.write_text(yaml.safe_dump({"kind": "tests", "version": 1, "cases": many}, sort_keys=False))
    return path


LISTER = ("import atexit, json, sys; out = sys.argv[1]; "
          "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules)))); "
          "sys.argv = ['rules', *sys.argv[2:]]; from engine.cli import entry; entry()")


def child_env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ESCALATION_DB", "ESCALATION_MODEL", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPATH"] = str(checkout)
    return env


def loaded(checkout: Path, args: list[str], out: Path) -> tuple[int, list[str]]:
    """(modules loaded, the third-party top-level packages among them) for one run of ``rules ARGS``."""
    subprocess.run([sys.executable, "-c", LISTER, str(out), *args], cwd=checkout, env=child_env(checkout),
                   capture_output=True, check=False)
    mods = json.loads(out.read_text())
    tops = {m.split(".")[0] for m in mods}
    return len(mods), sorted(t for t in tops if t not in sys.stdlib_module_names and not t.startswith("_")
                             and t not in ("engine", "actions"))


def once(checkout: Path, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system)."""
    env = child_env(checkout)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=checkout, env=env, capture_output=True)
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if res.returncode not in (0,):
        raise SystemExit(f"{checkout}: rules {' '.join(args)} exited {res.returncode}: {res.stderr.decode()[-500:]}")
    return took, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REF", help="also measure this git ref (e.g. main)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        sides = {"this checkout": ROOT}
        if args.baseline:
            sides[f"baseline {args.baseline}"] = export(args.baseline, Path(tempfile.mkdtemp(dir=tmp)))
        commands: dict[str, dict[str, list[str]]] = {}
        for name, checkout in sides.items():
            many = thousand_cases(checkout, Path(tempfile.mkdtemp(dir=tmp)))
            commands[name] = {"validate": ["validate"], "simulate 1 event": ["simulate", EVENT]}
            if many is not None:
                commands[name]["test 1,000 cases"] = ["test", str(many)]
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for name, checkout in sides.items():  # warm-up: bytecode written, files in the page cache
            for what in commands[name]:
                once(checkout, commands[name][what])
        for _ in range(args.repeat):
            for what in ("validate", "simulate 1 event", "test 1,000 cases"):
                for name, checkout in sides.items():  # alternate: both sides see the same load
                    if what in commands[name]:
                        times.setdefault((name, what), []).append(once(checkout, commands[name][what]))
        print(f"{'command':<20} {'side':<24} {'wall median s':>13} {'min s':>7} {'CPU median s':>13}  "
              f"(n={args.repeat}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        for (name, what), values in sorted(times.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            wall = [w for w, _ in values]
            cpu = [c for _, c in values]
            print(f"{what:<20} {name:<24} {statistics.median(wall):>13.3f} {min(wall):>7.3f} "
                  f"{statistics.median(cpu):>13.3f}")
        print("\nthird-party packages loaded (modules in sys.modules at exit):")
        for name, checkout in sides.items():
            for what, argv in commands[name].items():
                n, tops = loaded(checkout, argv, tmp / "modules.json")
                print(f"  {what:<18} {name:<24} {n:>4} modules: {', '.join(tops)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
