"""Incident history from Python and from ``rules history``: the same functions behind both.

    >>> from engine.report.history import list_incidents, latest, show, Filters
    >>> latest("escalation.db", 5)                                   # five newest incidents, dicts
    >>> list_incidents("escalation.db", Filters(status="open", since=parse_when("7d")))

Each row is the brief's history entry (``incident_id``, ``timestamp``, ``severity``, ``service``,
``actions_taken``, ``resolution_time``, ``owner``) followed by what the log knows; the columns are
defined in :mod:`engine.store.history_queries`. Renderings: a rich table for people (fits the
terminal; ``NO_COLOR`` honoured), ``json`` (one array), ``jsonl``, ``csv`` and ``markdown``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.store.history_queries import COLUMNS, SEVERITY_RANK, Filters, incident_events, query
from engine.store.readonly import connect_ro

__all__ = ["Filters", "list_incidents", "latest", "show", "parse_when", "render", "table", "FORMATS", "iso"]
FORMATS = ("table", "json", "jsonl", "csv", "markdown")
TABLE_COLUMNS = ("incident_id", "timestamp", "severity", "service", "status", "owner", "team", "level",
                 "actions_taken", "resolution_time", "pages", "escalations", "suppressed_events")
_NAMES = {v: k for k, v in SEVERITY_RANK.items()}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
Db = Any  # a path, or an open read-only connection (engine.store.readonly.connect_ro)


def iso(epoch: float | None) -> str | None:
    """Epoch seconds → RFC 3339 UTC (``2025-01-01T14:23:45Z``; milliseconds only when there are any)."""
    if epoch is None:
        return None
    dt = datetime.fromtimestamp(epoch, UTC)
    text = dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _norm_time(text: str | None) -> str | None:
    if not text:
        return text
    try:
        return iso(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return text


def parse_when(text: str, now: datetime | None = None) -> float:
    """``7d`` / ``12h`` / ``30m`` / ``90s`` / ``2w`` before ``now``, or an RFC 3339 time / date → epoch.

    Raises ValueError with a one-line message for anything else.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m:
        base = (now or datetime.now(UTC)).timestamp()
        return base - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (7d, 12h, 30m) nor an RFC 3339 time") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in COLUMNS:
        if col == "timestamp":
            out[col] = iso(row["opened"])
        elif col == "severity":
            out[col] = _NAMES.get(row["rank"], "NONE")
        elif col == "actions_taken":
            out[col] = json.loads(row[col] or "[]")
        elif col == "resolution_time":
            value = row[col]
            out[col] = None if value is None else round(max(value, 0.0), 3)
        elif col in ("acknowledged_at", "resolved_at"):
            out[col] = _norm_time(row[col])
        else:
            out[col] = row[col]
    return out


def _conn(db: Db) -> tuple[Any, bool]:
    return (db, False) if not isinstance(db, str | Path) else (connect_ro(db), True)


def list_incidents(db: Db, filters: Filters | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """History rows matching ``filters``, newest first (all of them when ``limit`` is None)."""
    conn, mine = _conn(db)
    try:
        return [_shape(r) for r in query(conn, filters or Filters(), limit)]
    finally:
        if mine:
            conn.close()


def latest(db: Db, n: int = 10, filters: Filters | None = None) -> list[dict[str, Any]]:
    """The ``n`` newest incidents (by the time of their first event)."""
    return list_incidents(db, filters, n)


def show(db: Db, incident_id: str) -> dict[str, Any] | None:
    """One incident's history row plus its ``decisions`` (event id, severity, time, rules); None if unknown."""
    conn, mine = _conn(db)
    try:
        rows = query(conn, Filters(), None, incident_id=incident_id)
        if not rows:
            return None
        out = _shape(rows[0])
        out["decisions"] = [{"event_id": e["event_id"], "severity": e["severity"], "timestamp": iso(e["event_epoch"]),
                             "rules_hash": e["rules_hash"], "fired_rules": json.loads(e["fired_rules"] or "[]")}
                            for e in incident_events(conn, incident_id)]
        return out
    finally:
        if mine:
            conn.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(rows: Sequence[dict[str, Any]], fmt: str = "table", width: int | None = None,
           columns: Sequence[str] | None = None) -> str:
    """``rows`` as text in one of :data:`FORMATS` (the table: ``columns``, default :data:`TABLE_COLUMNS`)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    keys = list(columns or (rows[0].keys() if rows and fmt != "table" else TABLE_COLUMNS))
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(keys)
        for r in rows:
            writer.writerow([json.dumps(r.get(k)) if isinstance(r.get(k), list | dict) else _cell(r.get(k))
                             for k in keys])
        return buf.getvalue()
    if fmt == "markdown":
        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")
        lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(esc(_cell(r.get(k))) for k in keys) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt == "table":
        return _table(rows, keys, width)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


_STYLE = {"CRITICAL": "bold red", "MAJOR": "red", "MODERATE": "yellow", "NONE": "dim"}


# In the order shown; a narrow terminal drops the columns at the end of PRIORITY first.
# which columns a narrow terminal keeps first: the history table's, then those of the audit tables (who was paged by
# which rule, and what came of it, before the times and hashes)
PRIORITY = ("incident_id", "severity", "service", "status", "timestamp", "actions_taken", "owner", "resolution_time",
            "team", "level", "pages", "escalations", "suppressed_events",
            "incident", "rule", "adapter", "targets", "outcome", "event_id", "due_at", "event_time", "firings",
            "selected", "stage")
_HEADERS = {"incident_id": "incident", "resolution_time": "resolved in s", "actions_taken": "actions",
            "suppressed_events": "suppressed", "escalations": "esc"}
_NUMERIC = ("resolution_time", "pages", "escalations", "suppressed_events", "events")


WIDEST = 28  # a cell wider than this is shortened with an ellipsis when the terminal is narrow (not an id: _IDS)
_IDS = ("incident_id", "incident", "event_id")  # copied into the next command: never shortened
NARROWEST = 8  # a column given less room than this is left out


def fit_columns(rows: Sequence[dict[str, Any]], keys: Sequence[str], width: int) -> dict[str, int | None]:
    """The columns of ``keys`` shown in ``width`` characters, each with its maximum width (None: whole), taken
    in :data:`PRIORITY` order (``keys``' own order for the rest). When everything does not fit whole, long cells
    are shortened to :data:`WIDEST` first; then the columns are taken in order until one no longer fits, which gets
    what is left (at least :data:`NARROWEST`) — a later, smaller column never takes the place of a more
    important one."""
    def need(k: str) -> int:
        return max([len(_HEADERS.get(k, k))] + [len(_cell(r.get(k))) for r in rows])

    order = sorted(keys, key=lambda k: PRIORITY.index(k) if k in PRIORITY else len(PRIORITY))
    whole = {k: need(k) for k in order}
    if sum(w + 2 for w in whole.values()) <= width:
        return {k: None for k in keys}
    capped = {k: w if k in _IDS else min(w, WIDEST) for k, w in whole.items()}
    chosen: dict[str, int | None] = {}
    left = width
    for k in order:
        room = min(capped[k], left - 2)
        if chosen and room < min(NARROWEST, capped[k]):
            break
        chosen[k] = None if room >= whole[k] else max(room, 1)
        left -= room + 2
    return {k: chosen[k] for k in keys if k in chosen}


def table(rows: Sequence[dict[str, Any]], keys: Sequence[str] = TABLE_COLUMNS, width: int | None = None) -> Any:
    """A :class:`rich.table.Table` of ``rows`` with the columns that fit ``width`` (printed by a rich
    Console, which colours only a terminal and never with ``NO_COLOR`` set)."""
    from rich.table import Table

    widths: dict[str, int | None] = fit_columns(rows, keys, width) if width is not None else {k: None for k in keys}
    out = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for k, most in widths.items():
        out.add_column(_HEADERS.get(k, k), overflow="ellipsis", no_wrap=True, max_width=most,
                       justify="right" if k in _NUMERIC else "left")
    for r in rows:
        out.add_row(*[_cell(r.get(k)) for k in widths], style=_STYLE.get(str(r.get("severity")), ""))
    return out


def _table(rows: Sequence[dict[str, Any]], keys: Sequence[str], width: int | None) -> str:
    from rich.console import Console

    buf = io.StringIO()
    width = width or 160
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(table(rows, keys, width))
    return buf.getvalue()
