"""Building blocks shared by the format modules: vendor values in, canonical field values out.

* :func:`service_name` keeps a value that is already a valid ``Event.service`` and otherwise
  slugs it (lowercase, runs of other characters become ``-``): ``High CPU usage`` →
  ``high-cpu-usage``. Letters and digits of any script are kept after Unicode NFKC
  normalization (``платежи-api``, ``支付``; fullwidth ``ｐａｙ`` → ``pay``), so two services in
  other scripts never collapse into one. The original value stays in ``labels``.
  (:func:`name`, for metric names and label keys, stays ASCII.)
* :func:`stable_id` builds ``<prefix>:<readable part>:<hash>`` ids from the fields that identify
  one delivery, so a redelivered webhook gets the same ``event_id`` and dedups.
* :class:`Fields` reads a vendor object and remembers which keys it used; every key not used
  (or of an unexpected type) comes back from :meth:`Fields.leftovers` as a ``<prefix>.<key>``
  label, stringified and truncated, so nothing is dropped silently. Empty values are skipped and
  keys that look like secrets (``secret``, ``token``, ``password``, ``signature``…) keep only
  ``<redacted>``.
* :func:`merge_labels` caps an event's labels at 64; past the cap it keeps the labels rules and
  matchers usually read (:data:`KEEP_FIRST`) and the vendor's own labels before its leftovers.
* :func:`to_event` runs the result through ``Event.model_validate`` (the canonical model stays
  the one authority) and turns a failure into ``IntakeError(code="schema")``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from engine.intake.errors import IntakeError
from engine.model.event import Acknowledgement, Event, timestamp_problem

MAX_LABELS = 64
MAX_LABEL_VALUE = 1000
MAX_ERRORS = 5
DROPPED = "intake.dropped_labels"
_KEEP: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("keep_labels", default=frozenset())
_NAME = re.compile(r"^[A-Za-z0-9_.:/@-]{1,200}$")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.:/@-]+")
# Event.service: letters and digits of any script (str patterns are Unicode-aware: \w is [\p{L}\p{N}_])
_SERVICE = re.compile(r"^[\w.:/@-]{1,200}$")
_NOT_SERVICE = re.compile(r"[^\w.:/@-]+")
# Kept first when an event has more than MAX_LABELS labels: what rules, matchers and templates usually read
# (Alertmanager/Grafana/Datadog/CloudWatch severity conventions, routing and grouping keys).
KEEP_FIRST = ("service", "severity", "priority", "alertname", "env", "environment", "job", "instance", "team",
              "cluster", "namespace", "condition", "metric", "alarm_state", "alert_type", "datadog.priority",
              "datadog.alert_priority")
# Matched against the last dotted part of a key: "sns.Signature" yes, "sns.SignatureVersion" no.
_SECRET = re.compile(r"secret|passw|api[_-]?key|authorization|token$|^signature$|^unsubscribeurl$", re.I)


def is_name(value: str) -> bool:
    return bool(_NAME.match(value))


def name(value: str, fallback: str = "unknown") -> str:
    """``value`` as an ``Event`` name (service, metric, label key): kept if valid, else slugged."""
    if is_name(value):
        return value
    slug = _NOT_NAME.sub("-", value.lower()).strip("-._")[:200].strip("-._")
    return slug or fallback


def service_name(value: str, fallback: str = "unknown") -> str:
    """``value`` as an ``Event.service``: NFKC-normalized, kept if valid, else slugged; any script."""
    value = unicodedata.normalize("NFKC", value)
    if _SERVICE.match(value):
        return value
    slug = _NOT_SERVICE.sub("-", value.lower()).strip("-._")[:200].strip("-._")
    return slug or fallback


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stringify(value: Any) -> str:
    """A label value: strings as-is, everything else as compact JSON; truncated."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return clip(text, MAX_LABEL_VALUE)


def digest(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def stable_id(prefix: str, readable: str, *identity: Any) -> str:
    """``<prefix>:<readable>:<hash(identity)>``; ``readable`` is slugged and shortened."""
    part = _NOT_NAME.sub("-", readable).strip("-")[:64]
    return f"{prefix}:{part}:{digest(*identity)}" if part else f"{prefix}:{digest(*identity)}"


def number(value: Any) -> float | None:
    """A finite float from a JSON number or a numeric string; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str) and len(value) <= 50:
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def timestamp(value: Any) -> datetime | None:
    """RFC 3339 text (no offset means UTC) or epoch seconds/milliseconds; None when unusable.

    Go's zero time ``0001-01-01T00:00:00Z`` (Alertmanager's "no endsAt yet") is None too.
    """
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not "²": int() refuses it
        value = int(value.strip()[:20])
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Go emits nanoseconds; datetime keeps microseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.year <= 1:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None if parsed.year >= 9998 and timestamp_problem(parsed) else parsed


class Fields:
    """Typed reads from one vendor object; unread keys become labels (see module docstring)."""

    def __init__(self, doc: Mapping[str, Any], prefix: str) -> None:
        self.doc = doc
        self.prefix = prefix
        self.used: set[str] = set()

    def text(self, key: str) -> str | None:
        """A string (numbers are converted); None if absent, empty or another type."""
        value = self.doc.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            return None
        self.used.add(key)
        return value if isinstance(value, str) else str(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.doc.get(key)
        if not isinstance(value, dict):
            return {}
        self.used.add(key)
        return value

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.doc.get(key)

    def skip(self, *keys: str) -> None:
        """Mark keys as handled elsewhere (or deliberately not kept)."""
        self.used.update(keys)

    def leftovers(self) -> dict[str, str]:
        return string_labels(
            (f"{self.prefix}.{key}", value) for key, value in self.doc.items() if key not in self.used
        )


def string_labels(pairs: Iterable[tuple[str, Any]], *, keep_empty: bool = False) -> dict[str, str]:
    """Label-safe ``{key: str}``: names slugged, values stringified, secrets redacted, empties skipped
    (unless ``keep_empty``: a bare Datadog tag is information)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if value is None or (not keep_empty and value in ("", {}, [])):
            continue
        secret = _SECRET.search(str(key).rsplit(".", 1)[-1])
        out[name(str(key), "label")] = "<redacted>" if secret else stringify(value)
    return out


def merge_labels(*groups: Mapping[str, str]) -> dict[str, str]:
    """Later groups win on a key both have. Past 64 labels, :data:`KEEP_FIRST` keys and the label keys
    the rules read (:func:`keeping`) are kept first, then keys in the order of their first group (callers
    pass the vendor's own labels before the payload's leftovers); ``intake.dropped_labels`` counts
    exactly the labels left out, including those an earlier merge of the same event left out."""
    merged: dict[str, str] = {}
    earlier = 0
    for group in groups:
        merged.update(group)
        if DROPPED in group:
            earlier += int(group[DROPPED])
    merged.pop(DROPPED, None)
    if len(merged) <= MAX_LABELS and not earlier:
        return merged
    room = MAX_LABELS - 1  # one slot for the count
    keys = [k for k in (*KEEP_FIRST, *sorted(_KEEP.get())) if k in merged]
    chosen = set(keys)
    for k in merged:
        if len(keys) >= room:
            break
        if k not in chosen:
            keys.append(k)
            chosen.add(k)
    kept = {k: merged[k] for k in keys[:room]}
    kept[DROPPED] = str(len(merged) - len(kept) + earlier)
    return kept


@contextlib.contextmanager
def keeping(labels: Iterable[str]) -> Iterator[None]:
    """Within this block, :func:`merge_labels` also keeps these label keys first (what the rules read)."""
    token = _KEEP.set(frozenset(labels))
    try:
        yield
    finally:
        _KEEP.reset(token)


def to_event(fields: dict[str, Any], *, where: str = "") -> Event:
    """``Event.model_validate``; a failure is a ``schema`` IntakeError naming ``where``."""
    try:
        return Event.model_validate(fields)
    except ValidationError as exc:
        raise schema_error(exc, where=where) from exc


def to_acknowledgement(fields: dict[str, Any], *, where: str = "") -> Acknowledgement:
    try:
        return Acknowledgement.model_validate(fields)
    except ValidationError as exc:
        raise schema_error(exc, where=where) from exc


def schema_error(exc: ValidationError, *, where: str = "", base: str = "") -> IntakeError:
    """All pydantic errors on one line: ``schema: /metrics/cpu: Input should be a valid number; …``."""
    errors = exc.errors(include_url=False)
    parts = [_describe(base, err["loc"], err["msg"]) for err in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        parts.append(f"and {len(errors) - MAX_ERRORS} more")
    head = f"schema: {where}: " if where else "schema: "
    return IntakeError(head + "; ".join(parts), "schema")


def _describe(base: str, loc: tuple[Any, ...], msg: str) -> str:
    if loc and loc[-1] == "[key]":  # pydantic's marker for an invalid dict *key*
        return f"{pointer(base, loc[:-1])}: key {msg[:1].lower()}{msg[1:]}"
    return f"{pointer(base, loc)}: {msg}"


def pointer(base: str, loc: Iterable[Any]) -> str:
    """RFC 6901 JSON pointer (``~`` → ``~0``, ``/`` → ``~1``)."""
    tokens = [str(part).replace("~", "~0").replace("/", "~1") for part in loc]
    return base + "".join("/" + token for token in tokens) or "/"
