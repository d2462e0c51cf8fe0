"""Shared fixtures: the corpus generator (loaded from data/corpus/generate.py) and small corpora."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from engine.model.event import Event

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_generate", REPO / "data" / "corpus" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_records(raw: list[dict]) -> list[tuple[Event, str]]:
    return [(Event.model_validate(r["event"]), r["label"]) for r in raw]


@pytest.fixture(scope="session")
def small_train(generator: ModuleType) -> list[tuple[Event, str]]:
    return as_records(generator.generate(400, seed=101))


@pytest.fixture(scope="session")
def small_test(generator: ModuleType) -> list[tuple[Event, str]]:
    return as_records(generator.generate(300, seed=202))
