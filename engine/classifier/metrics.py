"""Evaluation: true and predicted severities → a :class:`Report` (and its text table).

The false positive rate follows the product brief (< 2 %): an event is a false positive when
its prediction is *above* its true level (it would page or act more than it should), so a
NONE event classified MODERATE counts, and so does a MAJOR event classified CRITICAL.
``fpr`` divides by all events; ``fpr_none`` is the same for the events whose truth is NONE
(the "alerted on nothing" rate). Under-classification is reported as ``fnr`` likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.model.event import SEVERITIES

ORDER = SEVERITIES  # NONE, MODERATE, MAJOR, CRITICAL: confusion matrix rows/cols
_RANK = {s: i for i, s in enumerate(ORDER)}


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    n: int
    accuracy: float
    per_class: dict[str, ClassScores]
    macro_f1: float
    confusion: list[list[int]]  # confusion[truth][predicted], both in ORDER
    fpr: float  # predicted above truth / all events
    fpr_none: float  # predicted above NONE / events whose truth is NONE
    fnr: float  # predicted below truth / all events


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def evaluate(truth: Sequence[str], predicted: Sequence[str]) -> Report:
    """Score predictions against truth (both sequences of severity names, same length)."""
    if len(truth) != len(predicted):
        raise ValueError(f"truth has {len(truth)} labels, predicted has {len(predicted)}")
    unknown = sorted({x for x in (*truth, *predicted) if x not in _RANK})
    if unknown:
        raise ValueError(f"unknown severities {unknown}; expected one of {', '.join(ORDER)}")
    k = len(ORDER)
    cm = [[0] * k for _ in range(k)]
    for t, p in zip(truth, predicted, strict=True):
        cm[_RANK[t]][_RANK[p]] += 1
    per_class = {}
    for i, name in enumerate(ORDER):
        tp = cm[i][i]
        precision = _ratio(tp, sum(cm[r][i] for r in range(k)))
        recall = _ratio(tp, sum(cm[i]))
        f1 = _ratio(2 * tp, sum(cm[i]) + sum(cm[r][i] for r in range(k)))
        per_class[name] = ClassScores(precision, recall, f1, sum(cm[i]))
    n = len(truth)
    above = sum(cm[t][p] for t in range(k) for p in range(k) if p > t)
    below = sum(cm[t][p] for t in range(k) for p in range(k) if p < t)
    present = [s for s in per_class.values() if s.support]
    return Report(
        n=n,
        accuracy=_ratio(sum(cm[i][i] for i in range(k)), n),
        per_class=per_class,
        macro_f1=sum(s.f1 for s in present) / len(present) if present else 0.0,
        confusion=cm,
        fpr=_ratio(above, n),
        fpr_none=_ratio(sum(cm[0][1:]), sum(cm[0])),
        fnr=_ratio(below, n),
    )


def format_report(name: str, report: Report) -> str:
    """A plain-text table: headline numbers, per-class scores, confusion matrix."""
    lines = [
        f"{name}: {report.n} events",
        f"  accuracy {report.accuracy:.4f}   macro-F1 {report.macro_f1:.4f}",
        f"  false positive rate {report.fpr:.2%} (over-classified, all events)   "
        f"on truth NONE {report.fpr_none:.2%}   under-classified {report.fnr:.2%}",
        "",
        f"  {'class':<10}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
    ]
    for cls, s in report.per_class.items():
        lines.append(f"  {cls:<10}{s.precision:>10.4f}{s.recall:>10.4f}{s.f1:>10.4f}{s.support:>10d}")
    lines += [
        "",
        "  confusion (rows truth, columns predicted)",
        "  " + " " * 10 + "".join(f"{c:>10}" for c in ORDER),
    ]
    for cls, row in zip(ORDER, report.confusion, strict=True):
        lines.append(f"  {cls:<10}" + "".join(f"{v:>10d}" for v in row))
    return "\n".join(lines)


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    n: int
    confidence: float  # mean predicted confidence in the bin
    accuracy: float  # fraction of those predictions that were right


def calibration(
    confidences: Sequence[float],
    correct: Sequence[bool],
    edges: Sequence[float] = (0.0, 0.5, 0.7, 0.9, 0.97, 0.99),
) -> tuple[list[CalibrationBin], float]:
    """Reliability bins (``[edge_i, edge_i+1)``, the last one closed at 1) and the expected
    calibration error: the support-weighted mean of ``|accuracy - confidence|``."""
    bounds = [*edges, 1.0]
    bins, ece, n = [], 0.0, len(confidences)
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (hi == 1.0 and c == 1.0)]
        if not idx:
            continue
        conf = sum(confidences[i] for i in idx) / len(idx)
        acc = sum(bool(correct[i]) for i in idx) / len(idx)
        bins.append(CalibrationBin(lo, hi, len(idx), conf, acc))
        ece += len(idx) / n * abs(acc - conf)
    return bins, ece
