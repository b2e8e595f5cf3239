"""The reduced statistics of a score card and what is read straight from them.

:class:`Reduced` is the frozen value :meth:`tailshift.metrics.scorecard.ScoreCard.reduce`
returns and :mod:`tailshift.metrics.view` reads; this module sits below both, so neither imports
the other's internals. Also here: the PIT evaluation points, the forecast's admissibility
record and the summary of replicate values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from tailshift.metrics.bootstrap import percentile_ci
from tailshift.metrics.levels import check_levels, check_members

#: Edges of the PIT histogram (20 bins).
PIT_EDGES = np.linspace(0.0, 1.0, 21)
#: Bootstrap replicates kept in the result per metric (for paired comparisons).
KEEP_REPLICATES = 200


def default_levels(k: int = 32) -> np.ndarray:
    """``k`` evenly spaced levels ``(i - 1/2)/k``."""
    return (np.arange(k) + 0.5) / k


def intensity_labels(edges) -> list[str]:
    """Labels of the reference-intensity bins, e.g. ``[0.1,1)`` and ``>=50``."""
    out = []
    for i, e in enumerate(edges):
        out.append(f"[{e:g},{edges[i + 1]:g})" if i + 1 < len(edges) else f">={e:g}")
    return out


def frozen_arrays(arrays: dict) -> MappingProxyType:
    """Read-only copies of ``arrays`` in a read-only mapping."""
    out = {}
    for k, v in arrays.items():
        v = np.array(v, copy=True)
        v.flags.writeable = False
        out[k] = v
    return MappingProxyType(out)


@dataclass(frozen=True)
class Reduced:
    """The reduced statistics of a card: read-only, what every metric is computed from.

    ``head``: ``{block: (R, ...)}``; ``groups``: ``{dim: {label: {block: (R', ...)}}}``;
    ``cells``: ``{(regime, warming_bin): {block: (R, ...)}}``; ``years``: ``{year: {block:
    (1, ...)}}``; ``scenes``: per-scene arrays ``key`` (bootstrap key), ``max`` (n, 2), ``block``
    and ``regime`` labels, sorted by key.
    """

    cfg: Any  # tailshift.metrics.scorecard.CardConfig
    kinds: frozenset
    members: int | None
    shape: tuple[int, int] | None
    n_scenes: int
    n_pixels: int
    head: MappingProxyType
    groups: MappingProxyType
    cells: MappingProxyType
    years: MappingProxyType
    scenes: MappingProxyType

    @property
    def levels(self) -> np.ndarray:
        lv = self.cfg.levels
        return default_levels() if lv is None else lv

    def pit_points(self) -> np.ndarray:
        """Evaluation points of the accumulated PIT CDF."""
        return pit_points(self.cfg)


def pit_points(cfg: Any) -> np.ndarray:
    """Evaluation points of the PIT CDF for ``cfg``: histogram edges, levels, 0.05, 0.95."""
    lv = default_levels() if cfg.levels is None else cfg.levels
    return np.unique(np.round(np.concatenate([PIT_EDGES, lv, [0.05, 0.95]]), 12))


def forecast_info(red: Reduced) -> dict:
    """What was scored: the kind, the levels or members, and whether it may be ranked."""
    if "quantiles" in red.kinds:
        ok, reason = check_levels(red.levels)
        return {"kind": "quantiles", "levels": [float(v) for v in red.levels],
                "admissible": ok, "reason": reason}
    if "samples" in red.kinds:
        ok, reason = check_members(red.members or 0)
        return {"kind": "samples", "levels": None, "members": red.members, "admissible": ok,
                "reason": reason}
    return {"kind": "point", "levels": None, "admissible": False,
            "reason": "a point estimate has no predictive distribution: CRPS and the " +
                      "probabilistic metrics are undefined, so it is not ranked"}


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def summarise(vals: np.ndarray, spec, level: float) -> dict:
    """``{"value", "ci_low", "ci_high"}`` of replicate values (replicate 0 the full sample)."""
    vals = np.asarray(vals, dtype=np.float64)
    if spec.kind == "bool":
        v = vals[0]
        return {"value": None if not np.isfinite(v) else bool(v > 0.5), "ci_low": None,
                "ci_high": None}
    if vals.size > 1 and np.isfinite(vals[0]):
        lo, hi = percentile_ci(vals, level)
    else:
        lo = hi = float("nan")
    return {"value": _finite(vals[0]), "ci_low": _finite(lo), "ci_high": _finite(hi)}


