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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.store.metrics_views import CLOCKS, LIFECYCLE

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
SEVERITIES = ("CRITICAL", "MAJOR", "MODERATE", "NONE")


@dataclass
class Frame:
    """A window's incidents as columns, ordered by incident id (so any subset of ids is sorted too)."""

    ids: npt.NDArray[np.object_]
    labels: dict[str, npt.NDArray[np.object_]]  # service, team, severity, resolved_by
    times: dict[str, Floats]  # the *_epoch columns, NaN for NULL
    _codes: dict[str, tuple[list[str], npt.NDArray[np.intp]]] = field(default_factory=dict)  # label -> names, codes

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]]) -> Frame:
        order = sorted(range(len(rows)), key=lambda k: rows[k][0])
        rows = [rows[k] for k in order]
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(LIFECYCLE)
        labels, times = {}, {}
        for name, col in zip(LIFECYCLE, cols, strict=True):
            if name.endswith("_epoch"):
                times[name] = np.array(col, dtype=np.float64) if col else np.zeros(0)
            elif name != "incident_id":
                labels[name] = _objects(col)
        return cls(_objects(cols[0]), labels, times)

    def __len__(self) -> int:
        return len(self.ids)

    def population(self, view: str) -> Mask:
        pop = CLOCKS[view][0]
        if pop is None:
            return np.ones(len(self), dtype=bool)
        if pop == "paged":
            return ~np.isnan(self.times["page_epoch"])
        return self.labels["severity"] != "NONE"

    def groups(self, by: str, within: Mask) -> list[tuple[str, Mask]]:
        """The groups of ``by`` among the rows of ``within`` (as ``metrics._groups`` orders them)."""
        if by == "overall":
            return [("all", within)]
        if by not in self._codes:
            unique, inverse = np.unique(np.array([v or "(none)" for v in self.labels[by].tolist()], dtype=object),
                                        return_inverse=True)
            self._codes[by] = (unique.tolist(), inverse.reshape(-1))
        names, codes = self._codes[by]
        present = {names[k] for k in np.unique(codes[within]).tolist()}
        order = [s for s in SEVERITIES if s in present] if by == "severity" else sorted(present)
        return [(name, within & (codes == names.index(name))) for name in order]


def first_at_least(s: Floats, value: float) -> int:
    """How many of the sorted ``s`` are below ``value`` (bisect_left)."""
    return int(np.searchsorted(s, value, side="left"))


def _objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


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
    """One duration metric's clocks over a frame."""

    start: Floats
    end: Floats
    limit: Floats  # where a never-reached end is censored: the stop when before until, else until
    resolved_by: npt.NDArray[np.object_] | None

    @classmethod
    def of(cls, frame: Frame, view: str, until: float) -> Durations:
        _, start, end, stop, by = CLOCKS[view]
        limit = np.full(len(frame), until)
        if stop is not None:
            s = frame.times[stop]
            limit = np.where(_before(s, until), s, until)
        return cls(frame.times[start], frame.times[end], limit, frame.labels["resolved_by"] if by else None)


def duration_figures(d: Durations, mask: Mask, until: float, ids: npt.NDArray[np.object_]) -> dict[str, Any]:
    """What ``metrics.duration_stat`` computes for the rows of ``mask``: n, censored, quantiles, mean, KM,
    ids, within-target counts and the extra counts."""
    valid = mask & _before(d.start, until)
    observed = valid & _before(d.end, until)
    censored = valid & ~observed
    raw = d.end[observed] - d.start[observed]
    obs = np.sort(np.maximum(raw, 0.0))
    cens = np.maximum(d.limit[censored] - d.start[censored], 0.0)
    out: dict[str, Any] = {
        "n": int(valid.sum()), "n_censored": int(censored.sum()),
        "median": sorted_quantile(obs, 0.5) if len(obs) else None,
        "p90": sorted_quantile(obs, 0.9) if len(obs) else None,
        "mean": math.fsum(obs.tolist()) / len(obs) if len(obs) else None,
        "km_median": km_median(obs, cens), "obs": obs, "max_censored": float(cens.max()) if len(cens) else None,
        "ids": ids[observed].tolist(), "censored_ids": ids[censored].tolist(), "clamped": int((raw < 0).sum()),
        "by_whom": {},
    }
    if d.resolved_by is not None and observed.any():  # resolves: by a person or automatically
        who = d.resolved_by[observed]
        out["by_whom"] = {k: int((who == k).sum()) for k in ("human", "auto")}
    return out


def escalation_figures(frame: Frame, mask: Mask, until: float) -> tuple[int, list[str], list[str]]:
    """Paged before until; the ids escalated by timeout and manually before until."""
    paged = mask & _before(frame.times["page_epoch"], until)
    timeout = paged & _before(frame.times["escalated_epoch"], until)
    manual = paged & _before(frame.times["manual_epoch"], until)
    return int(paged.sum()), frame.ids[timeout].tolist(), frame.ids[manual].tolist()
