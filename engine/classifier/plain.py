"""The severity model as plain data: coefficients and feature configuration in JSON, scored with numpy.

``models/severity.plain.json`` (pinned by ``severity.plain.sha256`` beside it, like the skops
file) holds::

    {"format": "escalation-handlers/severity-classifier-plain", "feature_version": 3,
     "n_features": 1090, "labels": ["CRITICAL", ...], "temperature": 1.7,
     "coef": [[...], ...], "intercept": [...], "source_sha256": "<the skops file's SHA-256>"}

Loading it deserialises nothing but JSON numbers and strings (safer than rebuilding estimator
objects) and imports neither skops nor scikit-learn: ``rules simulate`` and ``rules test`` start
about a second sooner. :func:`twin_for` uses it for a skops path only when ``source_sha256`` is
the hash pinned for that skops file, so the model version (the first 12 hex digits of the skops
hash) is the same whichever file was read, and a stale twin is ignored. ``rules train`` writes
both (:func:`write_twin`); a test checks that its predictions equal the estimator's.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from engine.classifier.features import FEATURE_VERSION, N_FEATURES
from engine.classifier.model import Classifier, ModelUnavailable, read_verified, save, sha256_path
from engine.model.event import SEVERITIES

FORMAT = "escalation-handlers/severity-classifier-plain"


def twin_path(skops_path: Path) -> Path:
    return skops_path.with_name(f"{skops_path.stem}.plain.json")


def plain_bytes(classifier: Classifier, source_sha256: str) -> bytes:
    """Canonical JSON of a classifier's coefficients (``repr`` floats round-trip exactly)."""
    model = classifier.model
    doc = {
        "format": FORMAT,
        "feature_version": FEATURE_VERSION,
        "n_features": N_FEATURES,
        "labels": [str(c) for c in model.classes_],
        "temperature": classifier.temperature,
        "coef": np.asarray(model.coef_, dtype=np.float64).tolist(),
        "intercept": np.asarray(model.intercept_, dtype=np.float64).tolist(),
        "source_sha256": source_sha256,
    }
    return (json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n").encode()


def write_twin(classifier: Classifier, skops_path: Path, skops_sha256: str) -> Path:
    """Write (and pin) the plain twin of the model just saved at ``skops_path``."""
    out = twin_path(skops_path)
    save(plain_bytes(classifier, skops_sha256), out)
    return out


def load(path: Path, version: str | None = None) -> Classifier:
    """Verify (pinned SHA-256) and load a plain-data model; :class:`ModelUnavailable` when unusable."""
    data = read_verified(path)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ModelUnavailable(f"{path}: not JSON ({exc})") from None
    return from_document(doc, str(path), version or hashlib.sha256(data).hexdigest()[:12])


def from_document(doc: Any, where: str, version: str) -> Classifier:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelUnavailable(f"{where}: not a plain severity model")
    if doc.get("feature_version") != FEATURE_VERSION or doc.get("n_features") != N_FEATURES:
        raise ModelUnavailable(f"{where}: built for feature version {doc.get('feature_version')} "
                               f"({doc.get('n_features')} features); this engine has {FEATURE_VERSION} ({N_FEATURES})")
    labels = doc.get("labels")
    if not isinstance(labels, list) or sorted(map(str, labels)) != sorted(SEVERITIES) or len(labels) != 4:
        raise ModelUnavailable(f"{where}: labels must be the four severities")
    try:
        coef = np.array(doc["coef"], dtype=np.float64)
        intercept = np.array(doc["intercept"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"{where}: coefficients are not numbers ({exc})") from None
    if (coef.shape != (len(SEVERITIES), N_FEATURES) or intercept.shape != (len(SEVERITIES),)
            or not (np.isfinite(coef).all() and np.isfinite(intercept).all())):
        raise ModelUnavailable(f"{where}: coefficients are not {len(SEVERITIES)} × {N_FEATURES} finite numbers "
                               f"(got {coef.shape})")
    temperature = doc.get("temperature")
    if (isinstance(temperature, bool) or not isinstance(temperature, int | float)
            or not math.isfinite(temperature) or temperature <= 0):
        raise ModelUnavailable(f"{where}: temperature {temperature!r} is not a positive finite number")
    model = SimpleNamespace(classes_=np.array(labels), coef_=coef, intercept_=intercept)
    return Classifier(model, float(temperature), version)


def twin_for(skops_path: Path) -> Classifier | None:
    """The plain twin of ``skops_path`` when it was made from the pinned skops file, else None."""
    twin = twin_path(skops_path)
    try:
        pinned = sha256_path(skops_path).read_text().split()[0].lower()
        doc_bytes = read_verified(twin)
    except (OSError, IndexError, ModelUnavailable):
        return None
    try:
        doc = json.loads(doc_bytes)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("source_sha256") != pinned:
        return None
    return from_document(doc, str(twin), pinned[:12])
