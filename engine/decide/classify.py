"""Severity intelligence for the decision stage: the model's verdict and history as rule facts.

Takes a canonical :class:`~engine.model.event.Event` and its document (what rules see) and adds two
blocks before the document becomes the event fact:

``model``    ``{"label", "confidence"}`` from the severity classifier (absent when the model
             is unavailable, so every ``model.*`` condition is simply false);
``history``  the per-service counts from :mod:`engine.decide.history` (absent without a provider).

:func:`load_model` resolves the model path (argument, else ``$ESCALATION_MODEL``, else the
shipped ``models/severity.skops``), verifies and loads it once per file version, and turns any
:class:`~engine.classifier.ModelUnavailable` into a :class:`ModelState` whose ``version`` is
``"unavailable: <reason>"``, logging the one-line reason once. The rules keep deciding.

Combination policy (the rules are authoritative): the model never sets the severity itself;
it only feeds ``model.*`` facts to rules written in ``rules/severity.yaml``. The decision's
``confidence`` is the model's probability of the *final* severity when the model is available
(how much the model agrees with what the rules decided), else 1.0 (a threshold rule or the
default is certain by construction).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.classifier.model import (
    DEFAULT_MODEL_PATH,
    SMALL_BATCH,
    Classifier,
    ModelUnavailable,
    load_classifier,
)
from engine.model.event import Event

ENV_MODEL = "ESCALATION_MODEL"
DISABLED = "disabled"
log = logging.getLogger("escalation.model")


@dataclass(frozen=True)
class ModelState:
    """A usable classifier, or the reason there is none (``version`` says which)."""

    classifier: Classifier | None
    version: str  # 12 hex digits, or "unavailable: <reason>"
    path: str = ""

    @property
    def available(self) -> bool:
        return self.classifier is not None


@dataclass(frozen=True)
class ModelVerdict:
    """The model's opinion about one event, and its probability for every severity."""

    label: str
    confidence: float
    version: str
    probabilities: dict[str, float]

    def fact(self) -> dict[str, Any]:
        # Rounded: durable-rules cannot parse floats with a signed exponent (1e-05).
        return {"label": self.label, "confidence": round(self.confidence, 6)}

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": round(self.confidence, 6), "version": self.version}


NO_MODEL = ModelState(None, f"unavailable: {DISABLED}")
_cache: dict[tuple[Any, ...], ModelState] = {}


def resolve_path(path: str | Path | None = None) -> Path:
    """The model file: the argument, else ``$ESCALATION_MODEL``, else the shipped model."""
    chosen = path or os.environ.get(ENV_MODEL) or DEFAULT_MODEL_PATH
    return Path(chosen)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def load_model(path: str | Path | None = None) -> ModelState:
    """Load (once per file version) and verify the model; never raises for a bad file."""
    resolved = resolve_path(path)
    key = (str(resolved.absolute()), *_stamp(resolved), *_stamp(resolved.with_suffix(".sha256")))
    if key in _cache:
        return _cache[key]
    try:
        clf = load_classifier(resolved)
        state = ModelState(clf, clf.version, str(resolved))
    except ModelUnavailable as exc:
        log.warning("warning: severity model unavailable, rules decide without it: %s", exc.reason)
        state = ModelState(None, f"unavailable: {exc.reason}", str(resolved))
    _cache[key] = state
    return state


def as_state(model: ModelState | str | Path | None) -> ModelState:
    """Accept a ready state, a path, or None (``$ESCALATION_MODEL`` / the shipped model)."""
    return model if isinstance(model, ModelState) else load_model(model)


def predict(state: ModelState, event: Event) -> ModelVerdict | None:
    """The model's verdict for one event, or None when the model is unavailable."""
    clf = state.classifier
    if clf is None:
        return None
    probabilities = clf.probabilities(event)
    label = max(probabilities, key=probabilities.__getitem__)
    return ModelVerdict(label, probabilities[label], state.version, probabilities)


def warm(state: ModelState) -> None:
    """Classify one synthetic event through the batch path now, so that what it imports on first use
    (scikit-learn's hashing vectorizer, scipy.sparse: ~2 s on a loaded machine) is loaded before the
    daemon takes its first file, not in the middle of the first storm's first batch."""
    if state.classifier is None:
        return
    sample = Event.model_validate({"event_id": "warm-up", "timestamp": "2025-01-01T00:00:00Z", "source": "warm-up",
                                   "service": "warm-up", "title": "warm up", "logs": [{"level": "error",
                                                                                        "message": "warm up"}]})
    predict_many(state, [sample] * (SMALL_BATCH + 1))  # a small batch takes the path that imports nothing


def predict_many(state: ModelState, events: list[Event]) -> list[ModelVerdict | None]:
    """Batch form of :func:`predict`: one vectorised pass for a batch of events."""
    clf = state.classifier
    if clf is None:
        return [None] * len(events)
    array = getattr(clf, "probabilities_array", None)
    if array is not None and events:  # the label is the first most probable one, as max() over the dict picks
        p = array(events)
        labels, version = clf.labels, state.version
        return [ModelVerdict(labels[i], row[i], version, dict(zip(labels, row, strict=True)))
                for row, i in zip(p.tolist(), p.argmax(axis=1).tolist(), strict=True)]
    many = getattr(clf, "probabilities_many", None)  # a classifier without a batch form: one at a time
    rows = many(events) if many is not None else [clf.probabilities(e) for e in events]
    out: list[ModelVerdict | None] = []
    for probabilities in rows:
        label = max(probabilities, key=probabilities.__getitem__)
        out.append(ModelVerdict(label, probabilities[label], state.version, probabilities))
    return out


def confidence(verdict: ModelVerdict | None, severity: str) -> float:
    """Decision confidence: P(final severity) under the model, else 1.0 (see module docstring)."""
    if verdict is None:
        return 1.0
    return round(verdict.probabilities.get(severity, 0.0), 6)


def model_block(state: ModelState, verdict: ModelVerdict | None) -> dict[str, Any]:
    """What decisions, simulate and the audit log show: ``{label, confidence, version}``."""
    if verdict is None:
        return {"label": None, "confidence": None, "version": state.version}
    return verdict.as_dict()
