"""The suppression mechanisms as one ordered list: its names are the ``enabled`` vocabulary of the policy."""

from __future__ import annotations

import json

from core_util import ROOT

from engine.compiler.suppression import MECHANISMS as NAMES
from engine.suppress.stage import MECHANISMS


def test_the_mechanisms_run_in_the_documented_order() -> None:
    assert [m.name for m in MECHANISMS] == ["silence", "maintenance", "flap", "dedup", "inhibit", "persistence",
                                            "fusion", "group"]


def test_every_mechanism_is_a_switch_of_the_policy_and_every_switch_a_mechanism() -> None:
    schema = json.loads((ROOT / "schemas" / "suppression.schema.json").read_text())
    switches = schema["properties"]["enabled"]["items"]["enum"]
    assert sorted(m.name for m in MECHANISMS) == sorted(NAMES) == sorted(switches)
