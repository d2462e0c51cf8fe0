"""Training: a labelled JSONL corpus → a fitted, calibrated :class:`Classifier` (and its file).

:func:`read_corpus` reads ``{"event": {...}, "label": "..."}`` lines and rejects the whole
file at the first bad line, naming it (``data/x.jsonl:17: unknown label 'SEVERE'; ...``).
:func:`train` fits a multinomial logistic regression on the features of
:mod:`engine.classifier.features`, then calibrates it by temperature scaling: a copy fitted on
80 % of the records picks the temperature that minimises log-loss on the other 20 %, and the
shipped model is refitted on all records with that temperature. Everything is seeded, and the
stored bytes are canonical, so the same corpus gives the same file and hash.

:func:`read_audit` reads the events an operator confirmed or corrected with ``rules confirm``
(the audit log's append-only ``severity_feedback`` table; the latest verdict per event wins),
labelled with that severity; :func:`build` trains from any mix of corpora and audit logs.

Run ``rules train [--from FILE.jsonl ...] [--from-audit DB] [--out PATH]`` (or
``python -m engine.classifier.train [--from FILE.jsonl] [--out models/severity.skops]``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from engine.classifier.features import vectorize_many
from engine.classifier.model import DEFAULT_MODEL_PATH, Classifier, model_bytes, save
from engine.classifier.plain import write_twin
from engine.model.errors import AuditError
from engine.model.event import SEVERITIES, Event
from engine.resources import resource
from engine.store.queries import confirmed_severities

DEFAULT_CORPUS = resource("data") / "corpus" / "train.jsonl"
C = 20.0  # inverse L2 strength; chosen on a split of train.jsonl, never on eval.jsonl
MIN_PER_LABEL = 5  # so the stratified 20 % calibration split holds every label


class TrainingDataError(Exception):
    """A corpus file is unusable; the message names ``file:line``."""


def read_corpus(path: Path | str) -> list[tuple[Event, str]]:
    """Parse a labelled JSONL corpus; raise :class:`TrainingDataError` on the first bad line."""
    path = Path(path)
    records: list[tuple[Event, str]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"{path}: cannot read corpus ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if line.strip():
            records.append(_parse_line(line, f"{path}:{number}"))
    if not records:
        raise TrainingDataError(f"{path}: no records")
    return records


def _parse_line(line: str, where: str) -> tuple[Event, str]:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TrainingDataError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(doc, dict) or "event" not in doc or "label" not in doc:
        raise TrainingDataError(f'{where}: expected an object with "event" and "label"')
    label = doc["label"]
    if label not in SEVERITIES:
        expected = ", ".join(sorted(SEVERITIES))
        raise TrainingDataError(f"{where}: unknown label {label!r}; expected one of {expected}")
    try:
        event = Event.model_validate(doc["event"])
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "/".join(str(p) for p in first["loc"]) or "(root)"
        raise TrainingDataError(f"{where}: invalid event at {loc}: {first['msg']}") from exc
    return event, label


def read_audit(db: Path | str) -> list[tuple[Event, str]]:
    """Confirmed or corrected incidents from an audit log, labelled with the operator's severity."""
    db = Path(db)
    if not db.is_file():
        raise TrainingDataError(f"{db}: audit log not found")
    try:
        rows = confirmed_severities(db)
    except AuditError as exc:
        raise TrainingDataError(f"{db}: cannot read severity feedback ({exc}); "
                                "record some with 'rules confirm'") from exc
    if not rows:
        raise TrainingDataError(f"{db}: no confirmed incidents; "
                                "record some with 'rules confirm EVENT_ID --severity ...'")
    records = []
    for row_id, severity, payload in rows:
        where = f"{db}: severity_feedback row {row_id}"
        records.append(_parse_line(json.dumps({"event": json.loads(payload), "label": severity}), where))
    return records


@dataclass(frozen=True)
class Trained:
    records: int
    temperature: float
    digest: str
    out: Path


def build(sources: Sequence[Path], audit_dbs: Sequence[Path], out: Path, seed: int = 0) -> Trained:
    """Read every corpus and audit log, train, write ``out`` and its pinned hash."""
    records: list[tuple[Event, str]] = []
    for source in sources:
        records += read_corpus(source)
    for db in audit_dbs:
        records += read_audit(db)
    model, temperature = fit(records, seed)
    digest = save(model_bytes(model, temperature), out)
    write_twin(Classifier(model, temperature, digest[:12]), out, digest)  # the plain-data form beside it
    return Trained(len(records), temperature, digest, out)


def _fit(x: Any, y: np.ndarray, seed: int) -> LogisticRegression:  # x: a sparse matrix
    return LogisticRegression(C=C, solver="newton-cg", max_iter=500, random_state=seed).fit(x, y)


def fit_temperature(model: LogisticRegression, x: Any, y: np.ndarray) -> float:
    """The softmax temperature that minimises log-loss of ``model`` on (x, y)."""
    scores = model.decision_function(x)
    truth = np.searchsorted(model.classes_, y)

    def nll(t: float) -> float:
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), truth].mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def fit(records: Sequence[tuple[Event, str]], seed: int = 0) -> tuple[LogisticRegression, float]:
    """The fitted model and its calibration temperature."""
    x = vectorize_many([e for e, _ in records])
    y = np.array([label for _, label in records])
    if len(set(y)) != len(SEVERITIES):
        raise TrainingDataError(f"training needs all four labels; got {', '.join(sorted({str(v) for v in y}))}")
    counts = {label: int((y == label).sum()) for label in SEVERITIES}
    if min(counts.values()) < MIN_PER_LABEL:
        raise TrainingDataError(f"training needs at least {MIN_PER_LABEL} records of each label "
                                f"(20 % are held out to calibrate); got {counts}")
    fit_idx, cal_idx = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=y)
    temperature = fit_temperature(_fit(x[fit_idx], y[fit_idx], seed), x[cal_idx], y[cal_idx])
    return _fit(x, y, seed), temperature


def train(records: Sequence[tuple[Event, str]], seed: int = 0) -> Classifier:
    """Fit a calibrated classifier; its ``version`` is the hash its file would have."""
    model, temperature = fit(records, seed)
    version = hashlib.sha256(model_bytes(model, temperature)).hexdigest()[:12]
    return Classifier(model, temperature, version)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the shipped severity model.")
    parser.add_argument(
        "--from", dest="source", type=Path, default=DEFAULT_CORPUS, help="labelled JSONL corpus"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="model file (.skops)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        records = read_corpus(args.source)
    except TrainingDataError as exc:
        parser.exit(1, f"error: {exc}\n")
    model, temperature = fit(records, args.seed)
    digest = save(model_bytes(model, temperature), args.out)
    write_twin(Classifier(model, temperature, digest[:12]), args.out, digest)
    print(f"trained on {len(records)} records from {args.source}: temperature {temperature:.3f}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), sha256 {digest}")


if __name__ == "__main__":
    main()
