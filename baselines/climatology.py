"""Climatology baseline: the quantiles of the training rain per regime -- the floor.

The model ignores the brightness temperatures. For each group (regime, surface type, or all
scenes) it accumulates a histogram of training pixel rain rates with a separate zero bin and
log-spaced bins (``bins_per_decade`` per decade from 1e-3 to 1e3 mm/h), streamed over the
training role chunk by chunk (bounded memory), and reads the quantiles of
:data:`tailshift.baselines.common.QUANTILE_LEVELS` from it by log-linear interpolation inside a bin.

A scene gets the quantiles of its regime; a regime never seen in training (the ``regime`` split
leaves regimes out) falls back to its surface type, and an unseen surface type to the global
climatology: per regime and surface quantiles of the training data, the floor every retrieval
must beat (docs/baselines.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tailshift import schema
from tailshift.baselines import common
from tailshift.baselines.fit import make_train
from tailshift.baselines.rundir import (
    MODEL_JSON,
    MODEL_NPZ,
    RunDir,
    load_arrays,
    load_json,
    save_arrays,
    save_json,
)
from tailshift.errors import TailShiftError

GROUP_BY = ("regime", "surface_type", "none")
#: Histogram range (mm/h): 1e-3 (the rain floor of the GPROF-NN transform) to 1e3 (above the
#: 250-300 mm/h cap of docs/world.md, Rain fields).
HIST_RANGE = (1e-3, 1e3)


@dataclass(frozen=True)
class Config:
    """Climatology configuration.

    Attributes
    ----------
    group_by : str
        ``"regime"`` (fallback surface, then global), ``"surface_type"`` (fallback global) or
        ``"none"`` (one global climatology).
    bins_per_decade : int
        Resolution of the log-spaced rain histogram; the quantile error is at most one bin
        (a factor ``10**(1/bins_per_decade)``).
    max_scenes : int
        Use at most this many training scenes (evenly strided); 0 = all.
    sources : tuple[str, ...]
        Training sources (``obs``/``sim``); must be allowed by the split; empty = all allowed.
    seed : int
        Unused by this deterministic model; kept so every baseline config has one.
    """

    BASELINE: ClassVar[str] = "climatology"
    group_by: str = "regime"
    bins_per_decade: int = 100
    max_scenes: int = 0
    sources: tuple[str, ...] = ("obs",)
    seed: int = 0

    def __post_init__(self):
        common.check_choice("group_by", self.group_by, GROUP_BY)
        common.check_positive("bins_per_decade", self.bins_per_decade)
        common.check_positive("max_scenes", self.max_scenes, allow_zero=True)


def _edges(bins_per_decade: int) -> np.ndarray:
    lo, hi = np.log10(HIST_RANGE[0]), np.log10(HIST_RANGE[1])
    return np.logspace(lo, hi, int(round((hi - lo) * bins_per_decade)) + 1)


def histogram(rain: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts ``[zeros, bin_0, ..., bin_{n-1}]`` of finite rain values (NaN ignored).

    Values <= 0 go to the zero bin; positive values are clipped into the log-spaced range.
    """
    r = rain[np.isfinite(rain)]
    out = np.zeros(len(edges), dtype=np.int64)
    out[0] = np.count_nonzero(r <= 0)
    pos = np.clip(r[r > 0], edges[0], edges[-1] * (1 - 1e-12))
    out[1:] = np.histogram(pos, bins=edges)[0]
    return out


def histogram_quantiles(counts: np.ndarray, edges: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles (mm/h) at ``levels`` of a histogram from :func:`histogram`.

    :math:`q_\\tau = 0` if :math:`\\tau \\le F(0)`; else, in the bin
    :math:`[e_k, e_{k+1})` where the CDF crosses :math:`\\tau`,
    :math:`q_\\tau = e_k (e_{k+1}/e_k)^{(\\tau - F_k)/(F_{k+1} - F_k)}`.
    """
    n = counts.sum()
    if n == 0:
        raise ValueError("empty histogram")
    cdf = np.cumsum(counts) / n  # cdf[0] = F(0) = F(e_0); cdf[k+1] = F(e_{k+1})
    out = np.zeros(len(levels))
    for i, tau in enumerate(levels):
        if tau <= cdf[0]:
            continue
        k = int(np.searchsorted(cdf, tau, side="left"))  # cdf[k-1] < tau <= cdf[k]
        k = min(max(k, 1), len(cdf) - 1)
        f0, f1 = cdf[k - 1], cdf[k]
        frac = 0.0 if f1 <= f0 else (tau - f0) / (f1 - f0)
        lo, hi = edges[k - 1], edges[k]
        out[i] = lo * (hi / lo) ** frac
    return out


class ClimatologyModel:
    """Quantile tables per regime / surface / global; ``predict`` broadcasts them per scene."""

    channels: tuple[str, ...] = ()

    def __init__(self, group_by: str, tables: dict[str, tuple[np.ndarray, np.ndarray]],
                 global_q: np.ndarray, levels: np.ndarray = common.QUANTILE_LEVELS,
                 training_sources: tuple[str, ...] = ("obs",)):
        self.group_by = group_by
        self.tables = tables
        self.global_q = np.asarray(global_q, dtype=np.float32)
        self.quantile_levels = np.asarray(levels, dtype=np.float64)
        self.training_sources = tuple(training_sources)
        self.extra = {"groups": {k: [str(v) for v in t[0]] for k, t in tables.items()}}

    def scene_quantiles(self, regimes: np.ndarray, surfaces: np.ndarray) -> np.ndarray:
        """``(scene, quantile)`` table rows with the regime -> surface -> global fallback."""
        out = np.empty((len(regimes), len(self.quantile_levels)), dtype=np.float32)
        lookups = []
        if self.group_by == "regime":
            lookups.append(("regime", regimes))
        if self.group_by in ("regime", "surface_type"):
            lookups.append(("surface_type", surfaces))
        for i in range(len(regimes)):
            row = self.global_q
            for key, values in lookups:
                labels, q = self.tables.get(key, (np.array([]), None))
                hit = np.flatnonzero(labels == values[i]) if len(labels) else []
                if len(hit):
                    row = q[hit[0]]
                    break
            out[i] = row
        return out

    def predict(self, inputs: Any) -> Any:
        """Predictions for a batch: the group quantiles broadcast over ``(y, x)``."""
        n = inputs.sizes[schema.DIM_SCENE]
        ny, nx = inputs.sizes[schema.DIM_Y], inputs.sizes[schema.DIM_X]
        regimes = _scene_labels(inputs, schema.COORD_REGIME, n)
        surfaces = _scene_labels(inputs, schema.VAR_SURFACE, n)
        q = self.scene_quantiles(regimes, surfaces)
        q = np.broadcast_to(q[:, :, None, None], (n, q.shape[1], ny, nx))
        return common.to_predictions(inputs, q, self.quantile_levels)

    def save(self, directory: Path) -> None:
        arrays = {"levels": self.quantile_levels, "global_q": self.global_q}
        for key, (labels, q) in self.tables.items():
            arrays[f"{key}_labels"] = np.asarray(labels, dtype=str)
            arrays[f"{key}_q"] = q
        save_arrays(directory / MODEL_NPZ, **arrays)
        save_json(directory / MODEL_JSON,
                  {"group_by": self.group_by, "tables": sorted(self.tables)})


def _scene_labels(inputs: Any, name: str, n: int) -> np.ndarray:
    if name not in inputs.variables:
        return np.full(n, "", dtype=object)
    values = np.asarray(inputs[name].values)
    if values.ndim > 1:  # per-pixel surface: use the scene's most common label
        flat = values.reshape(n, -1)
        values = np.array([_mode(row) for row in flat])
    return values.astype(str)


def _mode(row: np.ndarray) -> Any:
    labels, counts = np.unique(row, return_counts=True)
    return labels[np.argmax(counts)]


def fit(config: Config, ds: Any, progress: common.ProgressFn | None = None,
        sources: tuple[str, ...] = ("obs",)) -> ClimatologyModel:
    """Accumulate the histograms over the training scenes and build the quantile tables."""
    edges = _edges(config.bins_per_decade)
    n = ds.sizes[schema.DIM_SCENE]
    idx = np.arange(n)
    if config.max_scenes and n > config.max_scenes:
        idx = np.linspace(0, n - 1, config.max_scenes).round().astype(int)
    hists: dict[str, dict[str, np.ndarray]] = {"regime": {}, "surface_type": {}}
    total = np.zeros(len(edges), dtype=np.int64)
    batches = list(common.iter_batches(len(idx), 64))
    for b, sl in enumerate(batches):
        part = ds.isel({schema.DIM_SCENE: idx[sl]})
        rain = common.labels_array(part)
        k = rain.shape[0]
        regimes = _scene_labels(part, schema.COORD_REGIME, k)
        surfaces = _scene_labels(part, schema.VAR_SURFACE, k)
        for j in range(k):
            h = histogram(rain[j], edges)
            total += h
            for key, label in (("regime", regimes[j]), ("surface_type", surfaces[j])):
                if label:
                    hists[key][label] = hists[key].get(label, 0) + h
        if progress:
            progress("climatology", b + 1, len(batches), None)
    if total.sum() == 0:
        raise TailShiftError("the training role has no finite rain values; check the dataset")
    levels = common.QUANTILE_LEVELS
    tables = {}
    for key, groups in hists.items():
        labels = sorted(g for g, h in groups.items() if h.sum() > 0)
        if labels:
            q = np.stack([histogram_quantiles(groups[g], edges, levels) for g in labels])
            tables[key] = (np.array(labels, dtype=str), q.astype(np.float32))
    return ClimatologyModel(config.group_by, tables, histogram_quantiles(total, edges, levels),
                            levels, sources)


train = make_train(
    fit, "Fit on the training role of ``split`` and write the run directory (``device`` unused)."
)


def load(run: RunDir) -> ClimatologyModel:
    """Rebuild the model from ``model.npz`` / ``model.json``."""
    arrays = load_arrays(run.file(MODEL_NPZ))
    info = load_json(run.file(MODEL_JSON))
    tables = {k: (arrays[f"{k}_labels"], arrays[f"{k}_q"]) for k in info["tables"]}
    return ClimatologyModel(info["group_by"], tables, arrays["global_q"], arrays["levels"],
                            run.training_sources)
