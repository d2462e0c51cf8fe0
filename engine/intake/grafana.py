"""Grafana unified-alerting webhook → one :class:`~engine.model.event.Event` per alert.

The payload is an Alertmanager group plus Grafana fields, so the mapping is the Alertmanager one
(see :mod:`engine.intake.alertmanager`) with ``source: grafana``, ids prefixed ``grafana:``, and:

``metrics``   each entry of the alert's ``values`` (query/expression ref ids, e.g.
              ``{"B": 22, "C": 1}`` → ``metrics.B = 22``, ``metrics.C = 1``), plus the
              Alertmanager ``value`` annotation convention. Non-numeric values stay in labels.
``labels``    ``silenceURL``, ``dashboardURL``, ``panelURL``, ``valueString``, ``imageURL`` and the
              deprecated group ``title``/``state``/``message`` as ``grafana.<field>`` (empty ones
              are skipped).

Detected by ``orgId`` at the top level or ``values``/``silenceURL`` on an alert; ``version`` is
``"1"`` (Alertmanager sends ``"4"``). Grafana 12 test alerts (relative ``generatorURL`` such as
``?orgId=1``) normalize like any other alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.intake.alertmanager import normalize_group
from engine.intake.normalize import Fields, name, number
from engine.intake.quarantine import Quarantined
from engine.model.event import Event

NAME = "grafana"


def matches(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("alerts"), list):
        return False
    alerts = [a for a in doc["alerts"] if isinstance(a, dict)]
    return "orgId" in doc or any("values" in a or "silenceURL" in a for a in alerts)


def normalize(doc: dict[str, Any], *, now: datetime, max_item_bytes: int = 0) -> list[Event | Quarantined]:
    return normalize_group(doc, now=now, source=NAME, extend=_values, max_item_bytes=max_item_bytes)


def _values(f: Fields, fields: dict[str, Any]) -> None:
    values = f.mapping("values")
    leftover = {}
    for ref, raw in values.items():
        value = number(raw)
        if value is not None and len(fields["metrics"]) < 64:
            fields["metrics"][name(str(ref), "value")] = value
        else:
            leftover[ref] = raw
    if leftover:
        f.used.discard("values")
        f.doc = {**f.doc, "values": leftover}
