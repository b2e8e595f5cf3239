"""GPROF-like Bayesian database retrieval: kernel-weighted neighbours in TB space.

GPROF (Kummerow et al. 2015, JTECH 32, 2265) retrieves rain as the posterior over an a-priori
database of (TB, rain) pairs, each entry weighted by

.. math:: w_j = \\exp\\left(-\\tfrac12 (\\mathbf{T}_o - \\mathbf{T}_j)^T
          (\\mathbf{O} + \\mathbf{S})^{-1} (\\mathbf{T}_o - \\mathbf{T}_j)\\right),

stratified by surface class (and binned by TCWV and T2m). Here:

* database: ``database_size`` training pixels drawn uniformly (seeded) from the training role
  (streamed; memory bounded by the database);
* covariance: diagonal, :math:`\\sigma` = ``sigma_tb`` K per channel (NEDT 0.3-0.8 K plus a few K
  of forward-model / representativeness error; docs/world.md, GMI channels), and, with
  ``use_ancillary``, TCWV and T2m as two more dimensions with :math:`\\sigma` = ``sigma_tcwv``
  (kg m-2) and ``sigma_t2m`` (K), standing in for GPROF's 1 kg m-2 / 1 K bins;
* the sum is truncated to the ``n_neighbors`` nearest entries (scikit-learn ``NearestNeighbors``,
  k-d tree, in the same scaled metric), which carry essentially all the weight;
* one database per surface type (``stratify = "surface_type"``); a surface type absent from
  training falls back to the whole database;
* quantiles of the weighted neighbour rain distribution: neighbours sorted by rain, the weighted
  CDF taken at the mid-points of each weight (:math:`F_j = (\\sum_{i\\le j} w_i - w_j/2)/\\sum w`)
  and linearly interpolated at each level (clamped at the ends). Weights are stabilised as
  :math:`\\exp(-\\tfrac12(d^2 - d_{min}^2))`, so a pixel far from every entry (out of
  distribution) still gets its nearest neighbours rather than NaN.
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

STRATIFY = ("surface_type", "none")


@dataclass(frozen=True)
class Config:
    """Bayesian database retrieval configuration.

    Attributes
    ----------
    channels : str or tuple[str, ...]
        Channel set name or names used in the TB distance.
    database_size : int
        Number of training pixels kept as the a-priori database.
    n_neighbors : int
        Neighbours per retrieved pixel (the kernel sum is truncated to them).
    sigma_tb : float
        Kernel width per channel (K).
    use_ancillary : bool
        Add TCWV and T2m (scaled by ``sigma_tcwv``, ``sigma_t2m``) to the distance.
    sigma_tcwv, sigma_t2m : float
        Kernel widths of the ancillary dimensions (kg m-2, K).
    stratify : str
        ``"surface_type"`` (one database per surface) or ``"none"``.
    query_pixels : int
        Pixels per neighbour query (bounds memory of the weighted quantiles).
    sources : tuple[str, ...]
        Training sources, within the split's (empty = all allowed).
    seed : int
        Seeds the database draw.
    """

    BASELINE: ClassVar[str] = "bayesian"
    channels: str | tuple[str, ...] = "all"
    database_size: int = 200_000
    n_neighbors: int = 64
    sigma_tb: float = 4.0
    use_ancillary: bool = True
    sigma_tcwv: float = 5.0
    sigma_t2m: float = 3.0
    stratify: str = "surface_type"
    query_pixels: int = 32_768
    sources: tuple[str, ...] = ("obs",)
    seed: int = 0

    def __post_init__(self):
        schema.resolve_channels(self.channels)
        for name in ("database_size", "n_neighbors", "sigma_tb", "sigma_tcwv", "sigma_t2m",
                     "query_pixels"):
            common.check_positive(name, getattr(self, name))
        common.check_choice("stratify", self.stratify, STRATIFY)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return schema.resolve_channels(self.channels)


def features(inputs: Any, channels: tuple[str, ...], config: Config,
             fill: np.ndarray | None) -> np.ndarray:
    """Scaled features ``(pixels, d)``: TB / sigma_tb (+ TCWV / sigma_tcwv, T2m / sigma_t2m)."""
    tb = common.tb_array(inputs, channels, fill=fill)
    if fill is not None:
        tb = np.where(np.isfinite(tb), tb, fill[None, :, None, None])
    n, c, ny, nx = tb.shape
    cols = [np.moveaxis(tb, 1, -1).reshape(-1, c) / config.sigma_tb]
    if config.use_ancillary:
        shape = (n, ny, nx)
        for name, sigma in ((schema.VAR_TCWV, config.sigma_tcwv),
                            (schema.VAR_T2M, config.sigma_t2m)):
            if name in inputs.variables:
                field = common.pixel_field(inputs, name, shape).reshape(-1, 1)
                cols.append(field.astype(np.float32) / sigma)
            else:
                cols.append(np.zeros((n * ny * nx, 1), np.float32))
    return np.concatenate(cols, axis=1).astype(np.float32)


def weighted_quantiles(values: np.ndarray, dist2: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles ``(n, L)`` of the kernel-weighted neighbour values ``(n, k)`` (see module doc)."""
    w = np.exp(-0.5 * (dist2 - dist2.min(axis=1, keepdims=True)))
    order = np.argsort(values, axis=1, kind="stable")
    v = np.take_along_axis(values, order, axis=1)
    w = np.take_along_axis(w, order, axis=1)
    total = w.sum(axis=1, keepdims=True)
    cdf = (np.cumsum(w, axis=1) - 0.5 * w) / total
    n, k = v.shape
    out = np.empty((n, len(levels)), dtype=np.float32)
    rows = np.arange(n)
    for i, tau in enumerate(levels):
        j = (cdf < tau).sum(axis=1)  # first index with cdf >= tau
        hi = np.minimum(j, k - 1)
        lo = np.maximum(j - 1, 0)
        f_lo, f_hi = cdf[rows, lo], cdf[rows, hi]
        frac = np.where(f_hi > f_lo, (tau - f_lo) / np.where(f_hi > f_lo, f_hi - f_lo, 1.0), 0.0)
        frac = np.clip(frac, 0.0, 1.0)
        out[:, i] = v[rows, lo] + frac * (v[rows, hi] - v[rows, lo])
    return out


class BayesianModel:
    """The database, its neighbour indices per stratum, and ``predict``."""

    def __init__(self, config: Config, x: np.ndarray, rain: np.ndarray, surface: np.ndarray,
                 mean: np.ndarray, std: np.ndarray, levels: np.ndarray = common.QUANTILE_LEVELS,
                 training_sources: tuple[str, ...] = ("obs",)):
        # deferred: scikit-learn is heavy; only building a database needs it
        from sklearn.neighbors import NearestNeighbors

        self.config = config
        self.channels = config.channel_names
        self.x, self.rain, self.surface = x, rain.astype(np.float32), surface.astype(np.int8)
        self.normalisation = (mean, std)
        self.quantile_levels = np.asarray(levels, np.float64)
        self.training_sources = tuple(training_sources)
        k = min(config.n_neighbors, len(x))
        self.index: dict[int, tuple[Any, np.ndarray]] = {}
        all_rows = np.arange(len(x))
        self.index[-1] = (NearestNeighbors(n_neighbors=k, algorithm="kd_tree").fit(x), all_rows)
        if config.stratify == "surface_type":
            for code in np.unique(surface):
                rows = np.flatnonzero(surface == code)
                if code >= 0 and len(rows) >= k:
                    nn = NearestNeighbors(n_neighbors=k, algorithm="kd_tree").fit(x[rows])
                    self.index[int(code)] = (nn, rows)
        self.extra = {"database_size": int(len(x)), "strata": sorted(int(c) for c in self.index)}

    def quantiles_for(self, feats: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """``(pixels, L)`` quantiles for scaled features and surface codes."""
        out = np.empty((len(feats), len(self.quantile_levels)), dtype=np.float32)
        for code in np.unique(codes):
            where = np.flatnonzero(codes == code)
            nn, rows = self.index.get(int(code), self.index[-1])
            for sl in common.iter_batches(len(where), self.config.query_pixels):
                sel = where[sl]
                dist, nbr = nn.kneighbors(feats[sel], return_distance=True)
                out[sel] = weighted_quantiles(self.rain[rows[nbr]], dist.astype(np.float64) ** 2,
                                              self.quantile_levels)
        return out

    def predict(self, inputs: Any) -> Any:
        n = inputs.sizes[schema.DIM_SCENE]
        ny, nx = inputs.sizes[schema.DIM_Y], inputs.sizes[schema.DIM_X]
        feats = features(inputs, self.channels, self.config, self.normalisation[0])
        codes = common.surface_codes(inputs, (n, ny, nx)).reshape(-1)
        if self.config.stratify == "none":
            codes = np.full_like(codes, -1)
        q = self.quantiles_for(feats, codes)
        q = np.moveaxis(q.reshape(n, ny, nx, -1), -1, 1)
        return common.to_predictions(inputs, q, self.quantile_levels)

    def save(self, directory: Path) -> None:
        save_arrays(directory / MODEL_NPZ, x=self.x, rain=self.rain, surface=self.surface,
                    mean=self.normalisation[0], std=self.normalisation[1],
                    levels=self.quantile_levels)
        save_json(directory / MODEL_JSON, common.config_to_dict(self.config))


def fit(config: Config, ds: Any, progress: common.ProgressFn | None = None,
        sources: tuple[str, ...] = ("obs",)) -> BayesianModel:
    """Draw the database from the training role (Bernoulli sampling per batch, seeded)."""
    channels = config.channel_names
    mean, std = common.channel_stats(ds, channels, seed=config.seed)
    n = ds.sizes[schema.DIM_SCENE]
    ny, nx = ds.sizes[schema.DIM_Y], ds.sizes[schema.DIM_X]
    p = min(1.0, config.database_size / max(n * ny * nx, 1))
    rng = np.random.default_rng(config.seed)
    xs, rs, ss = [], [], []
    batches = list(common.iter_batches(n, 64))
    for b, sl in enumerate(batches):
        part = ds.isel({schema.DIM_SCENE: sl})
        rain = common.labels_array(part).reshape(-1)
        keep = (rng.random(rain.shape[0]) < p) & np.isfinite(rain)
        if keep.any():
            k = sl.stop - sl.start
            xs.append(features(part, channels, config, mean)[keep])
            rs.append(rain[keep])
            ss.append(common.surface_codes(part, (k, ny, nx)).reshape(-1)[keep])
        if progress:
            progress("database", b + 1, len(batches), None)
    if not xs:
        raise TailShiftError(
            "no training pixel was drawn for the database; check the training role"
        )
    x, rain, surf = np.concatenate(xs), np.concatenate(rs), np.concatenate(ss)
    if len(x) > config.database_size:
        pick = np.sort(rng.choice(len(x), config.database_size, replace=False))
        x, rain, surf = x[pick], rain[pick], surf[pick]
    return BayesianModel(config, x, rain, surf, mean, std, training_sources=sources)


train = make_train(
    fit, "Build the database from the training role of ``split``; write the run directory."
)


def load(run: RunDir) -> BayesianModel:
    """Rebuild the database and its neighbour indices from ``model.npz``."""
    arrays = load_arrays(run.file(MODEL_NPZ))
    config = common.load_config(Config, load_json(run.file(MODEL_JSON)))
    return BayesianModel(config, arrays["x"], arrays["rain"], arrays["surface"], arrays["mean"],
                         arrays["std"], arrays["levels"], run.training_sources)
