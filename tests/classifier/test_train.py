"""engine.classifier.train: corpus validation with line numbers, training, reproducible output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.classifier.metrics import evaluate
from engine.classifier.model import load_classifier, model_bytes
from engine.classifier.train import TrainingDataError, fit, main, read_corpus, train


def write(path: Path, records: list[tuple[dict, str]]) -> Path:
    path.write_text("".join(json.dumps({"event": e, "label": label}) + "\n" for e, label in records))
    return path


def raw(generator, n: int = 3, seed: int = 5) -> list[tuple[dict, str]]:
    return [(r["event"], r["label"]) for r in generator.generate(n, seed)]


def test_unknown_label_names_file_and_line(tmp_path: Path, generator) -> None:
    rows = raw(generator)
    rows.insert(2, (rows[0][0], "SEVERE"))
    path = write(tmp_path / "x.jsonl", rows)
    with pytest.raises(TrainingDataError) as info:
        read_corpus(path)
    expected = "unknown label 'SEVERE'; expected one of CRITICAL, MAJOR, MODERATE, NONE"
    assert str(info.value) == f"{path}:3: {expected}"


def test_invalid_event_names_line_and_field(tmp_path: Path, generator) -> None:
    rows = raw(generator)
    bad = dict(rows[1][0], metrcis={"error_rate": 0.2})
    rows[1] = (bad, "MAJOR")
    path = write(tmp_path / "x.jsonl", rows)
    with pytest.raises(TrainingDataError, match=rf"^{path}:2: invalid event at metrcis: Extra inputs"):
        read_corpus(path)


def test_invalid_json_and_missing_keys_name_the_line(tmp_path: Path, generator) -> None:
    path = write(tmp_path / "x.jsonl", raw(generator))
    path.write_text(path.read_text() + "\n{not json\n")
    with pytest.raises(TrainingDataError, match=rf"^{path}:5: invalid JSON"):
        read_corpus(path)
    path.write_text('{"event": {}}\n')
    with pytest.raises(TrainingDataError, match=rf'^{path}:1: expected an object with "event" and "label"'):
        read_corpus(path)


def test_reads_a_valid_corpus(tmp_path: Path, generator) -> None:
    rows = raw(generator, n=5)
    records = read_corpus(write(tmp_path / "ok.jsonl", rows))
    assert [label for _, label in records] == [label for _, label in rows]
    assert records[0][0].event_id == rows[0][0]["event_id"]


def test_small_model_reaches_sane_accuracy(small_train, small_test) -> None:
    clf = train(small_train, seed=0)
    truth = [label for _, label in small_test]
    report = evaluate(truth, [p.label for p in clf.predict_many([e for e, _ in small_test])])
    assert report.accuracy >= 0.85 and report.macro_f1 >= 0.8, report


def test_training_is_byte_reproducible(small_train) -> None:
    first, second = fit(small_train, seed=0), fit(small_train, seed=0)
    assert model_bytes(*first) == model_bytes(*second)


def test_model_bytes_depend_on_the_values_only(small_train) -> None:
    """The same model, fitted here or loaded back from its file, serialises to the same bytes (and hash):
    object identity of equal values and attribute order must not leak into the file."""
    import copy

    from engine.classifier.model import classifier_from_bytes

    model, temperature = fit(small_train, seed=0)
    data = model_bytes(model, temperature)
    loaded = classifier_from_bytes(data)
    assert model_bytes(loaded.model, loaded.temperature) == data
    assert model_bytes(copy.deepcopy(model), temperature) == data


def test_cli_writes_a_loadable_pinned_model(tmp_path: Path, generator, capsys) -> None:
    corpus = write(tmp_path / "c.jsonl", raw(generator, n=200, seed=9))
    out = tmp_path / "m" / "severity.skops"
    main(["--from", str(corpus), "--out", str(out)])
    clf = load_classifier(out)
    assert out.with_suffix(".sha256").read_text().startswith(clf.version)
    assert clf.version in capsys.readouterr().out


def test_cli_reports_bad_corpus_and_exits_1(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"event": {}, "label": "SEVERE"}\n')
    with pytest.raises(SystemExit) as info:
        main(["--from", str(corpus), "--out", str(tmp_path / "m.skops")])
    assert info.value.code == 1
    assert f"{corpus}:1: unknown label 'SEVERE'" in capsys.readouterr().err


def test_missing_labels_are_named_plainly(tmp_path: Path, generator) -> None:
    rows = [r for r in raw(generator, n=40) if r[1] in ("CRITICAL", "NONE")]
    records = read_corpus(write(tmp_path / "x.jsonl", rows))
    with pytest.raises(TrainingDataError) as info:
        fit(records)
    assert str(info.value) == "training needs all four labels; got CRITICAL, NONE"
