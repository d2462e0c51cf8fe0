"""Severity classifier: canonical event → (severity, calibrated confidence, model version).

Stages, in data-flow order: :mod:`.features` (event → sparse row), :mod:`.model` (verified
skops file → :class:`Classifier` → :class:`Prediction`), :mod:`.train` (labelled JSONL →
model file; ``python -m engine.classifier.train``, not re-exported here so that ``-m`` runs
it cleanly) and :mod:`.metrics` (truth + predictions → :class:`Report`).
"""

from engine.classifier.metrics import Report, evaluate, format_report
from engine.classifier.model import (
    DEFAULT_MODEL_PATH,
    Classifier,
    ModelUnavailable,
    Prediction,
    load_classifier,
)

__all__ = [
    "DEFAULT_MODEL_PATH",
    "Classifier",
    "ModelUnavailable",
    "Prediction",
    "Report",
    "evaluate",
    "format_report",
    "load_classifier",
]
