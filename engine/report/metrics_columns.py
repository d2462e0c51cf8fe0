"""The statistics of :mod:`engine.report.metrics`, computed column-wise over one read of a window.

:func:`engine.report.metrics.compute` reads ``insight_lifecycle`` once for the window (one tuple per
incident, no dict) and every duration and rate of every group comes from those columns with numpy:
the clocks of each metric view are the lifecycle columns :data:`engine.store.metrics_views.CLOCKS`
names. The figures are the row-wise functions' (``duration_stat``, ``escalation_stat``) to the bit:
the same float operations in the same order (sorted durations, ``math.fsum``, the Kaplan–Meier
product taken in time order); tests/report compare both on random histories.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.store.metrics_views import CLOCKS, LIFECYCLE

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.intp]
SEVERITIES = ("CRITICAL", "MAJOR", "MODERATE", "NONE")


@dataclass
class Frame:
    """A window's incidents as columns, ordered by incident id (so any subset of ids is sorted too); each
    label column (service, team, severity, resolved_by) as its distinct values and one code per row."""

    ids: npt.NDArray[np.object_]
    labels: dict[str, tuple[list[Any], Codes]]
    times: dict[str, Floats]  # the *_epoch columns, NaN for NULL

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]], columns: Sequence[str] = LIFECYCLE) -> Frame:
        """From :meth:`InsightsStore.lifecycle` rows of ``columns`` (``incident_id`` first)."""
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
        order = np.array(sorted(range(len(rows)), key=cols[0].__getitem__), dtype=np.intp)
        labels, times = {}, {}
        for name, col in zip(columns, cols, strict=True):
            if name.endswith("_epoch"):
                times[name] = np.array(col, dtype=np.float64)[order] if col else np.zeros(0)
            elif name != "incident_id":
                values = list(dict.fromkeys(col))
                index = {v: k for k, v in enumerate(values)}
                codes = np.fromiter(map(index.__getitem__, col), dtype=np.intp, count=len(col))
                labels[name] = (values, codes[order])
        ids = np.empty(len(rows), dtype=object)
        ids[:] = cols[0]
        return cls(ids[order] if len(rows) else ids, labels, times)

    def __len__(self) -> int:
        return len(self.ids)

    def equals(self, label: str, value: str) -> Mask:
        values, codes = self.labels[label]
        return np.isin(codes, [k for k, v in enumerate(values) if v == value])

    def population(self, view: str) -> Mask:
        pop = CLOCKS[view][0]
        if pop is None:
            return np.ones(len(self), dtype=bool)
        if pop == "paged":
            return ~np.isnan(self.times["page_epoch"])
        return ~self.equals("severity", "NONE")

    def groups(self, by: str, within: Mask) -> list[tuple[str, Mask]]:
        """The groups of ``by`` among the rows of ``within`` (as ``metrics._groups`` names and orders them)."""
        if by == "overall":
            return [("all", within)]
        values, codes = self.labels[by]
        present: dict[str, list[int]] = defaultdict(list)
        for k in np.unique(codes[within]).tolist():
            present[values[k] or "(none)"].append(k)
        order = [s for s in SEVERITIES if s in present] if by == "severity" else sorted(present)
        return [(name, within & np.isin(codes, present[name])) for name in order]


def first_at_least(s: Floats, value: float) -> int:
    """How many of the sorted ``s`` are below ``value`` (bisect_left)."""
    return int(np.searchsorted(s, value, side="left"))


def _before(t: Floats, until: float) -> Mask:
    """Not NULL and before ``until`` (NaN compares false)."""
    with np.errstate(invalid="ignore"):
        return t < until


def sorted_quantile(s: Floats, q: float) -> float:
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    a, b = float(s[lo]), float(s[hi])
    return a + (b - a) * (pos - lo)


def km_median(obs: Floats, censored: Floats) -> float | None:
    """``metrics.km_median`` over sorted observed times: the survival product in time order (cumprod)."""
    if not len(obs):
        return None
    times = np.sort(np.concatenate([obs, censored]))
    at, counts = np.unique(obs, return_counts=True)
    at_risk = len(times) - np.searchsorted(times, at, side="left")
    survival = np.cumprod(1 - counts / at_risk)
    hit = np.flatnonzero(survival <= 0.5 + 1e-12)
    return float(at[hit[0]]) if len(hit) else None


@dataclass
class Durations:
    """One duration metric's clocks over a frame: which rows are observed or censored before ``until``,
    and their durations (meaningful on those rows only)."""

    observed: Mask  # clock started and ended before until
    censored: Mask  # started before until, not ended by then
    raw: Floats  # end - start (negative: an end recorded before the start, clamped to 0)
    waited: Floats  # start -> the stop when before until, else until (the censored time), at least 0
    resolved_by: tuple[Mask, Mask] | None  # resolved by a person, automatically

    @classmethod
    def of(cls, frame: Frame, view: str, until: float) -> Durations:
        _, start_col, end_col, stop, by = CLOCKS[view]
        start, end = frame.times[start_col], frame.times[end_col]
        limit = np.full(len(frame), until)
        if stop is not None:
            s = frame.times[stop]
            limit = np.where(_before(s, until), s, until)
        valid = _before(start, until)
        observed = valid & _before(end, until)
        with np.errstate(invalid="ignore"):
            raw, waited = end - start, np.maximum(limit - start, 0.0)
        return cls(observed, valid & ~observed, raw, waited,
                   (frame.equals("resolved_by", "human"), frame.equals("resolved_by", "auto")) if by else None)


def duration_figures(d: Durations, mask: Mask, until: float, ids: npt.NDArray[np.object_]) -> dict[str, Any]:
    """What ``metrics.duration_stat`` computes for the rows of ``mask``: n, censored, quantiles, mean, KM,
    ids, within-target counts and the extra counts."""
    observed, censored = mask & d.observed, mask & d.censored
    raw = d.raw[observed]
    obs = np.sort(np.maximum(raw, 0.0))
    cens = d.waited[censored]
    n_obs, n_cens = len(obs), len(cens)
    out: dict[str, Any] = {
        "n": n_obs + n_cens, "n_censored": n_cens,
        "median": sorted_quantile(obs, 0.5) if n_obs else None,
        "p90": sorted_quantile(obs, 0.9) if n_obs else None,
        "mean": math.fsum(obs.tolist()) / n_obs if n_obs else None,
        "km_median": km_median(obs, cens), "obs": obs, "max_censored": float(cens.max()) if n_cens else None,
        "ids": ids[observed].tolist(), "censored_ids": ids[censored].tolist(), "clamped": int((raw < 0).sum()),
        "by_whom": {},
    }
    if d.resolved_by is not None and n_obs:  # resolves: by a person or automatically
        human, auto = d.resolved_by
        out["by_whom"] = {"human": int((human & observed).sum()), "auto": int((auto & observed).sum())}
    return out


def escalation_figures(frame: Frame, mask: Mask, until: float) -> tuple[int, list[str], list[str]]:
    """Paged before until; the ids escalated by timeout and manually before until."""
    paged = mask & _before(frame.times["page_epoch"], until)
    timeout = paged & _before(frame.times["escalated_epoch"], until)
    manual = paged & _before(frame.times["manual_epoch"], until)
    return int(paged.sum()), frame.ids[timeout].tolist(), frame.ids[manual].tolist()
