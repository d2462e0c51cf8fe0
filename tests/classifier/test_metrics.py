"""engine.classifier.metrics: confusion matrix orientation, FPR definitions, per-class scores."""

from __future__ import annotations

import pytest

from engine.classifier.metrics import calibration, evaluate, format_report


def test_confusion_rows_are_truth_and_fpr_counts_over_classification() -> None:
    truth = ["NONE", "NONE", "NONE", "NONE", "MODERATE", "MAJOR", "CRITICAL", "CRITICAL"]
    pred = ["NONE", "NONE", "NONE", "MAJOR", "NONE", "CRITICAL", "CRITICAL", "MAJOR"]
    r = evaluate(truth, pred)
    assert r.confusion == [[3, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1]]
    assert r.accuracy == 4 / 8
    assert r.fpr == 2 / 8  # NONE->MAJOR and MAJOR->CRITICAL
    assert r.fpr_none == 1 / 4
    assert r.fnr == 2 / 8
    assert r.per_class["NONE"].precision == 3 / 4 and r.per_class["NONE"].recall == 3 / 4
    assert r.per_class["MODERATE"].f1 == 0.0
    f1s = [r.per_class[c].f1 for c in ("NONE", "MODERATE", "MAJOR", "CRITICAL")]
    assert r.macro_f1 == pytest.approx(sum(f1s) / 4)


def test_perfect_predictions_score_one_and_zero_fpr() -> None:
    labels = ["NONE", "MODERATE", "MAJOR", "CRITICAL"] * 3
    r = evaluate(labels, labels)
    assert (r.accuracy, r.macro_f1, r.fpr, r.fpr_none) == (1.0, 1.0, 0.0, 0.0)


def test_rejects_unknown_labels_and_length_mismatch() -> None:
    with pytest.raises(ValueError, match="SEVERE"):
        evaluate(["NONE"], ["SEVERE"])
    with pytest.raises(ValueError, match="truth has 2 labels, predicted has 1"):
        evaluate(["NONE", "NONE"], ["NONE"])


def test_format_report_shows_headline_and_matrix_in_severity_order() -> None:
    text = format_report("model", evaluate(["NONE", "MAJOR"], ["MODERATE", "MAJOR"]))
    assert "macro-F1" in text and "false positive rate 50.00%" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.strip().startswith("NONE") and "MODERATE" in line)
    assert header.split() == ["NONE", "MODERATE", "MAJOR", "CRITICAL"]


def test_calibration_bins_and_error() -> None:
    bins, ece = calibration([0.95, 0.95, 0.6, 1.0], [True, False, True, True])
    assert [(b.low, b.n) for b in bins] == [(0.5, 1), (0.9, 2), (0.99, 1)]
    assert ece == pytest.approx((1 * 0.4 + 2 * 0.45 + 0) / 4)
