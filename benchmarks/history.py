"""History, timeline and audit queries over a large generated log; verify and prove on it.

Generates ``--incidents`` incidents with tests/history/history_gen.py (decisions, firings, pages with
results, remediations, acks/resolves, suppressions: about 9 audit rows per incident, plus one ledger
entry sealing them), then times each query (best of 3, read-only connection) and ``verify``.

    python benchmarks/history.py                      # 100,000 incidents
    python benchmarks/history.py --incidents 20000
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
from engine.store.audit_queries import firings, paged  # noqa: E402
from engine.store.ledger_verify import verify  # noqa: E402
from engine.store.readonly import connect_ro  # noqa: E402


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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "history.db"
        t = time.perf_counter()
        incidents = generate(db, args.incidents)
        conn = connect_ro(db)
        rows = sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'ledger%'").fetchall())
        print(f"{args.incidents:,} incidents, {rows:,} audit rows, generated in {time.perf_counter() - t:.1f} s")
        mid = incidents[len(incidents) // 2].incident_id
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
            ("audit firings (all, grouped)", lambda: firings(conn)),
            ("audit paged --who (7 days)", lambda: paged(conn, who="alice@company.com", since="2025-01-31T00:00:00Z",
                                                         until="2025-02-07T00:00:00Z")),
        ]
        for name, fn in queries:
            ms, out = best(fn)
            n = len(out) if isinstance(out, list) else 1
            print(f"  {ms:9.1f} ms  {name}  ({n} rows)")
        t = time.perf_counter()
        rep = verify(conn)
        secs = time.perf_counter() - t
        rate = rep.rows / secs
        print(f"verify: {'ok' if rep.ok else 'FAILED'}, {rep.rows:,} rows in {secs:.1f} s = {rate:,.0f} rows/s")
        conn.close()


if __name__ == "__main__":
    main()
