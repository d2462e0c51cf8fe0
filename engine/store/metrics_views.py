"""The metric contract as SQL views in the audit log, and the read-only queries reports make.

Each metric is defined once, here, as a view with one row per member of its population; the
CLI (``rules metrics``), the reports (``rules anomalies summary``), ``/metrics`` and datasette
all read these views. Duration views share one shape::

    incident_id, service, team, severity, start_epoch   -- the incident (start_epoch: its first event's time)
    clock_start   -- the start event (NULL: not in the population, e.g. never paged)
    clock_end     -- the end event (NULL: not reached yet: censored)
    clock_stop    -- after this the end event can no longer happen (e.g. resolved before any ack): censored here

Times are Unix seconds. ``engine.report.metrics`` clips them to a window's end (an end event
after the window end counts as not reached) and computes n, n censored, median, p90, mean and
the Kaplan–Meier median. See README "SRE metrics" for the contract table.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.store.readonly import no_audit_log

EPOCH = "round((julianday({}) - 2440587.5) * 86400.0, 3)"  # exact to the millisecond the log keeps
RANK = ("CASE {} WHEN 'CRITICAL' THEN 3 WHEN 'MAJOR' THEN 2 WHEN 'MODERATE' THEN 1 "
        "WHEN 'NONE' THEN 0 ELSE NULL END")
NAME = "CASE {} WHEN 3 THEN 'CRITICAL' WHEN 2 THEN 'MAJOR' WHEN 1 THEN 'MODERATE' ELSE 'NONE' END"

VIEWS: dict[str, str] = {
    # One row per incident: its first decision (service, team, rules hash), its highest decided severity.
    "insight_incidents": f"""
        WITH agg AS (
          SELECT incident_id, min(rowid) AS first_row, count(*) AS events,
                 max({RANK.format('severity')}) AS rank, min(event_epoch) AS start_epoch
          FROM decisions WHERE incident_id IS NOT NULL AND incident_id != ''__WIN(incident_id)__ GROUP BY incident_id)
        SELECT a.incident_id, d.service, coalesce(json_extract(d.owner, '$.team'), '') AS team,
               {NAME.format('a.rank')} AS severity, a.start_epoch, {EPOCH.format('d.at')} AS decided_epoch,
               d.event_id AS first_event_id, d.rules_hash, a.events
        FROM agg a JOIN decisions d ON d.rowid = a.first_row""",
    # Every page that went out (a page action whose final result is ok), with its step; manual: requested by
    # an operator's escalation (rules escalate; engine.store.escalations), not by the step's timeout.
    "insight_pages": f"""
        SELECT a.incident_id, a.step, a.action, a.intent, {EPOCH.format('r.at')} AS sent_epoch,
               a.idempotency_key LIKE '%:escalate:%' AS manual
        FROM actions a JOIN results r ON r.action_id = a.id WHERE a.kind = 'page' AND r.outcome = 'ok'
        __WIN(a.incident_id)__""",
    # One row per incident: when it was first paged, acked, escalated and resolved (human or auto).
    "insight_lifecycle": f"""
        WITH p AS (SELECT incident_id, min(sent_epoch) AS page_epoch,
                          min(CASE WHEN step > 0 AND NOT manual THEN sent_epoch END) AS escalated_epoch
                   FROM insight_pages GROUP BY incident_id),
             u AS (SELECT incident_id,
                          min(CASE WHEN type = 'ack' THEN {EPOCH.format('occurred_at')} END) AS ack_epoch,
                          min(CASE WHEN type = 'resolve' THEN {EPOCH.format('occurred_at')} END) AS human_resolve,
                          min(CASE WHEN type = 'escalate' THEN {EPOCH.format('occurred_at')} END) AS manual_epoch
                   FROM incident_updates WHERE 1__WIN(incident_id)__ GROUP BY incident_id),
             c AS (SELECT incident_id, min({EPOCH.format('at')}) AS auto_resolve FROM incidents
                   WHERE op = 'close'__WIN(incident_id)__ GROUP BY incident_id)
        SELECT i.*, p.page_epoch, p.escalated_epoch, u.ack_epoch, u.manual_epoch,
               CASE WHEN u.human_resolve IS NULL THEN c.auto_resolve WHEN c.auto_resolve IS NULL THEN u.human_resolve
                    ELSE min(u.human_resolve, c.auto_resolve) END AS resolve_epoch,
               CASE WHEN u.human_resolve IS NULL AND c.auto_resolve IS NULL THEN NULL
                    WHEN c.auto_resolve IS NULL OR u.human_resolve <= c.auto_resolve THEN 'human' ELSE 'auto' END
                    AS resolved_by
        FROM insight_incidents i LEFT JOIN p USING (incident_id) LEFT JOIN u USING (incident_id)
        LEFT JOIN c USING (incident_id)""",
    # MTTD: first event's timestamp -> its decision committed; every incident.
    "metric_mttd": """
        SELECT incident_id, service, team, severity, start_epoch, start_epoch AS clock_start,
               decided_epoch AS clock_end, NULL AS clock_stop FROM insight_incidents""",
    # MTTA: first page sent -> first acknowledgement; paged incidents; a resolve before any ack censors.
    "metric_mtta": """
        SELECT incident_id, service, team, severity, start_epoch, page_epoch AS clock_start,
               ack_epoch AS clock_end, resolve_epoch AS clock_stop
        FROM insight_lifecycle WHERE page_epoch IS NOT NULL""",
    # MTTR: first page sent -> resolved; paged incidents.
    "metric_mttr": """
        SELECT incident_id, service, team, severity, start_epoch, page_epoch AS clock_start,
               resolve_epoch AS clock_end, NULL AS clock_stop, resolved_by
        FROM insight_lifecycle WHERE page_epoch IS NOT NULL""",
    # Detection to resolve: first event's timestamp -> resolved; incidents above NONE.
    "metric_mttr_detect": """
        SELECT incident_id, service, team, severity, start_epoch, start_epoch AS clock_start,
               resolve_epoch AS clock_end, NULL AS clock_stop, resolved_by
        FROM insight_lifecycle WHERE severity != 'NONE'""",
    # Escalation: paged incidents; by timeout = a later step's page went out on its schedule; manual = an
    # operator escalated (incident_updates type escalate, rules escalate), counted apart.
    "metric_escalation": """
        SELECT incident_id, service, team, severity, start_epoch, page_epoch, escalated_epoch AS timeout_epoch,
               manual_epoch FROM insight_lifecycle WHERE page_epoch IS NOT NULL""",
    # False positives: every decided event; its operator verdict is the latest severity_feedback row.
    "metric_false_positive": f"""
        WITH f AS (SELECT event_id, severity AS confirmed, max(id) FROM severity_feedback GROUP BY event_id)
        SELECT d.event_id, d.incident_id, d.service, coalesce(json_extract(d.owner, '$.team'), '') AS team,
               d.severity, d.event_epoch AS start_epoch, f.confirmed,
               CASE WHEN f.confirmed IS NULL THEN NULL
                    WHEN {RANK.format('d.severity')} > {RANK.format('f.confirmed')} THEN 1 ELSE 0 END
                    AS false_positive
        FROM decisions d LEFT JOIN f USING (event_id)""",
    # Interruptions: one row per (incident, step, person paged); channels that carried it.
    "metric_interruptions": """
        SELECT i.incident_id, i.service, i.team, i.severity, i.start_epoch, p.step, t.value AS person,
               min(p.sent_epoch) AS sent_epoch, group_concat(DISTINCT p.action) AS channels
        FROM insight_pages p JOIN insight_incidents i USING (incident_id),
             json_each(json_extract(p.intent, '$.targets')) t
        WHERE t.value LIKE '%@%' GROUP BY i.incident_id, p.step, t.value""",
    # Causes for the anomaly detectors: the deciding severity rule and the event's fingerprint.
    "insight_causes": """
        SELECT i.incident_id, i.service, i.team, i.severity, i.start_epoch, i.rules_hash,
               coalesce((SELECT rule FROM firings f WHERE f.event_id = i.first_event_id AND f.stage = 'severity'
                         AND f.selected = 1 LIMIT 1), '') AS rule,
               coalesce((SELECT json_extract(e.payload, '$.fingerprint') FROM events e
                         WHERE e.event_id = i.first_event_id), '') AS fingerprint
        FROM insight_incidents i""",
}
DURATION_VIEWS = ("metric_mttd", "metric_mtta", "metric_mttr", "metric_mttr_detect")
# The metric views above as columns of insight_lifecycle, for reports that read it once and compute every
# metric from those columns: view -> (population, clock_start, clock_end, clock_stop, has resolved_by);
# population "paged" = page_epoch IS NOT NULL, "above_none" = severity != 'NONE'. tests/report check each
# view's rows against this reading of insight_lifecycle.
CLOCKS: dict[str, tuple[str | None, str, str, str | None, bool]] = {
    "metric_mttd": (None, "start_epoch", "decided_epoch", None, False),
    "metric_mtta": ("paged", "page_epoch", "ack_epoch", "resolve_epoch", False),
    "metric_mttr": ("paged", "page_epoch", "resolve_epoch", None, True),
    "metric_mttr_detect": ("above_none", "start_epoch", "resolve_epoch", None, True),
    "metric_escalation": ("paged", "page_epoch", "escalated_epoch", "manual_epoch", False),
}
LIFECYCLE = ("incident_id", "service", "team", "severity", "start_epoch", "decided_epoch", "page_epoch",
             "ack_epoch", "resolve_epoch", "resolved_by", "escalated_epoch", "manual_epoch")
BASE = ("insight_incidents", "insight_pages", "insight_lifecycle")  # what the metric views are built on
CACHED = ("insight_incidents", "insight_lifecycle", "insight_causes")  # kept per incident by insights_cache
# Indexes the windowed queries need (each costs the writer one index insert per decision).
INDEXES = {"idx_decisions_event_epoch": "decisions (event_epoch)",
           "idx_decisions_incident_id": "decisions (incident_id)"}
_WIN = re.compile(r"__WIN\(([\w.]+)\)__")


def body(name: str, windowed: bool = False) -> str:
    """A view's SELECT; windowed, its base tables are read only for incidents with a decision in the window
    (``win``), which gives the same rows for incidents that start in it, without aggregating the whole log."""
    text = VIEWS[name].strip()
    return _WIN.sub((lambda m: f" AND {m.group(1)} IN (SELECT incident_id FROM win)") if windowed else "", text)


def windowed_sql(view: str) -> str:
    """The rows of ``view`` whose incident started in ``[:since, :until)``: the same definition as the view,
    with the base views as CTEs restricted to the window's incidents (a CTE shadows the view of its name)."""
    source = view if view in BASE else f"({body(view, True)})"
    return f"{WITH_WINDOW} SELECT * FROM {source} WHERE start_epoch >= :since AND start_epoch < :until"


WITH_TEMP = "WITH " + ", ".join(["win AS (SELECT incident_id FROM w_win)",
                                 *[f"{b} AS (SELECT * FROM w_{b})" for b in BASE]])
WITH_WINDOW = "WITH " + ", ".join([
    "win AS (SELECT DISTINCT incident_id FROM decisions WHERE event_epoch >= :since AND event_epoch < :until"
    " AND incident_id IS NOT NULL AND incident_id != '')", *[f"{name} AS ({body(name, True)})" for name in BASE]])


def digest() -> str:
    """Names the migration that creates these definitions: a changed definition is a new migration."""
    return hashlib.sha256("".join(VIEWS.values()).encode()).hexdigest()[:12]


def ensure_views(conn: sqlite3.Connection) -> None:
    """Create (or replace when its definition changed) every view and the indexes the windowed reads use;
    a schema change, not a row change. Run by the migration ``metric-views-<digest>`` and on every report."""
    for index, on in INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {on}")
    have = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
    for name in VIEWS:
        sql = f"CREATE VIEW {name} AS {body(name)}"
        if have.get(name) == sql:
            continue
        if name in have:
            conn.execute(f"DROP VIEW {name}")
        conn.execute(sql)


def _migrate(conn: sqlite3.Connection) -> None:
    """An older log gets its tables and views; an up-to-date one is only read (sqlite_utils is not loaded)."""
    from engine.store.migrations import MIGRATIONS, migrate

    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'migrations'").fetchone():
        done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        if all(name in done for name, _ in MIGRATIONS):
            ensure_views(conn)
            return
    import sqlite_utils

    migrate(sqlite_utils.Database(conn))
    ensure_views(conn)


def _cache(conn: sqlite3.Connection, path: str | Path) -> bool:
    """Attach and refresh the sidecar cache; False (the views are read directly) when it is off or cannot be
    written (a read-only directory, a full disk): the figures are the same, only slower."""
    from engine.store import insights_cache

    where = insights_cache.location(path)
    if where is None:
        return False
    try:
        insights_cache.attach(conn, where, path)
        insights_cache.refresh(conn)
    except (sqlite3.Error, OSError):
        for name in [r[1] for r in conn.execute("PRAGMA database_list")]:
            if name == insights_cache.SCHEMA:
                conn.execute(f"DETACH DATABASE {name}")
        return False
    return True


class InsightsStore:
    """Read-only queries over the metric views of one audit log."""

    def __init__(self, conn: sqlite3.Connection, path: str = "", cached: bool = False) -> None:
        self.conn = conn
        self.path = path
        self.cached = cached  # the per-incident sidecar (engine.store.insights_cache) is attached and fresh
        self._columns: dict[str, list[str]] = {}
        self._window: tuple[float, float] | None = None  # the window the TEMP tables hold (see rows)
        self._built = 0  # how many of BASE are built for it

    @classmethod
    @contextmanager
    def open(cls, path: str | Path, cache: bool = True) -> Iterator[InsightsStore]:
        """Open an existing audit log (never creates one), ensure the views, refresh the per-incident cache
        (``cache=False``: read the views alone), close after use."""
        if not Path(path).is_file():
            raise FileNotFoundError(no_audit_log(path))
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            try:
                _migrate(conn)
            except sqlite3.DatabaseError as exc:
                raise ValueError(f"{path} is not an audit log: {exc}") from None
            for table in ("decisions", "actions", "results", "incident_updates", "severity_feedback"):
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                    raise ValueError(f"{path} is not an audit log: table {table!r} missing")
            yield cls(conn, str(path), _cache(conn, path) if cache else False)
        finally:
            conn.close()

    def rows(self, view: str, since: float, until: float) -> list[dict[str, Any]]:
        """The view's rows whose incident started in ``[since, until)``."""
        cur = self.conn.execute(self._sql(view, "*", since, until), {"since": since, "until": until})
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def select(self, view: str, columns: Sequence[str], since: float, until: float) -> list[tuple[Any, ...]]:
        """Those columns of :meth:`rows`, as tuples (no dict per row)."""
        sql = self._sql(view, ", ".join(columns), since, until)
        return self.conn.execute(sql, {"since": since, "until": until}).fetchall()

    def _sql(self, view: str, columns: str, since: float, until: float) -> str:
        if view not in VIEWS:
            raise KeyError(view)
        window = "WHERE start_epoch >= :since AND start_epoch < :until"
        if self.cached and view == "metric_interruptions":
            from engine.store.insights_cache import columns as names

            return f"SELECT {columns} FROM (SELECT {', '.join(names(self.conn, view))} FROM ic.interruptions {window})"
        if self.cached:
            return (f"WITH {self._cached_ctes(view)} SELECT {columns} FROM "
                    f"{view if view in CACHED else f'({body(view)})'} {window}")
        self._materialize(since, until, "insight_incidents" if view in ("insight_incidents", "insight_causes")
                          else BASE[-1])
        source = f"w_{view}" if view in BASE else f"({body(view, True)})"
        return f"{WITH_TEMP} SELECT {columns} FROM {source} {window}"

    def lifecycle(self, since: float, until: float, columns: Sequence[str] = LIFECYCLE) -> list[tuple[Any, ...]]:
        """Those columns of ``insight_lifecycle`` (of ``LIFECYCLE``) for incidents started in ``[since, until)``,
        as tuples (one query, no dict per row)."""
        if not set(columns) <= set(LIFECYCLE):
            raise KeyError(sorted(set(columns) - set(LIFECYCLE)))
        cols = ", ".join(columns)
        params = {"since": since, "until": until}
        if self.cached:
            sql = f"SELECT {cols} FROM ic.lifecycle WHERE start_epoch >= :since AND start_epoch < :until"
        else:
            self._materialize(since, until)
            sql = f"SELECT {cols} FROM w_insight_lifecycle WHERE start_epoch >= :since AND start_epoch < :until"
        return self.conn.execute(sql, params).fetchall()

    def false_positive_counts(self, since: float, until: float) -> list[tuple[Any, ...]]:
        """``metric_false_positive`` for events started in the window, counted in SQL in one pass: rows of
        (team, service, severity, events, confirmed, the false positives' event ids as a JSON array)."""
        return self.conn.execute(
            "SELECT team, service, severity, count(*), count(false_positive), "
            "json_group_array(event_id) FILTER (WHERE false_positive = 1) "
            f"FROM ({body('metric_false_positive')}) WHERE start_epoch >= :since AND start_epoch < :until "
            "GROUP BY team, service, severity", {"since": since, "until": until}).fetchall()

    def _query(self, sql: str, since: float, until: float) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, {"since": since, "until": until})
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def _cached_ctes(self, view: str = "insight_lifecycle") -> str:
        """The views the cache holds, as CTEs over its rows of the window (``:since``, ``:until``); the pages
        of the window's incidents from the log when ``view`` needs them."""
        if not self._columns:
            from engine.store.insights_cache import columns

            self._columns = {v: columns(self.conn, v) for v in CACHED}
        window = "FROM ic.lifecycle WHERE start_epoch >= :since AND start_epoch < :until"
        ctes = [f"{v} AS (SELECT {', '.join(self._columns[v])} {window})" for v in CACHED]
        if view == "metric_interruptions":
            ctes += [f"win AS (SELECT incident_id {window})", f"insight_pages AS ({body('insight_pages', True)})"]
        return ", ".join(ctes)

    def _materialize(self, since: float, until: float, upto: str = BASE[-1]) -> None:
        """The base views for one window as TEMP tables (the connection's own, never the log's), so the
        metric views of one report share one pass over the log's rows; built up to ``upto`` only
        (the incidents alone for the anomaly detectors)."""
        need = BASE.index(upto) + 1
        if self._window == (since, until) and self._built >= need:
            return
        params = {"since": since, "until": until}
        if self._window != (since, until):
            for name in ("win", *BASE):
                self.conn.execute(f"DROP TABLE IF EXISTS temp.w_{name}")
            self.conn.execute("CREATE TEMP TABLE w_win AS SELECT DISTINCT incident_id FROM decisions WHERE "
                              "event_epoch >= :since AND event_epoch < :until AND incident_id IS NOT NULL "
                              "AND incident_id != ''", params)
            self._window, self._built = (since, until), 0
        for i in range(self._built, need):
            ctes = ", ".join(["win AS (SELECT incident_id FROM w_win)",
                              *[f"{b} AS (SELECT * FROM w_{b})" for b in BASE[:i]]])
            self.conn.execute(f"CREATE TEMP TABLE w_{BASE[i]} AS WITH {ctes} SELECT * FROM ({body(BASE[i], True)})",
                              params)
        self._built = max(self._built, need)

    def points(self, since: float, until: float, causes_from: float | None = None) -> list[dict[str, Any]]:
        """What the anomaly detectors read of each incident started in ``[since, until)``: ``incident_id``,
        ``service``, ``severity``, ``start_epoch``, and with ``causes_from`` its ``rule`` and ``fingerprint``
        (``insight_causes``) when it started at or after ``causes_from`` ("" before)."""
        keys = ("incident_id", "service", "severity", "start_epoch", "rule", "fingerprint")
        if self.cached:
            cur = self.conn.execute(
                "SELECT incident_id, service, severity, start_epoch, "
                "CASE WHEN start_epoch >= :cf THEN rule ELSE '' END, "
                "CASE WHEN start_epoch >= :cf THEN fingerprint ELSE '' END FROM ic.lifecycle "
                "WHERE start_epoch >= :since AND start_epoch < :until",
                {"since": since, "until": until, "cf": until if causes_from is None else causes_from})
            return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]
        rows = [{k: r[k] for k in keys[:4]} for r in self.rows("insight_incidents", since, until)]
        causes = {} if causes_from is None else {
            r["incident_id"]: r for r in self.rows("insight_causes", max(since, causes_from), until)}
        for r in rows:
            c = causes.get(r["incident_id"])
            r["rule"], r["fingerprint"] = (c["rule"], c["fingerprint"]) if c else ("", "")
        return rows

    def checkpoint(self) -> dict[str, int]:
        """The log position a report was computed from: the newest row id of each table it reads."""
        out = {}
        for table in ("decisions", "results", "incident_updates", "severity_feedback", "incidents"):
            out[table] = int(self.conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0])
        return out

    def rules_hashes(self, since: float, until: float) -> list[str]:
        """The rules hashes that decided incidents starting in the window, most used first."""
        if self.cached:
            rows = self.conn.execute(
                "SELECT rules_hash FROM ic.lifecycle WHERE start_epoch >= ? AND start_epoch < ? AND rules_hash != '' "
                "GROUP BY rules_hash ORDER BY count(*) DESC, rules_hash", (since, until)).fetchall()
            return [r[0] for r in rows]
        counts: dict[str, int] = {}
        for r in self.rows("insight_incidents", since, until):
            if r["rules_hash"]:
                counts[r["rules_hash"]] = counts.get(r["rules_hash"], 0) + 1
        return sorted(counts, key=lambda h: (-counts[h], h))

    def latest_epoch(self) -> float | None:
        """The newest incident start in the log (the default window ends just after it)."""
        row = self.conn.execute("SELECT max(event_epoch) FROM decisions").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def first_epoch(self) -> float | None:
        """The oldest incident start in the log: where its history begins."""
        row = self.conn.execute("SELECT min(event_epoch) FROM decisions").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def remediations(self, since: float, until: float) -> list[dict[str, Any]]:
        """Remediation actions of incidents started in the window, with their outcome and the incident's resolve."""
        if not self.cached:
            self._materialize(since, until)
        ctes = f"WITH {self._cached_ctes()}" if self.cached else WITH_TEMP
        cur = self.conn.execute(
            f"{ctes} SELECT a.incident_id, a.action, coalesce(r.outcome, 'pending') AS outcome, l.service, "
            f"l.resolve_epoch, l.resolved_by, l.ack_epoch, {EPOCH.format('r.at')} AS done_epoch FROM actions a "
            "JOIN insight_lifecycle l USING (incident_id) LEFT JOIN results r ON r.action_id = a.id "
            "WHERE a.kind = 'remediate' AND l.start_epoch >= :since AND l.start_epoch < :until",
            {"since": since, "until": until})
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
