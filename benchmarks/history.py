"""History, timeline and audit queries over a large generated log; verify and prove on it.

Generates ``--incidents`` incidents with tests/history/history_gen.py (decisions, firings, pages with
results, remediations, acks/resolves, suppressions: about 9 audit rows per incident, plus one ledger
entry sealing them), then times each query (best of 3, read-only connection) and ``verify``.

    python benchmarks/history.py                      # 100,000 incidents
    python benchmarks/history.py --incidents 20000
    python benchmarks/history.py --incidents 1000000 --db /tmp/h1m.db --generate-only   # then:
    python benchmarks/history.py --incidents 1000000 --db /tmp/h1m.db --prune           # reuses the file

``--prune`` ends with ``rules history prune`` of the oldest 90 days (it deletes: the file changes).
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
sys.path.insert(0, str(ROOT / "tests" / "history"))

from history_gen import BASE, generate  # noqa: E402

from engine.report.history import Filters, latest, list_incidents, show  # noqa: E402
from engine.report.timeline import build  # noqa: E402
from engine.store.audit import Audit  # noqa: E402
from engine.store.audit_queries import firings, paged  # noqa: E402
from engine.store.audit_rollup import refresh  # noqa: E402
from engine.store.ledger_verify import prove, verify  # noqa: E402
from engine.store.readonly import connect_ro  # noqa: E402
from engine.store.retention import prune  # noqa: E402

TAIL = 20_000


def best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--db", type=Path, help="keep the generated log here (reused when it exists)")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--prune", action="store_true", help="then prune the oldest 90 days and verify again")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "history.db"
        t, c = time.perf_counter(), time.process_time()
        if not db.exists():
            generate(db, args.incidents, events=True, keep=False)
            print(f"generated in {time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU")
        if not args.generate_only:
            measure(db, args.incidents, args.prune)


def measure(db: Path, n: int, with_prune: bool) -> None:
    t = time.perf_counter()
    log = Audit(db)  # the migrations a daemon applies at start (new indexes)
    opened = time.perf_counter() - t
    top = log.conn.execute("SELECT max(rowid) FROM firings").fetchone()[0]
    t, c = time.perf_counter(), time.process_time()
    groups = refresh(log, upto=top - TAIL)
    print(f"open (migrations) {opened:.1f} s; rules audit rollup: {groups} groups in {time.perf_counter() - t:.1f} s "
          f"wall, {time.process_time() - c:.1f} s CPU (the last {TAIL:,} firings left as its tail)")
    log.close()
    conn = connect_ro(db)
    rows = sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'ledger%'").fetchall())
    print(f"{n:,} incidents, {rows:,} audit rows, {db.stat().st_size / 2**30:.2f} GiB")
    mid = f"INC-{n // 2:07d}"
    week = (BASE + 86400 * 30, BASE + 86400 * 37)
    queries: list[tuple[str, Callable[[], Any]]] = [
        ("history latest 20", lambda: latest(conn, 20)),
        ("history list --status open --severity CRITICAL --limit 50",
         lambda: list_incidents(conn, Filters(status="open", severity="CRITICAL"), 50)),
        ("history list --team sre --since/--until (7 days)",
         lambda: list_incidents(conn, Filters(team="sre", since=week[0], until=week[1]))),
        ("history list --service svc-03 --limit 100", lambda: list_incidents(conn, Filters(service="svc-03"), 100)),
        ("history show", lambda: show(conn, mid)),
        ("timeline", lambda: build(conn, mid)),
        ("audit firings --rule latency-degraded (7 days)",
         lambda: firings(conn, rule="latency-degraded", since=week[0], until=week[1])),
        ("audit firings (all, grouped): full scan", lambda: firings(conn, stage="severity")),
        (f"audit firings (all, grouped): rollup + {TAIL:,}-firing tail", lambda: firings(conn)),
        ("audit paged --who (7 days)", lambda: paged(conn, who="alice@company.com", since="2025-01-31T00:00:00Z",
                                                     until="2025-02-07T00:00:00Z")),
    ]
    for name, fn in queries:
        ms, out = best(fn)
        print(f"  {ms:9.1f} ms  {name}  ({len(out) if isinstance(out, list) else 1} rows)")
    _verify(conn)
    print(f"prove: {len(prove(conn, mid).encode()):,} bytes (decision), "
          f"{len(prove(conn, mid, table='events').encode()):,} bytes (event)")
    conn.close()
    if with_prune:
        log = Audit(db)
        t, c = time.perf_counter(), time.process_time()
        out = prune(log, BASE + 90 * 86400)
        log.close()
        print(f"prune --older-than (90 days of {n:,}): {out['incidents']:,} incidents, {out['rows']:,} rows in "
              f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU")
        conn = connect_ro(db)
        _verify(conn)
        conn.close()


def _verify(conn: Any) -> None:
    t, c = time.perf_counter(), time.process_time()
    rep = verify(conn)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"verify: {'ok' if rep.ok else 'FAILED ' + str(rep.problems[:1])}, {rep.rows:,} rows in {rep.entries:,} "
          f"entries, {secs:.1f} s wall ({cpu:.1f} s CPU) = {rep.rows / secs:,.0f} rows/s")


if __name__ == "__main__":
    main()
