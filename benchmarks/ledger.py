"""Decision throughput with the tamper-evident ledger on and off, in the same run; then verify and prove.

The full pipeline of benchmarks/throughput.py (parse, validate, classify, every stage, templates,
every audit row, one transaction per ``--batch`` files), alternating ledger off / on for
``--rounds`` rounds on fresh sqlite files, the same events each time, after an uncounted warm-up
of each side (the first round otherwise runs in a cold process and reads ledger-off slow). Prints decisions/s (wall and
per CPU-second) for both, the best round of each and their ratio; then ``verify`` over the ledger-on
log (rows/s) and the size of a ``prove`` file.

    python benchmarks/ledger.py                      # 20,000 events, 3 rounds
    python benchmarks/ledger.py --events 5000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from throughput import ROOT, feed, synthetic

from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.daemon.heap import settle_heap
from engine.run.pipeline import Pipeline
from engine.store.audit import Audit
from engine.store.ledger_verify import prove, verify
from engine.store.readonly import connect_ro

SEAL = [0.0, 0]


def run(compiled: object, events: list[bytes], db: Path, batch: int, ledger: bool) -> tuple[float, float]:
    os.environ["ESCALATION_LEDGER"] = "on" if ledger else "off"
    audit = Audit(db)
    assert (audit.ledger is not None) == ledger
    if ledger:  # the CPU spent inside Ledger.seal, the ledger's whole cost but the bytes it adds to the WAL
        seal = audit.ledger.seal

        def timed() -> None:
            t = time.process_time()
            seal()
            SEAL[0] += time.process_time() - t
            SEAL[1] += 1

        audit.ledger.seal = timed
    pipe = Pipeline(compiled, audit)
    settle_heap()
    cpu, start = time.process_time(), time.perf_counter()
    for _ in feed(pipe, events, batch):
        pass
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if ledger:
        print(f"  seal: {SEAL[0] / len(events) * 1e6:.1f} µs CPU per decision over {SEAL[1]} seals, "
              f"{audit.ledger.read_back} table range(s) read back (the rest hashed as inserted)")
        SEAL[:] = [0.0, 0]
    audit.close()
    return len(events) / elapsed, len(events) / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    policy, _ = validate(ROOT / "rules")
    assert policy is not None
    compiled = compile_policy(policy)
    events = synthetic(args.events)
    best: dict[bool, tuple[float, float]] = {False: (0.0, 0.0), True: (0.0, 0.0)}
    pairs: list[tuple[float, float]] = []  # per round: (wall ratio, CPU-rate ratio) on/off
    with tempfile.TemporaryDirectory() as tmp:
        for ledger in (False, True):  # warm-up, not counted: a first round runs in a cold process
            run(compiled, events[: max(1, len(events) // 10)], Path(tmp) / f"warm-{ledger}.db", args.batch, ledger)
        for r in range(args.rounds):
            got: dict[bool, tuple[float, float]] = {}
            for ledger in (False, True) if r % 2 == 0 else (True, False):
                db = Path(tmp) / f"r{r}-{'on' if ledger else 'off'}.db"
                wall, cpu = run(compiled, events, db, args.batch, ledger)
                print(f"round {r + 1} ledger {'on ' if ledger else 'off'}: {wall:,.0f} decisions/s "
                      f"({cpu:,.0f} per CPU-s)")
                best[ledger] = (max(best[ledger][0], wall), max(best[ledger][1], cpu))
                got[ledger] = (wall, cpu)
            pairs.append((got[True][0] / got[False][0], got[True][1] / got[False][1]))
        off, on = best[False], best[True]
        print(f"best: off {off[0]:,.0f}/s ({off[1]:,.0f} per CPU-s), on {on[0]:,.0f}/s ({on[1]:,.0f} per CPU-s); "
              f"ratio on/off {on[0] / off[0]:.2f} wall, {on[1] / off[1]:.2f} CPU")
        walls, cpus = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
        print(f"median of the rounds' ratios: {walls[len(walls) // 2]:.2f} wall, {cpus[len(cpus) // 2]:.2f} CPU "
              f"(CPU ratios {', '.join(f'{c:.2f}' for c in cpus)})")
        db = Path(tmp) / f"r{args.rounds - 1}-on.db"
        conn = connect_ro(db)
        rep = verify(conn)
        print(f"verify: {'ok' if rep.ok else 'FAILED'}, {rep.rows:,} rows in {rep.entries:,} entries, "
              f"{rep.seconds:.2f} s = {rep.rows / rep.seconds:,.0f} rows/s")
        eid = conn.execute("SELECT event_id FROM decisions ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        print(f"prove: {len(prove(conn, eid).encode()):,} bytes for one decision")
        conn.close()


if __name__ == "__main__":
    main()
