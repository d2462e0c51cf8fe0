"""The severity model: a verified skops file → :class:`Classifier` → :class:`Prediction`.

The stored object is a small dict: a multinomial ``LogisticRegression`` over
:mod:`engine.classifier.features`, a softmax *temperature* fitted on held-out data (so the
confidence is calibrated), and the feature version it was trained for. Loading is guarded
three ways, and each failure is a :class:`ModelUnavailable` with a one-line reason:

1. the file's SHA-256 must equal the one pinned in ``<name>.sha256`` beside it (the
   ``sha256sum`` format), so an artifact that was swapped or edited is never deserialised;
2. every type named in the file must be in :data:`TRUSTED_TYPES`, checked against
   ``skops.io.get_untrusted_types`` and the file's own schema, and the same list is passed to
   ``skops.io.loads`` (nothing is ever unpickled);
3. the content must have the expected shape and feature version.

``Prediction.version`` is the first 12 hex digits of that hash. Beside the skops file, the same
coefficients are kept as plain data (:mod:`engine.classifier.plain`, ``severity.plain.json``):
loading that needs neither skops nor scikit-learn, and it is what :func:`load_classifier` reads
when its recorded source hash is the skops file's pin (the model version stays the same). Per-event prediction avoids
scikit-learn's input validation (about 100 µs a call): the coefficients are copied into numpy
arrays once, and a row is scored with a dot product and a softmax.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.classifier.features import FEATURE_VERSION, N_FEATURES, NUMERIC_NAMES, event_parts, vectorize_many
from engine.model.event import SEVERITIES, Event
from engine.resources import resource

MODELS_DIR = resource("models")
DEFAULT_MODEL_PATH = MODELS_DIR / "severity.skops"
FORMAT = "escalation-handlers/severity-classifier"
TRUSTED_TYPES = (
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.str",
    "numpy.dtype",
    "numpy.int32",
    "numpy.ndarray",
    "sklearn.linear_model._logistic.LogisticRegression",
)


class ModelUnavailable(Exception):
    """The model cannot be used; ``reason`` is one line saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str  # one of engine.model.event.SEVERITIES
    confidence: float  # calibrated probability of ``label``, 0–1
    version: str  # first 12 hex digits of the model file's SHA-256


SMALL_BATCH = 16  # batches up to this size are scored event by event (same values to ~1e-15)


class Classifier:
    """A loaded (or freshly trained) severity model. Thread-safe: it is never mutated."""

    def __init__(self, model: Any, temperature: float, version: str) -> None:
        """``model``: a fitted ``LogisticRegression``, or anything with its ``classes_``, ``coef_`` and
        ``intercept_`` (the plain-data form)."""
        self.model = model
        self.temperature = float(temperature)
        self.version = version
        self.labels: tuple[str, ...] = tuple(str(c) for c in model.classes_)
        weights = np.ascontiguousarray(model.coef_.T / self.temperature)  # (n_features, n_classes)
        n_num = len(NUMERIC_NAMES)
        self._w_num, self._w_text = weights[:n_num], weights[n_num:]
        self._weights = np.vstack([self._w_num, self._w_text])  # the batch form's (same values, built once)
        self._bias = model.intercept_ / self.temperature

    def probabilities(self, event: Event) -> dict[str, float]:
        """Calibrated probability of each severity for one event."""
        return dict(zip(self.labels, self._proba_one(event).tolist(), strict=True))

    def predict(self, event: Event) -> Prediction:
        """The most probable severity of one event and its probability."""
        p = self._proba_one(event)
        i = int(p.argmax())
        return Prediction(self.labels[i], float(p[i]), self.version)

    def probabilities_many(self, events: Sequence[Event]) -> list[dict[str, float]]:
        """Batch form of :meth:`probabilities` (one vectorised product for the whole batch)."""
        labels = self.labels
        return [dict(zip(labels, row, strict=True)) for row in self.probabilities_array(events).tolist()]

    def probabilities_array(self, events: Sequence[Event]) -> np.ndarray:
        """Batch probabilities as an ``n × len(labels)`` array (columns in :attr:`labels` order)."""
        if not events:
            return np.zeros((0, len(self.labels)))
        if len(events) <= SMALL_BATCH:  # a few events: no sparse matrix (nor scipy/scikit-learn to import)
            return np.vstack([self._proba_one(e) for e in events])
        return _softmax(vectorize_many(events) @ self._weights + self._bias)

    def predict_many(self, events: Sequence[Event]) -> list[Prediction]:
        """Batch form of :meth:`predict` (same results, vectorised)."""
        if not events:
            return []
        p = self.probabilities_array(events)
        best = p.argmax(axis=1)
        return [Prediction(self.labels[i], float(p[r, i]), self.version) for r, i in enumerate(best)]

    def _proba_one(self, event: Event) -> np.ndarray:
        num, idx, val = event_parts(event)
        scores = num @ self._w_num + val @ self._w_text[idx] + self._bias
        return _softmax(scores)


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


# --- storage -------------------------------------------------------------------------------


def model_bytes(model: Any, temperature: float) -> bytes:
    """The canonical skops bytes for a model: identical input gives identical bytes."""
    import skops.io as sio

    payload = {
        "format": FORMAT,
        "feature_version": FEATURE_VERSION,
        "n_features": N_FEATURES,
        "temperature": float(temperature),
        "model": model,
    }
    return _canonical_zip(sio.dumps(payload))


def _canonical_zip(data: bytes) -> bytes:
    """Make skops output byte-stable.

    ``skops.io.dumps`` names array members and ``__id__`` fields after ``id()`` of the
    object and stamps each zip member with the current time; renumber the ids in (sorted) schema
    order and use a fixed timestamp so the same model always hashes the same: the bytes depend on
    the values only, not on which equal values happened to be one Python object, nor on the order
    the attributes were set in (a loaded model re-serialises to the bytes it was loaded from).
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    counter = itertools.count(1)

    def new_id(node: dict[str, Any]) -> int:
        # An immutable JSON value (str, int, float...) gets a number of its own at each place: whether two
        # equal values were the *same* Python object (small-int and string caches, a shape tuple reusing an
        # int) is an accident of the code path, and must not change the bytes. Containers and arrays keep
        # their shared identity (skops restores a shared object as one object).
        if node.get("is_json") is True:
            return next(counter)
        if node["__id__"] not in ids:
            ids[node["__id__"]] = next(counter)
        return ids[node["__id__"]]

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: renumber(node[k]) for k in sorted(node)}  # the order it is written in (sort_keys)
            if "__id__" in node:
                out["__id__"] = new_id(node)
            if node.get("type") == "numpy" and "file" in node:
                out["file"] = f"{out['__id__']}.npy"
            return out
        if isinstance(node, list):
            return [renumber(v) for v in node]
        return node

    new_schema = renumber(schema)
    renamed = {f"{old}.npy": f"{new}.npy" for old, new in ids.items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as dst:
        members = {renamed.get(n, n): src.read(n) for n in src.namelist() if n != "schema.json"}
        members["schema.json"] = json.dumps(new_schema, indent=2, sort_keys=True).encode()
        for name in sorted(members):
            dst.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), members[name])
    return buf.getvalue()


def sha256_path(path: Path) -> Path:
    return path.with_suffix(".sha256")


def save(data: bytes, path: Path) -> str:
    """Write model bytes to ``path`` and pin their SHA-256 beside it; return the digest."""
    digest = hashlib.sha256(data).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha256_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def load_classifier(path: Path | str = DEFAULT_MODEL_PATH) -> Classifier:
    """Verify and load a model file; raise :class:`ModelUnavailable` if it cannot be used.

    A ``.json`` path is a plain-data model; for a skops file, its plain twin is used when it
    records the skops file's pinned hash (see :mod:`engine.classifier.plain`)."""
    from engine.classifier import plain

    path = Path(path)
    if path.suffix == ".json":
        return plain.load(path)
    twin = plain.twin_for(path)
    if twin is not None:
        return twin
    data = _read_verified(path)
    return classifier_from_bytes(data, where=str(path))


def classifier_from_bytes(data: bytes, where: str = "<bytes>") -> Classifier:
    """Deserialise already-verified bytes (trusted types only) into a :class:`Classifier`."""
    import skops.io as sio

    untrusted = _named_types(data, where) - set(TRUSTED_TYPES)
    try:
        untrusted |= set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
    except Exception as exc:
        raise ModelUnavailable(f"{where}: not a readable skops file ({_one_line(exc)})") from exc
    if untrusted:
        raise ModelUnavailable(f"{where}: untrusted types in model file: {', '.join(sorted(untrusted))}")
    try:
        payload = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:
        raise ModelUnavailable(f"{where}: not a readable skops file ({_one_line(exc)})") from exc
    return _from_payload(payload, where, hashlib.sha256(data).hexdigest()[:12])


def read_verified(path: Path) -> bytes:
    """The bytes of ``path`` when their SHA-256 equals the one pinned beside it."""
    return _read_verified(path)


def _read_verified(path: Path) -> bytes:
    pin = sha256_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelUnavailable(f"model file not found: {path}") from None
    except OSError as exc:
        raise ModelUnavailable(f"model file unreadable: {path} ({_one_line(exc)})") from exc
    try:
        expected = pin.read_text().split()[0].lower()
    except (OSError, IndexError):
        raise ModelUnavailable(f"pinned SHA-256 missing or empty: {pin}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelUnavailable(
            f"{path}: SHA-256 {actual[:12]} does not match {expected[:12]} pinned in {pin}"
        )
    return data


def _named_types(data: bytes, where: str) -> set[str]:
    """Every ``module.class`` the file's schema names (a superset of what loading builds)."""
    try:
        schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
    except Exception as exc:
        raise ModelUnavailable(f"{where}: not a readable skops file ({_one_line(exc)})") from exc
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return found


def _from_payload(payload: Any, where: str, version: str) -> Classifier:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelUnavailable(f"{where}: not a severity model (format {_get(payload, 'format')!r})")
    if payload.get("feature_version") != FEATURE_VERSION or payload.get("n_features") != N_FEATURES:
        raise ModelUnavailable(
            f"{where}: built for feature version {payload.get('feature_version')} "
            f"({payload.get('n_features')} features); this engine has {FEATURE_VERSION} ({N_FEATURES})"
        )
    from sklearn.linear_model import LogisticRegression

    model = payload.get("model")
    classes = getattr(model, "classes_", None)
    if (not isinstance(model, LogisticRegression) or classes is None or len(classes) != len(SEVERITIES)
            or set(map(str, classes)) != set(SEVERITIES)):
        raise ModelUnavailable(f"{where}: model is not a fitted 4-class LogisticRegression")
    # the arrays the per-event dot product uses: a file pinned after a bad edit must fail here, not per event
    coef, intercept = getattr(model, "coef_", None), getattr(model, "intercept_", None)
    if (not isinstance(coef, np.ndarray) or coef.shape != (len(SEVERITIES), N_FEATURES)
            or not isinstance(intercept, np.ndarray) or intercept.shape != (len(SEVERITIES),)
            or not (np.isfinite(coef).all() and np.isfinite(intercept).all())):
        raise ModelUnavailable(f"{where}: model coefficients are not {len(SEVERITIES)} × {N_FEATURES} finite numbers "
                               f"(got {getattr(coef, 'shape', None)})")
    temperature = payload.get("temperature")
    if (isinstance(temperature, bool) or not isinstance(temperature, int | float)
            or not math.isfinite(temperature) or temperature <= 0):
        raise ModelUnavailable(f"{where}: temperature {temperature!r} is not a positive finite number")
    return Classifier(model, float(temperature), version)


def _get(payload: Any, key: str) -> Any:
    return payload.get(key) if isinstance(payload, dict) else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
