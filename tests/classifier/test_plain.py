"""engine.classifier.plain: the model as plain data gives the estimator's predictions, and is used
only when it was made from the pinned skops file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils import murmurhash3_32 as sk_murmur

from engine.classifier import features as F
from engine.classifier import plain
from engine.classifier.model import DEFAULT_MODEL_PATH, ModelUnavailable, classifier_from_bytes, load_classifier
from engine.classifier.train import read_corpus
from engine.resources import resource

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def estimator_classifier():
    """The shipped model rebuilt from the skops file (a LogisticRegression)."""
    return classifier_from_bytes(DEFAULT_MODEL_PATH.read_bytes(), str(DEFAULT_MODEL_PATH))


def test_shipped_twin_is_current_and_is_what_loads(estimator_classifier) -> None:
    pinned = DEFAULT_MODEL_PATH.with_suffix(".sha256").read_text().split()[0]
    doc = json.loads(plain.twin_path(DEFAULT_MODEL_PATH).read_text())
    assert doc["source_sha256"] == pinned  # re-run `rules train` (it writes both) if this fails
    loaded = load_classifier()
    assert not hasattr(loaded.model, "predict_proba")  # the plain form, not the estimator
    assert loaded.version == estimator_classifier.version == pinned[:12]


def test_plain_predictions_equal_the_estimators(estimator_classifier) -> None:
    events = [e for e, _ in read_corpus(resource("data") / "corpus" / "eval.jsonl")]
    loaded = load_classifier()
    model = estimator_classifier.model
    x = F.vectorize_many(events)
    want = model.decision_function(x) / estimator_classifier.temperature  # the estimator, then the temperature
    want = np.exp(want - want.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    got_batch = loaded.probabilities_array(events)  # > SMALL_BATCH: the sparse path
    got_small = np.vstack([loaded.probabilities_array([e]) for e in events])  # the numpy-only path
    assert list(loaded.labels) == [str(c) for c in model.classes_]
    np.testing.assert_allclose(got_batch, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_small, want, rtol=0, atol=1e-12)
    assert (got_small.argmax(axis=1) == want.argmax(axis=1)).all()


def test_plain_murmurhash_equals_scikit_learns() -> None:
    words = ["", "a", "ab", "abc", "abcd", "abcde", "oomkilled", "logfatal_oomkilled", "café", "日本語 テキスト",
             "x" * 101, "payment-api 503", "-2147483648"]
    for w in words + [f"token{i}" for i in range(500)]:
        assert F.murmurhash3_32(w, seed=0) == sk_murmur(w, seed=0), w


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "severity.skops"
    for src in (DEFAULT_MODEL_PATH, DEFAULT_MODEL_PATH.with_suffix(".sha256"), plain.twin_path(DEFAULT_MODEL_PATH),
                plain.twin_path(DEFAULT_MODEL_PATH).with_suffix(".sha256")):
        shutil.copy(src, tmp_path / src.name)
    return target


def test_stale_twin_is_ignored_and_edited_twin_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    twin = plain.twin_path(target)
    doc = json.loads(twin.read_text())
    doc["source_sha256"] = "0" * 64  # made from another skops file
    twin.write_text(json.dumps(doc))
    plain.save(twin.read_bytes(), twin)  # re-pinned: a valid file, but not this model's twin
    assert hasattr(load_classifier(target).model, "predict_proba")  # the skops file was loaded instead
    edited = twin.read_bytes().replace(b'"temperature":', b'"temperature": ')
    twin.write_bytes(edited)  # pin no longer matches
    with pytest.raises(ModelUnavailable, match="does not match"):
        load_classifier(twin)


def test_bad_plain_documents_are_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "m.plain.json"
    doc = json.loads(plain.twin_path(DEFAULT_MODEL_PATH).read_text())
    doc["coef"][0][0] = "NaN"
    plain.save(json.dumps(doc).encode(), path)
    with pytest.raises(ModelUnavailable, match="not numbers|finite"):
        load_classifier(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == path.with_suffix(".sha256").read_text().split()[0]


@pytest.mark.parametrize("command", [["validate"], ["simulate", "sample-events/critical-service-outage.json"],
                                     ["test"]])
def test_ci_commands_import_no_sklearn_scipy_skops_or_boto3(command: list[str]) -> None:
    code = ("import sys\nfrom engine.cli import main\nsys.argv = ['rules', *sys.argv[1:]]\n"
            "try:\n    main(standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('sklearn', 'scipy', 'skops', 'boto3', 'botocore') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert "HEAVY []" in res.stderr.splitlines(), res.stderr[-2000:]
