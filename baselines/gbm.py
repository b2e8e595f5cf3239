"""Quantile gradient boosting: scikit-learn ``HistGradientBoostingRegressor(loss="quantile")``.

One model per quantile level of a subset ``levels`` of
:data:`tailshift.baselines.common.QUANTILE_LEVELS` (default 11 levels spanning 0.016-0.999: fitting
all 35 would triple the training time for little gain), trained on uniformly drawn training
pixels (``max_pixels``). The other levels are linearly interpolated in the level (constant beyond
the subset's ends), and the quantiles are sorted per pixel (monotone rearrangement,
Chernozhukov, Fernandez-Val & Galichon 2010, Econometrica 78, 1093) so independent per-level
models never cross.

Features per pixel (the "pixel + neighbourhood" of docs/baselines.md):

* the TBs of ``channels`` (K);
* for each window size ``w`` in ``windows``: the local mean and standard deviation of every
  channel over ``w x w`` pixels (reflect padding) -- the spatial context a U-Net learns;
* the 89 GHz polarisation-corrected temperature PCT = 1.818 TB_V - 0.818 TB_H (Spencer et al.
  1989, JTECH 6, 254) when both 89 GHz channels are used;
* with ``use_ancillary``: TCWV, T2m and the surface-type code (GPROF's a-priori stratifiers).

Storage without pickle: every fitted tree is exported as scikit-learn's node record array (a
plain structured numpy array) into ``model.npz`` and evaluated by :func:`predict_trees`
(scikit-learn's compiled ``TreePredictor`` rebuilt from the records, or a vectorised numpy walk),
which reproduces ``HistGradientBoostingRegressor.predict`` (tested to 1e-9).
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
from tailshift.errors import BadInputError, TailShiftError

#: Default subset of levels fitted (the rest interpolated): both ends of the mid-point set,
#: the deciles' neighbourhood and the three tail levels.
DEFAULT_LEVELS = (0.015625, 0.109375, 0.265625, 0.515625, 0.734375, 0.890625, 0.953125,
                  0.984375, 0.99, 0.995, 0.999)
#: Polarisation-corrected temperature coefficients at 85/89 GHz (Spencer et al. 1989).
PCT_V, PCT_H = 1.818, 0.818


@dataclass(frozen=True)
class Config:
    """Quantile gradient boosting configuration.

    Attributes
    ----------
    channels : str or tuple[str, ...]
        Channel set name or names.
    levels : tuple[float, ...]
        Levels fitted, each one of :data:`tailshift.baselines.common.QUANTILE_LEVELS`.
    windows : tuple[int, ...]
        Odd neighbourhood window sizes (pixels) for local mean/std features; empty = pixel only.
    use_ancillary : bool
        Add TCWV, T2m and surface code.
    max_pixels : int
        Training pixels drawn uniformly (seeded) from the training role.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization :
        Passed to ``HistGradientBoostingRegressor``.
    sources : tuple[str, ...]
        Training sources within the split's (empty = all allowed).
    seed : int
        Seeds the pixel draw and the boosting.
    """

    BASELINE: ClassVar[str] = "gbm"
    channels: str | tuple[str, ...] = "all"
    levels: tuple[float, ...] = DEFAULT_LEVELS
    windows: tuple[int, ...] = (5,)
    use_ancillary: bool = True
    max_pixels: int = 200_000
    max_iter: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    sources: tuple[str, ...] = ("obs",)
    seed: int = 0

    def __post_init__(self):
        schema.resolve_channels(self.channels)
        if not self.levels:
            raise BadInputError("config key 'levels' must list at least one level")
        bad = [v for v in self.levels if not np.any(np.isclose(v, common.QUANTILE_LEVELS))]
        if bad or list(self.levels) != sorted(set(self.levels)):
            raise BadInputError(
                "config key 'levels' must be increasing values of QUANTILE_LEVELS; "
                + f"{bad or self.levels} are not"
            )
        for w in self.windows:
            if w < 3 or w % 2 == 0:
                raise BadInputError(f"config key 'windows' must hold odd sizes >= 3, got {w}")
        for name in ("max_pixels", "max_iter", "learning_rate", "max_leaf_nodes",
                     "min_samples_leaf"):
            common.check_positive(name, getattr(self, name))
        common.check_positive("l2_regularization", self.l2_regularization, allow_zero=True)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return schema.resolve_channels(self.channels)


def feature_names(config: Config) -> list[str]:
    """Names of the feature columns, in order."""
    ch = config.channel_names
    names = [f"tb_{c}" for c in ch]
    for w in config.windows:
        names += [f"mean{w}_{c}" for c in ch] + [f"std{w}_{c}" for c in ch]
    if "89.0V" in ch and "89.0H" in ch:
        names.append("pct89")
    if config.use_ancillary:
        names += ["tcwv", "t2m", "surface"]
    return names


def features(inputs: Any, config: Config, fill: np.ndarray | None) -> np.ndarray:
    """Feature matrix ``(scene * y * x, n_features)`` float32 (see the module docstring)."""
    from scipy.ndimage import uniform_filter  # deferred: scipy.ndimage is a heavy import

    ch = config.channel_names
    tb = common.tb_array(inputs, ch, fill=fill)
    if fill is not None:
        tb = np.where(np.isfinite(tb), tb, fill[None, :, None, None])
    n, c, ny, nx = tb.shape
    cols = [tb]
    for w in config.windows:
        t = tb.astype(np.float64)
        m = uniform_filter(t, size=(1, 1, w, w), mode="reflect")
        m2 = uniform_filter(t * t, size=(1, 1, w, w), mode="reflect")
        cols += [m.astype(np.float32), np.sqrt(np.maximum(m2 - m * m, 0.0)).astype(np.float32)]
    if "89.0V" in ch and "89.0H" in ch:
        cols.append((PCT_V * tb[:, ch.index("89.0V")] - PCT_H * tb[:, ch.index("89.0H")])[:, None])
    if config.use_ancillary:
        shape = (n, ny, nx)
        for name in (schema.VAR_TCWV, schema.VAR_T2M):
            if name in inputs.variables:
                cols.append(common.pixel_field(inputs, name, shape).astype(np.float32)[:, None])
            else:
                cols.append(np.full((n, 1, ny, nx), np.nan, np.float32))
        cols.append(common.surface_codes(inputs, shape).astype(np.float32)[:, None])
    x = np.concatenate(cols, axis=1)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def export_trees(est: Any) -> tuple[dict[str, np.ndarray], float]:
    """Node records of all trees of a fitted ``HistGradientBoostingRegressor`` and its baseline.

    Returns ``({"nodes": concatenated node records (scikit-learn's PREDICTOR_RECORD_DTYPE, child
    indices local to each tree), "offset": start of each tree}, baseline)``.
    """
    trees = [pred[0] for pred in est._predictors]  # one predictor per iteration (single output)
    nodes = [t.nodes for t in trees]
    if any(bool(np.any(nd["is_categorical"])) for nd in nodes):
        raise TailShiftError("categorical splits are not supported by the tree export")
    sizes = np.array([len(nd) for nd in nodes])
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    baseline = float(np.ravel(est._baseline_prediction)[0])
    return {"nodes": np.concatenate(nodes), "offset": offset}, baseline


def _tree_slices(trees: dict[str, np.ndarray]) -> list[np.ndarray]:
    nodes, offset = trees["nodes"], trees["offset"]
    ends = np.append(offset[1:], len(nodes))
    return [nodes[a:b] for a, b in zip(offset, ends, strict=True)]


def predict_trees(trees: dict[str, np.ndarray], baseline: float, x: np.ndarray) -> np.ndarray:
    """Sum of the leaf values reached by ``x`` in every tree, plus the baseline.

    Uses scikit-learn's compiled ``TreePredictor`` on the stored node records when it is
    available (fast), else :func:`predict_trees_numpy` (same rule, pure numpy).
    """
    try:  # deferred: scikit-learn is heavy, and this private module may move
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    except ImportError:  # pragma: no cover - private API moved
        return predict_trees_numpy(trees, baseline, x)
    xx = np.ascontiguousarray(x, dtype=np.float64)
    empty = np.zeros((0, 8), dtype=np.uint32)
    fmap = np.zeros(x.shape[1], dtype=np.uint32)
    out = np.full(len(x), baseline, dtype=np.float64)
    for nodes in _tree_slices(trees):
        out += TreePredictor(nodes, empty, empty).predict(xx, empty, fmap, 1)
    return out


def predict_trees_numpy(trees: dict[str, np.ndarray], baseline: float, x: np.ndarray) -> np.ndarray:
    """Vectorised numpy walk of all trees at once (the rule of scikit-learn's ``TreePredictor``).

    ``node[t, i]`` starts at each tree's root and moves to ``left`` if
    ``x[i, feature] <= threshold`` (NaN: ``missing_go_to_left``), else ``right``, until a leaf.
    """
    nd_all, offset = trees["nodes"], trees["offset"]
    sizes = np.diff(np.append(offset, len(nd_all)))
    tree_of = np.repeat(np.arange(len(offset)), sizes)
    left_g = nd_all["left"].astype(np.int64) + offset[tree_of]
    right_g = nd_all["right"].astype(np.int64) + offset[tree_of]
    is_leaf = nd_all["is_leaf"].astype(bool)
    go_nan = nd_all["missing_go_to_left"].astype(bool)
    feat, thr = nd_all["feature_idx"], nd_all["num_threshold"]
    n = x.shape[0]
    node = np.repeat(offset[:, None], n, axis=1)
    rows = np.broadcast_to(np.arange(n), node.shape)
    active = ~is_leaf[node]
    while active.any():
        t, i = np.nonzero(active)
        nd = node[t, i]
        val = x[rows[t, i], feat[nd]]
        left = np.where(np.isnan(val), go_nan[nd], val <= thr[nd])
        nxt = np.where(left, left_g[nd], right_g[nd])
        node[t, i] = nxt
        active[t, i] = ~is_leaf[nxt]
    return baseline + nd_all["value"][node].sum(axis=0)


class GBMModel:
    """Per-level exported tree ensembles; ``predict`` interpolates to all levels and sorts."""

    def __init__(self, config: Config, ensembles: list[tuple[dict[str, np.ndarray], float]],
                 mean: np.ndarray, std: np.ndarray, levels: np.ndarray = common.QUANTILE_LEVELS,
                 training_sources: tuple[str, ...] = ("obs",), chunk_pixels: int = 65_536):
        self.config = config
        self.channels = config.channel_names
        self.ensembles = ensembles
        self.normalisation = (mean, std)
        self.quantile_levels = np.asarray(levels, np.float64)
        self.training_sources = tuple(training_sources)
        self.chunk_pixels = chunk_pixels
        self.extra = {"fitted_levels": list(config.levels), "features": feature_names(config),
                      "n_trees": [len(e[0]["offset"]) for e in ensembles]}

    def predict_pixels(self, x: np.ndarray) -> np.ndarray:
        """``(pixels, L)`` quantiles (mm/h) for a feature matrix."""
        fitted = np.asarray(self.config.levels)
        out = np.empty((len(x), len(self.quantile_levels)), np.float32)
        for sl in common.iter_batches(len(x), self.chunk_pixels):
            sub = np.stack([predict_trees(t, b, x[sl]) for t, b in self.ensembles], axis=1)
            sub = np.sort(np.maximum(sub, 0.0), axis=1)
            if len(fitted) == 1:
                full = np.repeat(sub, len(self.quantile_levels), axis=1)
            else:
                j = np.clip(np.searchsorted(fitted, self.quantile_levels) - 1, 0, len(fitted) - 2)
                frac = (self.quantile_levels - fitted[j]) / (fitted[j + 1] - fitted[j])
                frac = np.clip(frac, 0.0, 1.0)
                full = sub[:, j] + frac * (sub[:, j + 1] - sub[:, j])
            out[sl] = full
        return out

    def predict(self, inputs: Any) -> Any:
        n = inputs.sizes[schema.DIM_SCENE]
        ny, nx = inputs.sizes[schema.DIM_Y], inputs.sizes[schema.DIM_X]
        q = self.predict_pixels(features(inputs, self.config, self.normalisation[0]))
        q = np.moveaxis(q.reshape(n, ny, nx, -1), -1, 1)
        return common.to_predictions(inputs, q, self.quantile_levels)

    def save(self, directory: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "mean": self.normalisation[0], "std": self.normalisation[1],
            "levels": self.quantile_levels,
            "baselines": np.array([b for _, b in self.ensembles]),
        }
        for k, (trees, _) in enumerate(self.ensembles):
            for f, v in trees.items():
                arrays[f"l{k}_{f}"] = v
        save_arrays(directory / MODEL_NPZ, **arrays)
        save_json(directory / MODEL_JSON, common.config_to_dict(self.config))


def sample_pixels(config: Config, ds: Any, mean: np.ndarray,
                  progress: common.ProgressFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``max_pixels`` training pixels uniformly (seeded) -> (features, rain)."""
    n = ds.sizes[schema.DIM_SCENE]
    ny, nx = ds.sizes[schema.DIM_Y], ds.sizes[schema.DIM_X]
    p = min(1.0, 1.2 * config.max_pixels / max(n * ny * nx, 1))
    rng = np.random.default_rng(config.seed)
    xs, ys = [], []
    batches = list(common.iter_batches(n, 64))
    for b, sl in enumerate(batches):
        part = ds.isel({schema.DIM_SCENE: sl})
        rain = common.labels_array(part).reshape(-1)
        keep = (rng.random(rain.shape[0]) < p) & np.isfinite(rain)
        if keep.any():
            xs.append(features(part, config, mean)[keep])
            ys.append(rain[keep])
        if progress:
            progress("pixels", b + 1, len(batches), None)
    if not xs:
        raise TailShiftError("no training pixel was drawn; check the training role")
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(x) > config.max_pixels:
        pick = np.sort(rng.choice(len(x), config.max_pixels, replace=False))
        x, y = x[pick], y[pick]
    return x, y


def fit(config: Config, ds: Any, progress: common.ProgressFn | None = None,
        sources: tuple[str, ...] = ("obs",)) -> GBMModel:
    """Fit one quantile ensemble per level of ``config.levels``."""
    # deferred: scikit-learn is heavy; only fitting needs it
    from sklearn.ensemble import HistGradientBoostingRegressor

    mean, std = common.channel_stats(ds, config.channel_names, seed=config.seed)
    x, y = sample_pixels(config, ds, mean, progress)
    ensembles = []
    for k, tau in enumerate(config.levels):
        est = HistGradientBoostingRegressor(
            loss="quantile", quantile=float(tau), max_iter=config.max_iter,
            learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
            min_samples_leaf=config.min_samples_leaf, l2_regularization=config.l2_regularization,
            early_stopping=False, random_state=config.seed,
        )
        est.fit(x, y)
        ensembles.append(export_trees(est))
        if progress:
            progress("levels", k + 1, len(config.levels), None)
    return GBMModel(config, ensembles, mean, std, training_sources=sources)


train = make_train(
    fit, "Fit on the training role of ``split`` and write the run directory."
)


def load(run: RunDir) -> GBMModel:
    """Rebuild the exported ensembles from ``model.npz``."""
    arrays = load_arrays(run.file(MODEL_NPZ))
    config = common.load_config(Config, load_json(run.file(MODEL_JSON)))
    ensembles = []
    for k in range(len(config.levels)):
        trees = {f: arrays[f"l{k}_{f}"] for f in ("nodes", "offset")}
        ensembles.append((trees, float(arrays["baselines"][k])))
    return GBMModel(config, ensembles, arrays["mean"], arrays["std"], arrays["levels"],
                    run.training_sources)
