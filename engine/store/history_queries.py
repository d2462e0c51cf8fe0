"""Incident history as SQL over the audit log: one row per incident, filtered, newest first.

An *incident* is a distinct non-empty ``decisions.incident_id``; its **opening decision** is the
first ``decisions`` row (by rowid) carrying that id, and ``timestamp`` is that decision's event time
(``event_epoch``). Each column, from recorded rows only:

==================  ==========================================================================
severity            the highest severity any decision of the incident had (an upgrade raises it)
service             the opening decision's service
actions_taken       remediation actions requested (``actions.kind = 'remediate'``), first request first
resolution_time     seconds from ``timestamp`` to the first resolve (``incident_updates``); null if open
owner, team, level  the newest decision's ``owner.primary[0]``, ``owner.team``, ``escalation.level``
status              ``resolved`` (a resolve recorded), else ``acked`` (an ack recorded), else ``open``
rules_hash          the opening decision's rules hash
pages               page actions executed: with a result other than cancelled or superseded
                    (ok, failed, not-configured; a step still due is not counted)
escalations         distinct escalation steps (> 0) among those pages
acknowledged_*      the first ack: ``by`` and ``occurred_at``; resolved_* the first resolve
remediation_outcome the newest remediation's result (``pending`` without one); null if none requested
suppressed_events   ``suppressions`` rows of the incident other than ``held`` (repeats, attached, …)
events              decisions carrying the incident id
==================  ==========================================================================

The query walks opening decisions in ``event_epoch`` order through ``idx_decisions_event_epoch``,
finds "opening" with ``idx_decisions_incident_id`` and computes every other column by an indexed
correlated subquery, so ``LIMIT`` stops the walk early: ``latest 20`` costs 20 incidents' lookups
whatever the size of the log (indexes: the ``history-indexes`` migration in engine/store/migrations.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from engine.store.readonly import has_table

SEVERITY_RANK = {"NONE": 0, "MODERATE": 1, "MAJOR": 2, "CRITICAL": 3}
STATUSES = ("open", "acked", "resolved")
COLUMNS = ("incident_id", "timestamp", "severity", "service", "actions_taken", "resolution_time", "owner", "team",
           "status", "level", "rules_hash", "pages", "escalations", "acknowledged_by", "acknowledged_at",
           "resolved_by", "resolved_at", "remediation_outcome", "suppressed_events", "events")
_GONE = "('cancelled', 'superseded')"


@dataclass(frozen=True)
class Filters:
    """What ``rules history list`` filters on; every field optional (None: no filter)."""

    severity: str | None = None
    service: str | None = None
    team: str | None = None
    owner: str | None = None
    status: str | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    rule: str | None = None  # a rule id ("latency-degraded") or a firing name ("severity:latency-degraded")
    rules_hash: str | None = None  # a prefix of the hash
    outcome: str | None = None  # an action result (ok, failed, not-configured, cancelled, …) or "pending"


def _select(suppressions: bool) -> str:
    inc = "i.incident_id"
    newest = f"(SELECT {{}} FROM decisions x WHERE x.incident_id = {inc} ORDER BY x.rowid DESC LIMIT 1)"
    update = (f"(SELECT {{}} FROM incident_updates u WHERE u.incident_id = {inc} AND u.type = '{{}}' "
              "ORDER BY u.id LIMIT 1)")
    suppressed = (f"(SELECT count(*) FROM suppressions s WHERE s.incident_id = {inc} AND s.outcome != 'held')"
                  if suppressions else "0")
    return f"""
SELECT i.incident_id, i.event_epoch AS opened,
  (SELECT max(CASE x.severity WHEN 'CRITICAL' THEN 3 WHEN 'MAJOR' THEN 2 WHEN 'MODERATE' THEN 1 ELSE 0 END)
     FROM decisions x WHERE x.incident_id = {inc}) AS rank,
  i.service,
  (SELECT json_group_array(action) FROM (SELECT a.action FROM actions a WHERE a.incident_id = {inc}
     AND a.kind = 'remediate' GROUP BY a.action ORDER BY min(a.id))) AS actions_taken,
  {update.format("(julianday(u.occurred_at) - 2440587.5) * 86400.0", "resolve")} - i.event_epoch AS resolution_time,
  {newest.format("json_extract(x.owner, '$.primary[0]')")} AS owner,
  {newest.format("json_extract(x.owner, '$.team')")} AS team,
  CASE WHEN EXISTS (SELECT 1 FROM incident_updates u WHERE u.incident_id = {inc} AND u.type = 'resolve')
       THEN 'resolved'
       WHEN EXISTS (SELECT 1 FROM incident_updates u WHERE u.incident_id = {inc} AND u.type = 'ack') THEN 'acked'
       ELSE 'open' END AS status,
  {newest.format("json_extract(x.escalation, '$.level')")} AS level,
  i.rules_hash,
  (SELECT count(*) FROM actions a JOIN results r ON r.action_id = a.id WHERE a.incident_id = {inc}
     AND a.kind = 'page' AND r.outcome NOT IN {_GONE}) AS pages,
  (SELECT count(DISTINCT a.step) FROM actions a JOIN results r ON r.action_id = a.id WHERE a.incident_id = {inc}
     AND a.kind = 'page' AND a.step > 0 AND r.outcome NOT IN {_GONE}) AS escalations,
  {update.format("u.by", "ack")} AS acknowledged_by,
  {update.format("u.occurred_at", "ack")} AS acknowledged_at,
  {update.format("u.by", "resolve")} AS resolved_by,
  {update.format("u.occurred_at", "resolve")} AS resolved_at,
  (SELECT coalesce(r.outcome, 'pending') FROM actions a LEFT JOIN results r ON r.action_id = a.id
     WHERE a.incident_id = {inc} AND a.kind = 'remediate' ORDER BY a.id DESC LIMIT 1) AS remediation_outcome,
  {suppressed} AS suppressed_events,
  (SELECT count(*) FROM decisions x WHERE x.incident_id = {inc}) AS events
FROM decisions i
WHERE i.incident_id IS NOT NULL AND i.incident_id != ''
  AND NOT EXISTS (SELECT 1 FROM decisions e WHERE e.incident_id = i.incident_id AND e.rowid < i.rowid)"""


def _where(f: Filters) -> tuple[str, str, dict[str, Any]]:
    """Conditions on the opening decision ``i`` (placed in the inner WHERE) and on computed columns."""
    inner: list[str] = []
    outer: list[str] = []
    params: dict[str, Any] = {}
    if f.since is not None:
        inner.append("i.event_epoch >= :since")
        params["since"] = f.since
    if f.until is not None:
        inner.append("i.event_epoch < :until")
        params["until"] = f.until
    if f.service is not None:
        inner.append("i.service = :service")
        params["service"] = f.service
    if f.rules_hash is not None:
        inner.append("EXISTS (SELECT 1 FROM decisions x WHERE x.incident_id = i.incident_id "
                     "AND substr(x.rules_hash, 1, length(:rules_hash)) = :rules_hash)")
        params["rules_hash"] = f.rules_hash
    if f.rule is not None:
        inner.append("EXISTS (SELECT 1 FROM decisions x JOIN firings g ON g.event_id = x.event_id "
                     "WHERE x.incident_id = i.incident_id AND (g.rule = :rule "
                     "OR substr(g.rule, instr(g.rule, ':') + 1) = :rule))")
        params["rule"] = f.rule
    if f.outcome is not None:
        inner.append("EXISTS (SELECT 1 FROM actions a LEFT JOIN results r ON r.action_id = a.id "
                     "WHERE a.incident_id = i.incident_id AND coalesce(r.outcome, 'pending') = :outcome)")
        params["outcome"] = f.outcome
    for name in ("team", "owner", "status"):
        value = getattr(f, name)
        if value is not None:
            outer.append(f"h.{name} = :{name}")
            params[name] = value
    if f.severity is not None:
        outer.append("h.rank = :rank")
        params["rank"] = SEVERITY_RANK[f.severity]
    return " AND ".join(inner), " AND ".join(outer), params


def query(conn: sqlite3.Connection, filters: Filters | None = None, limit: int | None = None,
          incident_id: str | None = None) -> list[dict[str, Any]]:
    """History rows (raw: ``rank`` and ``opened`` epoch; engine.report.history shapes them), newest first."""
    if not has_table(conn, "decisions"):
        return []
    inner, outer, params = _where(filters or Filters())
    sql = _select(has_table(conn, "suppressions"))
    if incident_id is not None:
        sql += " AND i.incident_id = :incident_id"
        params["incident_id"] = incident_id
    if inner:
        sql += " AND " + inner
    sql = f"SELECT * FROM ({sql}) h" + (f" WHERE {outer}" if outer else "")
    sql += " ORDER BY h.opened DESC, h.incident_id"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def incident_events(conn: sqlite3.Connection, incident_id: str) -> list[dict[str, Any]]:
    """The decisions of one incident, oldest first: event id, severity, event time, rules hash."""
    cur = conn.execute("SELECT d.event_id, d.severity, d.event_epoch, d.rules_hash, d.fired_rules FROM decisions d "
                       "WHERE d.incident_id = ? AND d.incident_id != '' ORDER BY d.rowid", (incident_id,))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]
