"""Semantic checks of the on-call schedule in ``escalation-matrix``: owners, rotations, overrides.

Run as the ``oncall`` check of :data:`engine.compiler.checks.CHECKS` after the schemas pass (the schema
already rejects an empty ``primary`` list and a negative ``escalation_delay``; :mod:`engine.compiler.checks`
reports unknown teams). Takes the typed policy and the matrix :class:`~engine.compiler.load.Document`; returns
Diagnostics located at the offending value:

``service-without-owner``  (warning) a service mapped to nothing: its incidents go to the fallback team
``bad-time``               a rotation ``start`` or override ``start``/``end`` that is not RFC 3339
``rotation-gap``           a rotation ``start`` between hand-offs: the first shift is not a week
``override-empty``         an override whose ``end`` is not after its ``start`` (it covers nothing)
``overlapping-overrides``  two overrides covering the same person at the same time
``person-in-no-team``      an override's ``who`` is in no team (primary, backup or rotation)
``override-covers-outsider``  an override ``covers`` someone who is not on that team
``slack-user-unknown``     a ``slack_users`` entry for someone in no team and no level's ``notify``: a typo
                           (the person it means would be written as plain text, which notifies nobody)
"""

from __future__ import annotations

from datetime import datetime

from engine.compiler.load import Document, escape
from engine.model.diagnostics import Diagnostic
from engine.model.policy import Policy, Team
from engine.model.schedule import WEEK, first_handoff_after, handoff_offset, parse_time


def members(team: Team) -> set[str]:
    """Everyone who can be on call for ``team``."""
    return {*team.primary, *team.backup, *(team.rotation.members if team.rotation else ())}


def check_oncall(policy: Policy, doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for service, team in (doc.data.get("services") or {}).items():
        if not team:
            out.append(doc.diagnostic(
                f"/services/{escape(service)}", "service-without-owner",
                f"service {service!r} has no owner; its incidents page the fallback team "
                f"{policy.fallback_team!r} (flagged in the audit log)", severity="warning"))
    everyone = set().union(*(members(t) for t in policy.teams.values()))
    paged = everyone | {p for level in policy.levels.values() for p in level.notify}
    for person in policy.slack_users:
        if person not in paged:
            out.append(doc.diagnostic(
                f"/slack_users/{escape(person)}", "slack-user-unknown", key=True, message=
                f"slack_users: {person!r} is in no team and no level's notify list, so this mapping is never "
                "used", have=person, want=sorted(paged)))
    for name, team in policy.teams.items():
        base = f"/teams/{escape(name)}"
        out += _rotation(team, doc, f"{base}/rotation")
        out += _overrides(team, doc, f"{base}/overrides", everyone)
    return out


def _rotation(team: Team, doc: Document, ptr: str) -> list[Diagnostic]:
    rot = team.rotation
    if rot is None or not rot.start:
        return []
    try:
        start = parse_time(rot.start)
        handoff_offset(rot.handoff)
    except ValueError as exc:
        return [doc.diagnostic(f"{ptr}/start", "bad-time", f"rotation start {rot.start!r} is not an RFC 3339 time: "
                               f"{exc}", have=rot.start, want="e.g. 2025-01-06T09:00:00Z")]
    nxt = first_handoff_after(rot, start)
    prev = nxt - WEEK
    if prev == start:
        return []
    return [doc.diagnostic(
        f"{ptr}/start", "rotation-gap",
        f"team {team.name!r}: rotation starts at {start.isoformat()}, between hand-offs ({rot.handoff} UTC), so "
        f"{rot.members[0]}'s first shift lasts {nxt - start} instead of a week",
        have=rot.start, want=[_z(prev), _z(nxt)], hint="start the rotation at a hand-off")]


def _overrides(team: Team, doc: Document, ptr: str, everyone: set[str]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    windows: list[tuple[int, datetime, datetime]] = []
    mine = members(team)
    for i, o in enumerate(team.overrides):
        here = f"{ptr}/{i}"
        if o.who not in everyone:
            out.append(doc.diagnostic(f"{here}/who", "person-in-no-team",
                                      f"override: {o.who!r} is in no team (not a primary, backup or rotation "
                                      "member anywhere), so nobody would know they are on call", have=o.who))
        if o.covers not in mine:
            out.append(doc.diagnostic(f"{here}/covers", "override-covers-outsider",
                                      f"override: {o.covers!r} is not on team {team.name!r}, so the override "
                                      "never applies", have=o.covers, want=sorted(mine)))
        times: list[datetime] = []
        for key, text in (("start", o.start), ("end", o.end)):
            try:
                times.append(parse_time(text))
            except ValueError as exc:
                out.append(doc.diagnostic(f"{here}/{key}", "bad-time", f"override {key} {text!r} is not an RFC 3339 "
                                          f"time: {exc}", have=text, want="e.g. 2025-01-06T09:00:00Z"))
        if len(times) < 2:
            continue
        start, end = times
        if end <= start:
            out.append(doc.diagnostic(f"{here}/end", "override-empty",
                                      f"override of {o.covers!r} ends ({o.end}) before it starts ({o.start})"))
            continue
        for j, s, e in windows:
            if team.overrides[j].covers == o.covers and s < end and start < e:
                line, col = doc.where(f"{ptr}/{j}")
                out.append(doc.diagnostic(
                    f"{here}/start", "overlapping-overrides",
                    f"override of {o.covers!r} by {o.who!r} overlaps the one by {team.overrides[j].who!r} "
                    f"at {doc.path}:{line}:{col} ({team.overrides[j].start} to {team.overrides[j].end})"))
        windows.append((i, start, end))
    return out


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
