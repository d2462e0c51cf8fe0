"""engine.classifier.model: the shipped artifact, hash pinning, safe loading, predictions."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import skops.io as sio

from engine.classifier.features import FEATURE_VERSION, N_FEATURES
from engine.classifier.model import (
    DEFAULT_MODEL_PATH,
    FORMAT,
    ModelUnavailable,
    classifier_from_bytes,
    load_classifier,
    model_bytes,
    save,
)
from engine.model.event import SEVERITIES


@pytest.fixture(scope="module")
def shipped():
    """The shipped model as its estimator (the skops file; load_classifier() reads the plain twin)."""
    return classifier_from_bytes(DEFAULT_MODEL_PATH.read_bytes(), str(DEFAULT_MODEL_PATH))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the shipped model and its pin, safe to tamper with."""
    target = tmp_path / "severity.skops"
    shutil.copy(DEFAULT_MODEL_PATH, target)
    shutil.copy(DEFAULT_MODEL_PATH.with_suffix(".sha256"), target.with_suffix(".sha256"))
    return target


def unavailable(path: Path) -> str:
    with pytest.raises(ModelUnavailable) as info:
        load_classifier(path)
    reason = info.value.reason
    assert reason == str(info.value) and "\n" not in reason
    return reason


def test_shipped_model_is_found_in_the_repo_and_small() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert repo / "models" / "severity.skops" == DEFAULT_MODEL_PATH
    assert DEFAULT_MODEL_PATH.stat().st_size < 2_000_000


def test_shipped_model_version_is_its_verified_hash(shipped) -> None:
    digest = hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    pinned = DEFAULT_MODEL_PATH.with_suffix(".sha256").read_text().split()
    assert pinned == [digest, "severity.skops"]
    assert shipped.version == digest[:12]
    assert sio.get_untrusted_types(data=DEFAULT_MODEL_PATH.read_bytes()) == []


def test_predictions_are_calibrated_probabilities_and_batch_agrees(shipped, small_test) -> None:
    events = [e for e, _ in small_test[:50]]
    batch = shipped.predict_many(events)
    for event, b in zip(events, batch, strict=True):
        one = shipped.predict(event)
        assert one.label == b.label and one.confidence == pytest.approx(b.confidence, abs=1e-9)
        assert one.label in SEVERITIES and 0.25 <= one.confidence <= 1.0 and one.version == shipped.version
        probs = shipped.probabilities(event)
        assert set(probs) == set(SEVERITIES) and sum(probs.values()) == pytest.approx(1.0)
        assert max(probs, key=probs.get) == one.label
    assert shipped.predict_many([]) == []


def test_missing_model_file(tmp_path: Path) -> None:
    reason = unavailable(tmp_path / "nope.skops")
    assert reason == f"model file not found: {tmp_path / 'nope.skops'}"


def test_missing_pin(copy: Path) -> None:
    copy.with_suffix(".sha256").unlink()
    assert "pinned SHA-256 missing" in unavailable(copy)


def test_wrong_hash_is_refused_before_loading(copy: Path) -> None:
    data = bytearray(copy.read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    reason = unavailable(copy)
    assert "does not match" in reason and hashlib.sha256(bytes(data)).hexdigest()[:12] in reason


def test_corrupt_file_with_matching_pin(copy: Path) -> None:
    save(b"this is not a zip file", copy)
    assert "not a readable skops file" in unavailable(copy)


class Gadget:
    """A type no allow-list names."""

    def __init__(self) -> None:
        self.payload = "x"


def test_untrusted_types_are_refused(copy: Path) -> None:
    save(sio.dumps({"format": FORMAT, "model": Gadget()}), copy)
    reason = unavailable(copy)
    assert reason.startswith(f"{copy}: untrusted types in model file:") and "Gadget" in reason


def test_default_trusted_but_unexpected_sklearn_type_is_refused(copy: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    save(sio.dumps({"format": FORMAT, "model": StandardScaler()}), copy)
    assert "StandardScaler" in unavailable(copy)


def test_wrong_content_shape_is_refused(copy: Path, shipped) -> None:
    save(sio.dumps({"format": "something-else"}), copy)
    assert "not a severity model" in unavailable(copy)
    good = model_bytes(shipped.model, shipped.temperature)
    save(good, copy)
    assert load_classifier(copy).version == hashlib.sha256(good).hexdigest()[:12]


@pytest.mark.parametrize("temperature", [None, 0.0, -1.0, float("nan"), "x"])
def test_pinned_model_with_a_bad_temperature_is_unavailable_not_a_crash(copy: Path, shipped, temperature) -> None:
    payload = {"format": FORMAT, "feature_version": FEATURE_VERSION, "n_features": N_FEATURES, "model": shipped.model}
    if temperature is not None:
        payload["temperature"] = temperature
    save(sio.dumps(payload), copy)
    assert "temperature" in unavailable(copy)


def test_pinned_model_with_coefficients_of_another_width_is_refused_at_load(copy: Path) -> None:
    """Its payload claims this engine's feature count, but every prediction would raise."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    narrow = LogisticRegression().fit(np.random.default_rng(0).random((40, 10)), list(SEVERITIES) * 10)
    save(sio.dumps({"format": FORMAT, "feature_version": FEATURE_VERSION, "n_features": N_FEATURES,
                    "temperature": 1.0, "model": narrow}), copy)
    assert "coefficients" in unavailable(copy)
