"""The streaming score card: named statistics per chunk, one reduction, bootstrap CIs.

Usage (the evaluation runner feeds it chunk by chunk; cards merge for dask tree reductions)::

    cfg = CardConfig(quantile_levels=levels, n_boot=200)
    card = ScoreCard(cfg)
    for chunk in chunks:
        card.update(ref, quantiles=q, scene=ids, warming=dT, block=blk, year=yr, groups={...})
    result = card.finalize()

Design (docs/protocol.md): every metric in :data:`metrics.REGISTRY` declares the statistic
blocks it is reduced from (:mod:`tailshift.metrics.stats`, columns by name). For each chunk the card
computes those blocks **per scene**, multiplies them by the scene's bootstrap weights and adds
them into ``(R, ...)`` accumulators (``R = n_boot + 1``, replicate 0 = the full sample): overall,
per group label, per (regime, warming bin) trend cell and per year. :meth:`ScoreCard.finalize`
freezes the sums into a :class:`Reduced` value, and metric reducers read only that
(:class:`tailshift.metrics.view.StatView`). Memory is ``O(bins x groups x replicates)`` plus 24 bytes per
scene for the scene maxima of the tail metrics; results do not depend on chunking or order
(weights are a hash of the scene id, :mod:`tailshift.metrics.bootstrap`).

Policies (documented decisions):

* **Quantile forecasts are distributions.** The levels are read as knots of a piecewise-linear
  quantile function with flat ends (:func:`tailshift.metrics.kernels.crps_quantiles`), and CRPS, twCRPS
  and PIT are those of that distribution, exactly; the mean pinball loss is reported as
  ``quantile_loss``. Which level sets a ranked submission must use: :mod:`tailshift.metrics.levels`.
* **NaN reference pixels are ignored** (set to zero in the reference and every prediction, and
  the counts corrected). Predictions must be finite.
* Point estimate: ``point`` if given, else the 0.5 quantile (linear between levels), else the
  ensemble mean. It is "the retrieved field" of the detection, distribution, tail, trend and
  spatial metrics.
* Pixels where the reference and the whole forecast column are exactly 0 contribute 0 to every
  loss and a uniform PIT; they are counted, not computed.
* Groups of ``group_dims`` carry CIs only when ``n_boot_groups > 0``; tails and trends are
  headline-only.
* Trends: per (regime, warming bin) cell, regime fixed effects (:mod:`tailshift.metrics.trends`), at
  least ``trend_min_bins`` populated warming bins; the intensity percentiles are of wet pixels.
* Tails: region-year blocks with at least ``min_block_scenes`` scenes, standardised per regime,
  block bootstrap; peaks over threshold of the standardised scene maxima, scene bootstrap.
* Undefined values are ``None`` in the output, and ``undefined`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from statistics import NormalDist
from types import MappingProxyType

import numpy as np

from tailshift.errors import BadInputError
from tailshift.metrics import stats as S
from tailshift.metrics.bins import LogBins
from tailshift.metrics.bootstrap import poisson_weights, unit_keys
from tailshift.metrics.reduced import (
    Reduced,
    default_levels,
    frozen_arrays,
    pit_points,
)
from tailshift.metrics.registry import REGISTRY
from tailshift.metrics.view import finalize_reduced

#: Statistic blocks that are reported per group label.
_GROUP_BLOCKS = ("point", "prob", "tw", "pit", "hist", "spec", "fss")


@dataclass(frozen=True)
class CardConfig:
    """Configuration of a :class:`ScoreCard` (every field changes the output; tested).

    Attributes
    ----------
    quantile_levels : array-like or None
        Levels of the ``quantiles`` given to :meth:`ScoreCard.update` (strictly increasing in
        (0, 1)). For samples, the levels of the ensemble's quantile loss (default
        :func:`default_levels`).
    n_boot : int
        Scene-bootstrap replicates of the headline scores (default 200).
    seed : int
        Seed of the bootstrap weight hash.
    pixel_km : float
        Pixel size in km (effective resolution). Default 4 km, the grid of the embedded world
        and of SatRain's gridded GMI data.
    group_dims : tuple of str
        Scene labels to group by (``groups`` keys of :meth:`ScoreCard.update`). The trend cells
        and the tail standardisation use ``"regime"`` when it is among them.
    metrics : tuple of str or None
        Registry names to compute (default: all).
    n_boot_groups : int
        Replicates for group scores (0: no group CIs).
    n_boot_tail : int
        Block-bootstrap replicates of the GEV tail metrics.
    gev_method : str
        ``"lmoments"`` (Hosking 1990, default, fast) or ``"mle"`` (scipy, slow).
    bins_per_decade : int
        Histogram resolution (quantile relative error <= 10**(1/bpd) - 1).
    warming_bin_k : float
        Width (K) of the warming bins of the trend regressions.
    fss_size : int
        FSS neighbourhood in pixels (9 px = 36 km at 4 km).
    intensity_edges : tuple of float
        Lower edges (mm/h) of the reference-intensity bins; the last bin is open.
    return_periods : tuple of float
        Return periods (blocks) of the return-level curve.
    cmip_mean_range, cmip_extreme_range : tuple of float
        Climate-model scaling ranges (%/K), shown as context: mean precipitation 2.1-3.1
        (CMIP6 hydrological sensitivity, Pendergrass 2020, GRL 47:e2020GL089288); wet-pixel
        intensity percentiles 5-14 (Clausius-Clapeyron ~7 %/K up to 2 x CC for hourly
        convective extremes, Lenderink & van Meijgaard 2008, Nat. Geosci. 1:511; IPCC AR6
        WG1 ch. 11).
    ci_level : float
        Confidence level of the percentile intervals.
    trend_min_bins : int
        Populated warming bins needed for a scaling rate (fewer: undefined).
    trend_tolerance : float
        %/K, equivalence margin of the trend flag: true when the whole CI of the scaling error
        lies within +-tolerance, false when it lies outside, undefined otherwise. 0.5 %/K is half the CMIP6 inter-model range of hydrological sensitivity (2.1-3.1 %/K,
        Pendergrass 2020): an error the climate models' own spread cannot resolve.
    min_block_scenes : int
        Scenes a region-year block needs for its maximum to count as a block maximum. The GEV
        describes maxima of many observations (Coles 2001, ch. 3); 10 is a decision: on the
        standard world it keeps 55-86 blocks per test role while dropping the region-years
        of one or two scenes that made the old fit fail its KS test.
    pot_quantile : float
        Threshold of the peaks-over-threshold fit: this quantile of the standardised
        reference scene maxima (0.9, a common first choice before a threshold-stability check;
        Coles 2001, ch. 4.3).
    """

    quantile_levels: tuple | np.ndarray | None = None
    n_boot: int = 200
    seed: int = 0
    pixel_km: float = 4.0
    group_dims: tuple[str, ...] = ("regime", "surface_type")
    metrics: tuple[str, ...] | None = None
    n_boot_groups: int = 0
    n_boot_tail: int = 1000
    gev_method: str = "lmoments"
    bins_per_decade: int = 100
    warming_bin_k: float = 0.5
    fss_size: int = 9
    intensity_edges: tuple[float, ...] = (0.1, 1.0, 10.0, 50.0)
    return_periods: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
    cmip_mean_range: tuple[float, float] = (2.1, 3.1)
    cmip_extreme_range: tuple[float, float] = (5.0, 14.0)
    ci_level: float = 0.95
    trend_min_bins: int = 4
    trend_tolerance: float = 0.5
    min_block_scenes: int = 10
    pot_quantile: float = 0.9

    def __post_init__(self):
        lv = self.quantile_levels
        if lv is not None:
            arr = np.asarray(lv, dtype=np.float64).ravel()
            if arr.size == 0 or np.any(arr <= 0) or np.any(arr >= 1) or np.any(np.diff(arr) <= 0):
                raise BadInputError(
                    "quantile_levels must be strictly increasing inside (0, 1); fix the " +
                    "'quantile' coordinate of the predictions"
                )
            object.__setattr__(self, "quantile_levels", tuple(float(v) for v in arr))
        if self.metrics is not None:
            names = tuple(self.metrics)
            unknown = [m for m in names if m not in REGISTRY]
            if unknown:
                raise BadInputError(
                    f"unknown metric(s) {unknown}; choose from metrics.REGISTRY: {sorted(REGISTRY)}"
                )
            object.__setattr__(self, "metrics", names)
        object.__setattr__(self, "group_dims", tuple(self.group_dims))
        if self.n_boot < 0 or self.n_boot_groups < 0 or self.n_boot_tail < 0:
            raise BadInputError("bootstrap replicate counts must be >= 0")
        if self.gev_method not in ("lmoments", "mle"):
            raise BadInputError("gev_method must be 'lmoments' or 'mle'")
        if self.pixel_km <= 0 or self.warming_bin_k <= 0 or self.fss_size < 1:
            raise BadInputError("pixel_km, warming_bin_k and fss_size must be positive")
        if self.trend_min_bins < 2 or self.min_block_scenes < 1:
            raise BadInputError("trend_min_bins must be >= 2 and min_block_scenes >= 1")
        if not 0 < self.pot_quantile < 1 or self.trend_tolerance < 0:
            raise BadInputError("pot_quantile must be in (0, 1) and trend_tolerance >= 0")

    @property
    def levels(self) -> np.ndarray | None:
        """Quantile levels as an array (``None`` if not set)."""
        return None if self.quantile_levels is None else np.asarray(self.quantile_levels)

    @property
    def bins(self) -> LogBins:
        return LogBins(bins_per_decade=self.bins_per_decade)

    @property
    def selected(self) -> tuple[str, ...]:
        return tuple(REGISTRY) if self.metrics is None else self.metrics


_BLAS_CONTROLLER = None


def _one_blas_thread():
    """Context limiting BLAS to one thread (the card's GEMMs are small: replicates x bins, where
    BLAS threading only adds synchronisation); parallelism belongs to the dask workers."""
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


@dataclass
class _Acc:
    """Additive ``(R, ...)`` accumulators of one group."""

    arrays: dict = field(default_factory=dict)

    def add_weighted(self, stats: dict, w: np.ndarray) -> None:
        for name, v in stats.items():
            if hasattr(v, "tocsr"):  # sparse (s, cells)
                red = np.asarray((v.T @ w).T)
            else:
                flat = v.reshape(v.shape[0], -1)
                red = (w.T @ flat).reshape((w.shape[1],) + v.shape[1:])
            if name in self.arrays:
                self.arrays[name] += red
            else:
                self.arrays[name] = red

    @staticmethod
    def summed(a: _Acc | None, b: _Acc | None) -> _Acc:
        """A new accumulator ``a + b`` (inputs untouched; one pass per array)."""
        a = a if a is not None else _Acc()
        b = b if b is not None else _Acc()
        out = _Acc()
        for name in a.arrays.keys() | b.arrays.keys():
            x, y = a.arrays.get(name), b.arrays.get(name)
            out.arrays[name] = x + y if x is not None and y is not None else (
                x if y is None else y).copy()
        return out


class ScoreCard:
    """Streaming accumulator of every selected metric's sufficient statistics.

    Parameters
    ----------
    cfg : CardConfig
    """

    def __init__(self, cfg: CardConfig | None = None):
        self.cfg = cfg if cfg is not None else CardConfig()
        blocks = set()
        for m in self.cfg.selected:
            blocks.update(REGISTRY[m].statistics)
        if blocks & {"point", "prob"}:
            blocks.add("intensity")
        self.blocks = frozenset(blocks)
        self.kinds: frozenset | None = None
        self.members: int | None = None
        self.n_scenes = 0
        self.n_pixels = 0
        self.shape: tuple[int, int] | None = None
        self._head = _Acc()
        self._groups: dict[str, dict[str, _Acc]] = {}
        self._cells: dict[tuple[str, int], _Acc] = {}
        self._years: dict[int, _Acc] = {}
        self._scenes: list[dict] = []

    def _levels(self) -> np.ndarray:
        lv = self.cfg.levels
        return default_levels() if lv is None else lv

    # --- update ------------------------------------------------------------------------------

    def update(self, ref, *, point=None, quantiles=None, samples=None, scene, warming=None,
               block=None, year=None, groups=None) -> ScoreCard:
        """Add one chunk of scenes.

        Parameters
        ----------
        ref : array (s, y, x)
            Reference rain rate, mm/h; NaN pixels are ignored.
        point : array (s, y, x), optional
            Point estimate, mm/h.
        quantiles : array (s, q, y, x), optional
            Predicted quantiles at ``cfg.quantile_levels``, mm/h.
        samples : array (s, m, y, x), optional
            Ensemble members, mm/h.
        scene : array (s,)
            Unique scene ids (int or str); they seed the bootstrap weights.
        warming : array (s,), optional
            Global-mean warming of each scene's climate, K (needed by trend metrics).
        block : array (s,) of str, optional
            Region-year block label of each scene (needed by tail metrics).
        year : array (s,) of int, optional
            Year of each scene (annual series: Theil-Sen and Mann-Kendall).
        groups : dict of str -> array (s,), optional
            Scene labels for every dim of ``cfg.group_dims``.
        """
        ref = np.asarray(ref)
        if ref.ndim != 3:
            raise BadInputError(f"ref must be (scene, y, x); got shape {ref.shape}")
        s, ny, nx = ref.shape
        kinds, quantiles, samples, point = self._check_forecasts(
            ref.shape, point, quantiles, samples)
        scene = np.asarray(scene).ravel()
        if scene.size != s:
            raise BadInputError(f"scene must have {s} ids; got {scene.size}")
        if "spec" in self.blocks and self.shape is not None and self.shape != (ny, nx):
            raise BadInputError(
                f"all scenes must share one size for spectra; had {self.shape}, got {(ny, nx)}")
        if "warming" in self.blocks:
            if warming is None:
                raise BadInputError("warming (s,) is required by the trend metrics")
            warming = np.asarray(warming, dtype=np.float64).ravel()
            if warming.size != s or not np.all(np.isfinite(warming)):
                raise BadInputError(f"warming must be {s} finite values (K)")
        if "tails" in self.blocks:
            if block is None:
                raise BadInputError("block (s,) labels are required by the tail metrics")
            block = np.asarray(block).ravel()
            if block.size != s:
                raise BadInputError(f"block must have {s} labels; got {block.size}")
        if year is not None:
            year = np.asarray(year).ravel()
            if year.size != s:
                raise BadInputError(f"year must have {s} values; got {year.size}")
        glabels = self._check_groups(groups, s)
        if s == 0:
            return self
        with _one_blas_thread():
            return self._update(ref, point, quantiles, samples, kinds, scene, warming, block,
                                year, glabels)

    def _check_forecasts(self, shape, point, quantiles, samples):
        s, ny, nx = shape
        if point is None and quantiles is None and samples is None:
            raise BadInputError("update() needs point, quantiles or samples")
        kinds = {"point"}
        if quantiles is not None:
            quantiles = np.asarray(quantiles)
            lv = self.cfg.levels
            if lv is None:
                raise BadInputError("quantiles given but CardConfig.quantile_levels is None")
            if quantiles.shape != (s, lv.size, ny, nx):
                raise BadInputError(
                    f"quantiles must be (scene, quantile, y, x) = {(s, lv.size, ny, nx)}; " +
                    f"got {quantiles.shape}")
            kinds.add("quantiles")
        if samples is not None:
            samples = np.asarray(samples)
            if samples.ndim != 4 or samples.shape[0] != s or samples.shape[2:] != (ny, nx):
                raise BadInputError(
                    f"samples must be (scene, member, y, x) with {s} scenes of {ny}x{nx}; " +
                    f"got {samples.shape}")
            kinds.add("samples")
            if self.members is not None and samples.shape[1] != self.members:
                raise BadInputError(
                    f"every chunk must carry the same number of members; had {self.members}, " +
                    f"got {samples.shape[1]}")
        if point is not None:
            point = np.asarray(point)
            if point.shape != tuple(shape):
                raise BadInputError(f"point must have ref's shape {shape}; got {point.shape}")
        kinds = frozenset(kinds)
        if self.kinds is not None and kinds != self.kinds:
            raise BadInputError(
                f"every chunk must carry the same prediction kinds; had {sorted(self.kinds)}, " +
                f"got {sorted(kinds)}")
        return kinds, quantiles, samples, point

    def _check_groups(self, groups, s) -> dict:
        glabels = {}
        if self.cfg.group_dims:
            groups = groups or {}
            missing = [d for d in self.cfg.group_dims if d not in groups]
            if missing:
                raise BadInputError(
                    f"groups lacks {missing}; pass labels for every CardConfig.group_dims entry " +
                    "or set group_dims=()")
            for d in self.cfg.group_dims:
                lab = np.asarray(groups[d]).ravel()
                if lab.size != s:
                    raise BadInputError(f"groups[{d!r}] must have {s} labels; got {lab.size}")
                glabels[d] = lab
        return glabels

    def _update(self, ref, point, quantiles, samples, kinds, scene, warming, block, year,
                glabels):
        ch = S.gather(ref, point, quantiles, samples, self._levels())
        stats = self._scene_stats(ch)
        s = ch.s
        self.kinds = kinds
        if samples is not None:
            self.members = int(samples.shape[1])
        self.shape = (ch.ny, ch.nx)
        self.n_scenes += s
        self.n_pixels += int(ch.nvalid.sum())

        keys = unit_keys(scene, self.cfg.seed)
        w = poisson_weights(keys, self.cfg.n_boot)
        self._head.add_weighted(stats, w)

        rg = self.cfg.n_boot_groups + 1
        gstats = {k: v for k, v in stats.items() if k in _GROUP_BLOCKS}
        for d, lab in glabels.items():
            gd = self._groups.setdefault(d, {})
            for u in np.unique(lab):
                sel = lab == u
                gd.setdefault(str(u), _Acc()).add_weighted(
                    {k: v[sel] for k, v in gstats.items()}, w[sel, :rg])

        regime = glabels.get("regime", np.full(s, "all")).astype(str)
        if "warming" in self.blocks:
            wet = S.wet_block(ch)
            mean = stats["point"][:, [S.col("point", c) for c in ("n", "sum_r", "sum_p")]]
            wb = np.floor(warming / self.cfg.warming_bin_k).astype(np.int64)
            wsc = np.stack([np.ones(s), warming], 1)
            for key in sorted(set(zip(regime.tolist(), wb.tolist(), strict=True))):
                sel = (regime == key[0]) & (wb == key[1])
                self._cells.setdefault(key, _Acc()).add_weighted(
                    {"wscene": wsc[sel], "mean": mean[sel], "wet": wet[sel]}, w[sel])
            if year is not None:
                yr = year.astype(np.int64)
                for u in np.unique(yr):
                    sel = yr == u
                    self._years.setdefault(int(u), _Acc()).add_weighted(
                        {"mean": mean[sel], "wet": wet[sel]}, w[sel, :1])
        if "tails" in self.blocks or "pot" in self.blocks:
            self._scenes.append({
                "key": keys,
                "max": S.scene_maxima(ch),
                "block": (block if block is not None else scene).astype(str),
                "regime": regime,
            })
        return self

    def _scene_stats(self, ch: S.Chunk) -> dict:
        """Per-scene statistic blocks of one chunk, ``{name: (s, ...)}``."""
        cfg, blocks = self.cfg, self.blocks
        out: dict = {}
        if blocks & {"point", "intensity", "warming"}:
            out["point"] = S.point_block(ch)
        ps = None
        if ch.prob and blocks & {"prob", "tw", "pit", "intensity"}:
            ps = S.pixel_scores(ch)
            out["prob"] = S.prob_block(ch, ps)
        if ch.prob and "tw" in blocks:
            out["tw"] = S.tw_block(ch)
        if ch.prob and "pit" in blocks:
            out["pit"] = S.pit_block(ch, ps, pit_points(cfg))
        if "intensity" in blocks:
            out["intensity"] = S.intensity_block(
                ch, np.asarray(cfg.intensity_edges, dtype=np.float64), ps)
        if "hist" in blocks:
            out["hist"] = S.hist_block(ch, cfg.bins)
        if "joint" in blocks:
            out["joint"] = S.joint_block(ch)
        if "spec" in blocks:
            out["spec"] = S.spec_block(ch)
        if "fss" in blocks:
            out["fss"] = S.fss_block(ch, cfg.fss_size)
        return out

    # --- merge -------------------------------------------------------------------------------

    def merge(self, other: ScoreCard) -> ScoreCard:
        """Combine two cards over disjoint scenes (associative, commutative); returns a new card."""
        if not isinstance(other, ScoreCard) or not _same_config(self.cfg, other.cfg):
            raise BadInputError("can only merge score cards with identical CardConfig")
        if self.kinds is not None and other.kinds is not None and self.kinds != other.kinds:
            raise BadInputError("cannot merge cards that scored different prediction kinds")
        if self.shape and other.shape and "spec" in self.blocks and self.shape != other.shape:
            raise BadInputError("cannot merge cards with different scene sizes")
        out = ScoreCard(self.cfg)
        out.kinds = self.kinds or other.kinds
        if None not in (self.members, other.members) and self.members != other.members:
            raise BadInputError("cannot merge cards of ensembles with different member counts")
        out.members = self.members if self.members is not None else other.members
        out.shape = self.shape or other.shape
        out.n_scenes = self.n_scenes + other.n_scenes
        out.n_pixels = self.n_pixels + other.n_pixels
        out._head = _Acc.summed(self._head, other._head)
        for d in self._groups.keys() | other._groups.keys():
            ga, gb = self._groups.get(d, {}), other._groups.get(d, {})
            out._groups[d] = {lab: _Acc.summed(ga.get(lab), gb.get(lab))
                              for lab in ga.keys() | gb.keys()}
        for k in self._cells.keys() | other._cells.keys():
            out._cells[k] = _Acc.summed(self._cells.get(k), other._cells.get(k))
        for k in self._years.keys() | other._years.keys():
            out._years[k] = _Acc.summed(self._years.get(k), other._years.get(k))
        out._scenes = [*self._scenes, *other._scenes]
        return out

    # --- finalize ----------------------------------------------------------------------------

    def reduce(self) -> Reduced:
        """The frozen reduced statistics (what :class:`tailshift.metrics.view.StatView` reads)."""
        scenes: dict = {}
        if self._scenes:
            cat = {k: np.concatenate([p[k] for p in self._scenes]) for k in self._scenes[0]}
            order = np.argsort(cat["key"], kind="stable")
            scenes = {k: v[order] for k, v in cat.items()}
        return Reduced(
            cfg=self.cfg,
            kinds=self.kinds or frozenset(),
            members=self.members,
            shape=self.shape,
            n_scenes=self.n_scenes,
            n_pixels=self.n_pixels,
            head=frozen_arrays(self._head.arrays),
            groups=MappingProxyType({d: MappingProxyType(
                {lab: frozen_arrays(acc.arrays) for lab, acc in gd.items()})
                for d, gd in self._groups.items()}),
            cells=MappingProxyType({k: frozen_arrays(a.arrays) for k, a in self._cells.items()}),
            years=MappingProxyType({k: frozen_arrays(a.arrays) for k, a in self._years.items()}),
            scenes=frozen_arrays(scenes),
        )

    def finalize(self) -> dict:
        """Reduce to values and CIs; see :mod:`tailshift.benchmark.results` for the layout.

        Returns
        -------
        dict
            ``{"scores", "groups", "worst_group", "curves", "undefined", "replicates",
            "forecast", "n_scenes", "n_pixels"}``.
        """
        if self.n_scenes == 0:
            raise BadInputError("no scenes were given to the score card; nothing to score")
        return finalize_reduced(self.reduce())

    def __getstate__(self):
        return self.__dict__.copy()


def _same_config(a: CardConfig, b: CardConfig) -> bool:
    return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(CardConfig))


def gap(id_scores: dict, ood_scores: dict, level: float = 0.95) -> dict:
    """Generalisation gap OOD - ID per metric, with a normal-approximation interval.

    ``value = v_ood - v_id``. The ID and OOD test sets hold different scenes, so the two
    estimates are independent (no pairing is possible): each percentile CI is turned into a
    standard error ``se = (ci_high - ci_low) / (2 z)`` and the gap's CI is
    ``value +- z sqrt(se_id^2 + se_ood^2)``. CIs are ``None`` when either side lacks one;
    boolean metrics and metrics missing on one side are skipped.
    """
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    out = {}
    for name, so in ood_scores.items():
        si = id_scores.get(name)
        if si is None:
            continue
        vi, vo = si.get("value"), so.get("value")
        if isinstance(vi, bool) or isinstance(vo, bool):
            continue
        if vi is None or vo is None:
            out[name] = {"value": None, "ci_low": None, "ci_high": None}
            continue
        val = float(vo) - float(vi)
        cis = [si.get("ci_low"), si.get("ci_high"), so.get("ci_low"), so.get("ci_high")]
        if any(c is None for c in cis):
            out[name] = {"value": val, "ci_low": None, "ci_high": None}
            continue
        se_i = (cis[1] - cis[0]) / (2 * z)
        se_o = (cis[3] - cis[2]) / (2 * z)
        half = z * math.sqrt(se_i**2 + se_o**2)
        out[name] = {"value": val, "ci_low": val - half, "ci_high": val + half}
    return out
