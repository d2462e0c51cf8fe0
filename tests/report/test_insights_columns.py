"""The column-wise metrics (engine.report.metrics_columns) give the row-wise functions' figures exactly.

The row-wise ``duration_stat``, ``escalation_stat`` and ``false_positive_stat`` over each metric view's
own rows are the reference; ``compute`` reads ``insight_lifecycle`` once and derives every view's clocks
from ``CLOCKS``, so that mapping is checked against the views row by row too.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from insights_kit import DAY, random_history

from engine.report import insights_render
from engine.report import metrics as m
from engine.store.metrics_views import CLOCKS, InsightsStore

T0 = datetime(2026, 11, 2, tzinfo=ZoneInfo("UTC")).timestamp()
WINDOWS = [(T0 + 2.3 * DAY + 1234.5, T0 + 9.71 * DAY), (T0 - 30 * DAY, T0 + 40 * DAY), (T0 + 13.9 * DAY, T0 + 14 * DAY)]
BY = ("overall", "team", "service", "severity")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_history(tmp_path_factory.mktemp("c") / "audit.db", 500, T0, seed=11, days=14).path


def row_wise(store: InsightsStore, since: float, until: float) -> list[m.Stat]:
    out: list[m.Stat] = []
    for d in m.DEFINITIONS:
        rows = store.rows(d.view, since, until)
        for grouping in BY:
            for group, members in m._groups(rows, grouping).items():
                if d.unit == "s":
                    out.append(m.duration_stat(d, members, until, grouping, group))
                elif d.id == "escalation":
                    out.append(m.escalation_stat(members, until, grouping, group))
                else:
                    out.append(m.false_positive_stat(members, grouping, group))
    return out


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("window", WINDOWS)
def test_column_wise_figures_are_the_row_wise_ones(log: Path, cache: bool, window: tuple[float, float]) -> None:
    since, until = window
    with InsightsStore.open(log, cache=cache) as store:
        fast = [s.as_dict() for s in m.compute(store, since, until, BY)]
        slow = [s.as_dict() for s in row_wise(store, since, until)]
    assert fast == slow  # every float to the bit, every id list, every group in the same order
    if window == WINDOWS[0]:
        assert any(s["n_censored"] for s in fast) and any(s["ids"] for s in fast)


def test_the_clock_columns_are_the_views(log: Path) -> None:
    since, until = WINDOWS[1]
    with InsightsStore.open(log) as store:
        life = {r["incident_id"]: r for r in store.rows("insight_lifecycle", since, until)}
        for view, (population, start, end, stop, by) in CLOCKS.items():
            want = {r["incident_id"]: r for r in store.rows(view, since, until)}
            members = [r for r in life.values() if population is None
                       or (population == "paged" and r["page_epoch"] is not None)
                       or (population == "above_none" and r["severity"] != "NONE")]
            assert sorted(want) == sorted(r["incident_id"] for r in members), view
            for r in members:
                got = want[r["incident_id"]]
                if view == "metric_escalation":
                    assert (got["page_epoch"], got["timeout_epoch"], got["manual_epoch"]) == (
                        r[start], r[end], r[stop or ""])
                    continue
                assert (got["clock_start"], got["clock_end"], got["clock_stop"]) == (
                    r[start], r[end], r[stop] if stop else None), view
                assert ("resolved_by" in got) is by and (not by or got["resolved_by"] == r["resolved_by"])


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe",
                                  "UTC"])
def test_hour_classes_by_quarter_hour_slot_are_each_instants_class(zone: str) -> None:
    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    # around both 2026 DST changes, and 1890 (local mean time: offsets that are not whole quarter hours)
    centres = [datetime(2026, 3, 29, 1, tzinfo=ZoneInfo("UTC")).timestamp(),
               datetime(2026, 10, 25, 1, tzinfo=ZoneInfo("UTC")).timestamp(),
               datetime(2026, 4, 5, 15, tzinfo=ZoneInfo("UTC")).timestamp(),
               datetime(2026, 11, 1, 6, tzinfo=ZoneInfo("UTC")).timestamp(), -2524521600.0]
    for centre in centres:
        for _ in range(400):
            t = centre + rng.uniform(-2 * DAY, 2 * DAY)
            slot = int(t // 900)
            assert (m._slot_class(slot, tz) or m.hour_class(t, tz)) == m.hour_class(t, tz)


@pytest.mark.parametrize("values", [["INC-1", "INC-2"], ['a"b', "c"], ["x\\y"], ["é", "\x01"], ["\x1f", "b"],
                                    ["\u2028", "\x7f"], ['a", "b'], ['"'], [f"E{k:08d}" for k in range(50)]])
def test_id_lists_are_joined_into_the_json_exactly_as_json_dumps_writes_them(values: list[str]) -> None:
    assert insights_render._flat_list(values) == json.dumps(values, ensure_ascii=False)
    mixed = [*values, 1, 2.5, True]
    assert insights_render._flat_list(mixed) == json.dumps(mixed, ensure_ascii=False)
    assert insights_render._flat_list([*values, {"a": 1}]) is None  # not plain: indented as before
