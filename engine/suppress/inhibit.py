"""Inhibition's index: the open incidents that may mute an event, found by the values of the rule's ``equal`` fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.compiler.matchers import lookup, matches_all
from engine.compiler.suppression import Inhibit
from engine.suppress.incidents import Incident
from engine.suppress.verdict import Mechanism, Seen, Verdict

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


class InhibitSources:
    """The open incidents an inhibit rule's ``source`` matches, by the values of its ``equal`` fields.

    Finds the muting incident of an event without testing every open incident; when several
    qualify, the lowest rank (the stage's incident order) wins, as the first one in a scan would.
    """

    def __init__(self, rule: Inhibit) -> None:
        self.rule = rule
        self.by_key: dict[tuple[str, ...], dict[str, int]] = {}  # equal values → {incident id: rank}

    def key(self, doc: dict[str, Any]) -> tuple[str, ...]:
        return tuple([lookup(doc, f) for f in self.rule.equal])

    def add(self, inc: Incident, rank: int) -> None:
        if matches_all(self.rule.source, inc.doc):
            self.by_key.setdefault(self.key(inc.doc), {})[inc.incident_id] = rank

    def discard(self, inc: Incident) -> None:
        """Call before the incident's document changes (it is found by its current values)."""
        key = self.key(inc.doc)
        bucket = self.by_key.get(key)
        if bucket is not None and bucket.pop(inc.incident_id, None) is not None and not bucket:
            del self.by_key[key]

    def first(self, doc: dict[str, Any], live: Callable[[str], bool] = lambda _: True) -> str | None:
        """The muting incident: the lowest-ranked one still ``live`` (see SuppressionStage._live)."""
        bucket = self.by_key.get(self.key(doc))
        if not bucket:
            return None
        return next((i for i in sorted(bucket, key=bucket.__getitem__) if live(i)), None)


def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
    """Muted by an open incident its rule's ``source`` matches, with the same ``equal`` values."""
    for rule, sources in zip(stage._inhibit, stage._sources, strict=True):
        if not matches_all(rule.target, seen.doc):
            continue
        muting = sources.first(seen.doc, lambda i: stage._live(stage.incidents[i], seen.now))
        if muting is not None:
            src = stage.incidents[muting]
            eq = f", equal {'/'.join(rule.equal)}" if rule.equal else ""
            return Verdict("suppressed", "inhibit", f"muted by open {src.severity} incident "
                           f"{src.incident_id} (rule {rule.id}{eq})")
    return None


INHIBIT = Mechanism("inhibit", lambda p: p.on("inhibit") and bool(p.inhibit), check)
