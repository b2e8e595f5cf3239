"""The streaming score card: sufficient statistics per chunk, one reduction, bootstrap CIs.

Usage (the evaluation runner feeds it chunk by chunk; cards merge for dask tree reductions)::

    cfg = CardConfig(quantile_levels=levels, n_boot=200)
    card = ScoreCard(cfg)
    for chunk in chunks:
        card.update(ref, quantiles=q, scene=ids, warming=dT, block=blk, groups={...})
    result = card.finalize()

Design (CONVENTIONS.md 2): every metric in :data:`metrics.REGISTRY` declares the additive
statistic blocks it is reduced from. For each chunk the card computes those blocks **per scene**
(``(s, ...)`` arrays), multiplies them by the scene's bootstrap weights and adds them into
``(R, ...)`` accumulators (``R = n_boot + 1``, replicate 0 = the full sample), overall, per group
label and per warming bin. Final values are computed only from the reduced blocks, so memory is
``O(bins x groups x replicates)``, independent of the number of scenes, and results do not depend
on chunking or order (weights are a hash of the scene id, :mod:`metrics.bootstrap`; counts are
exact, float sums agree to rounding, ~1e-12 relative).

Statistic blocks (per scene, then weighted-summed):

``point``  (10,)  n, sum r, sum p, sum|p-r|, sum (p-r)^2, sum r^2, sum p^2, sum r p,
                  sum SMAPE terms, n SMAPE (pixels with max(r, p) >= 0.1 mm/h)
``intensity`` (n_int, 12)  the point sums plus sum quantile loss, sum CRPS per reference
                  intensity bin [0.1,1), [1,10), [10,50), >=50 mm/h (``CardConfig.intensity_edges``)
``prob``   (3,)   n, sum quantile loss, sum CRPS
``tw``     (3,)   n, sum twCRPS_10, sum twCRPS_50
``pit``    (E+1,) sum P(PIT <= e) at evaluation points e (PIT-histogram edges, levels, 0.05,
                  0.95), and n
``hist``   (5, nb) log-spaced histograms (:mod:`metrics.bins`): counts of r, of p, of
                  min(r, p), and value sums of r and of p. ``count(min(r,p) >= t)`` is the number
                  of hits at ANY threshold t, so contingency tables at data-dependent thresholds
                  (SEDI at the reference P99) need no 2-D histogram.
``spec``   (4, nk) radially binned |R|^2, |P|^2, Re/Im(R P*) (2-D FFT per scene)
``fss``    (2,)   FSS numerator and denominator sums
``blocks`` per block label: max of the scene maxima of r and of p (tails; resampled by block)
``warming`` per warming bin: scene count, sum of warming, point and histogram blocks

Policies (documented decisions):

* **NaN reference pixels are ignored**: they are set to zero in the reference *and* in every
  prediction, which removes them from all sums, and the counts are corrected. In spectra and FSS
  neighbourhoods they act as zero rain. Predictions must be finite (validated upstream,
  ``benchmark.predictions``); non-finite predictions raise :class:`BadInputError`.
* Point estimate: ``point`` if given, else the 0.5 quantile (linear interpolation between
  levels), else the ensemble mean. CRPS: from quantiles if given (2 x mean pinball), else the
  fair ensemble CRPS from samples. Quantile loss from samples uses the ensemble's empirical
  quantiles at ``quantile_levels`` (default 32 levels ``(k - 1/2)/32``).
* Pixels where the reference and the whole forecast column are exactly 0 contribute 0 to every
  loss and a uniform PIT; they are counted, not computed (most rain pixels are dry).
* Groups of ``group_dims`` (regime, surface type) carry bootstrap CIs only when
  ``n_boot_groups > 0`` (default 0: values with ``None`` CIs, to keep memory and merge time
  low); the ``intensity_bin`` groups (point scores, quantile loss, CRPS) always carry CIs from
  the headline replicates (they are cheap). Tail and trend metrics are headline-only (blocks and
  warming bins are too few per group).
* Tail metrics resample **blocks** (region x year) rather than scenes: block maxima are the
  independent units of extreme-value analysis, and removing scenes inside a block would bias
  the maxima low. ``n_boot_tail`` (default 1000) replicates.
* The "retrieved field" of the detection, distribution, tail, trend and spatial metrics is the
  point estimate (``point``, else the median, else the ensemble mean). If both quantiles and
  samples are given, the quantiles are used for the probabilistic scores.
* Percentile thresholds and quantile ratios (SEDI at P99/P99.9, ``qratio_*``) use all valid
  pixels, dry ones included (P99 of rain rate, not of wet-pixel rain rate).
* Tail bootstrap weights hash ``(seed + 7919, block label, replicate)``. ``gev_method="mle"``
  fits every replicate with scipy (~10 ms each: use a small ``n_boot_tail``).
* Boolean metrics (``scaling_in_cmip_range_*``) have ``None`` CIs.
* Undefined values (empty denominators, e.g. FAR with no forecast events) are NaN internally
  and ``None`` in the output.
* Arithmetic: float32 forecasts are scored in float32 per pixel where it is memory-bound
  (quantile gather, pinball) with float64 accumulation in a fixed per-pixel order, so results
  agree with scoringrules to ~1e-9 and do not depend on chunking; spectra use float32 FFTs.
  BLAS is limited to one thread inside :meth:`ScoreCard.update` (its products are small;
  threading only adds synchronisation) -- parallelism belongs to the dask workers.
* :meth:`ScoreCard.finalize` also returns ``n_scenes`` and ``n_pixels`` (valid pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache

import numpy as np

from benchmark.errors import BadInputError
from metrics import kernels as K
from metrics.bins import LogBins
from metrics.bootstrap import percentile_ci, poisson_weights, unit_keys
from metrics.registry import REGISTRY

#: SMAPE is averaged over pixels where max(ref, retrieved) >= this (mm/h): the lowest detection
#: threshold (SatRain's 0.1 mm/h, SCIENCE.md section 1), so dry/dry pixels do not dilute it.
SMAPE_MIN = 0.1
#: Heavy-rain thresholds (mm/h) of the twCRPS (issue 3).
TW_THRESHOLDS = (10.0, 50.0)
#: Edges of the PIT histogram (20 bins).
PIT_EDGES = np.linspace(0.0, 1.0, 21)
#: Levels of the QQ curve.
QQ_LEVELS = (0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999)
#: Statistic blocks that are reported per group label.
_GROUP_BLOCKS = ("point", "intensity", "prob", "tw", "pit", "hist", "spec", "fss")


def default_levels(k: int = 32) -> np.ndarray:
    """``k`` evenly spaced levels ``(i - 1/2)/k`` (the CRPS-from-quantiles grid)."""
    return (np.arange(k) + 0.5) / k


@dataclass(frozen=True)
class CardConfig:
    """Configuration of a :class:`ScoreCard` (every field changes the output; tested).

    Attributes
    ----------
    quantile_levels : array-like or None
        Levels of the ``quantiles`` given to :meth:`ScoreCard.update` (strictly increasing in
        (0, 1)); stored as a tuple. For samples, the levels at which ensemble quantiles are
        scored (default :func:`default_levels`).
    n_boot : int
        Scene-bootstrap replicates of the headline scores (default 200).
    seed : int
        Seed of the bootstrap weight hash.
    pixel_km : float
        Pixel size in km (effective resolution). Default 4 km (SCIENCE.md section 3).
    group_dims : tuple of str
        Scene labels to group by (``groups`` keys of :meth:`ScoreCard.update`).
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
        Climate-model scaling ranges (%/K): mean 2.1-3.1 (CMIP6 hydrological sensitivity,
        Pendergrass 2020, GRL); extremes [5, 14] (around Clausius-Clapeyron 7 %/K and up to
        2 x CC for hourly convective extremes, Lenderink & van Meijgaard 2008; the lower end
        allows CMIP6 Rx1day sensitivity below CC over part of the globe; SCIENCE.md section 4).
    ci_level : float
        Confidence level of the percentile intervals (0.95: percentiles 2.5 / 97.5).
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


def _intensity_labels(edges) -> list[str]:
    out = []
    for i, e in enumerate(edges):
        out.append(f"[{e:g},{edges[i + 1]:g})" if i + 1 < len(edges) else f">={e:g}")
    return out


@lru_cache(maxsize=8)
def _radial(ny: int, nx: int):
    return K.radial_operator(ny, nx)


_BLAS_CONTROLLER = None


def _one_blas_thread():
    """Context limiting BLAS to one thread (the card's GEMMs are small: replicates x bins, where
    BLAS threading only adds synchronisation, ~10x slower on a loaded machine); parallelism
    belongs to the dask workers that each feed a card. A no-op without threadpoolctl."""
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _scene_sums(si: np.ndarray, vals: np.ndarray, s: int) -> np.ndarray:
    """Per-scene sums ``(s, k)`` of ``vals (k, n)`` over pixels with SORTED scene index ``si``
    (one ``reduceat`` pass instead of k weighted bincounts)."""
    out = np.zeros((s, vals.shape[0]))
    if si.size:
        counts = np.bincount(si, minlength=s)
        nz = counts > 0
        starts = (np.cumsum(counts) - counts)[nz]
        out[nz] = np.add.reduceat(vals, starts, axis=1).T
    return out


def _pinball_counts(y, qT, levels, n0: int = 0):
    """Mean pinball loss per pixel and the counts ``a = #{q < y}``, ``b = #{q <= y}``.

    ``qT`` is levels-first ``(K, n)``; its first ``n0`` columns have ``y = 0``, where (for
    non-negative quantiles) ``rho_tau = (1 - tau) q`` and one matrix-vector product suffices.
    Elsewhere ``sum_k rho_k = sum_k max(q_k - y, 0) - sum_k tau_k (q_k - y)``. Identical to
    :func:`metrics.kernels.pinball` (tested).
    """
    n, k = y.size, levels.size
    ql = np.empty(n)
    a = np.zeros(n, dtype=np.intp)
    b = np.empty(n, dtype=np.intp)
    if n0:
        q0 = qT[:, :n0]
        if q0.min() >= 0:
            ql[:n0] = _weighted_rows(q0, 1.0 - levels) / k
            b[:n0] = _count_rows(q0 == 0)
        else:
            n0 = 0
    d = qT[:, n0:] - y[None, n0:].astype(qT.dtype)
    a[n0:] = _count_rows(d < 0)
    b[n0:] = a[n0:] + _count_rows(d == 0)
    lin = _weighted_rows(d, levels)
    np.maximum(d, 0, out=d)
    ql[n0:] = (d.sum(0, dtype=np.float64) - lin) / k
    return ql, a, b


def _pinball_mean(y, qT, levels) -> np.ndarray:
    """Mean pinball loss per pixel of levels-first quantiles ``qT (K, n)`` (no counts)."""
    d = qT - y[None, :].astype(qT.dtype)
    lin = _weighted_rows(d, levels)
    np.maximum(d, 0, out=d)
    return (d.sum(0, dtype=np.float64) - lin) / levels.size


def _count_rows(mask: np.ndarray) -> np.ndarray:
    """Number of True per column of a boolean ``(K, n)`` array (byte sums: ~3x faster than
    ``count_nonzero(axis=0)``)."""
    return mask.view(np.uint8).sum(0, dtype=np.int32)


def _weighted_rows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_k w_k x[k]`` accumulated row by row in float64: the same arithmetic for every
    column wherever it sits in the chunk (BLAS kernels are not position-invariant in float32),
    so results do not depend on chunking."""
    acc = np.zeros(x.shape[1])
    for k in range(x.shape[0]):
        acc += w[k] * x[k]
    return acc


def _cdf_table(lo: np.ndarray, hi: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``P(U[lo, hi] <= e)`` for interval arrays ``(n,)`` at points ``at`` -> ``(n, E)``."""
    return K.pit_cdf(lo, hi, at)


def _interval_sums(code, lo_of, hi_of, si, s, at, n_codes):
    """Per-scene sums of uniform-interval PIT CDFs for integer interval codes in
    ``[0, n_codes)``: counts per (scene, code) times a table of the codes' CDFs."""
    if code.size == 0:
        return np.zeros((s, at.size))
    if s * n_codes <= 4 * code.size + 65536:  # small code space: direct bincount, no sort
        u = np.arange(n_codes)
        counts = np.bincount(si * n_codes + code, minlength=s * n_codes).reshape(s, n_codes)
    else:
        u, inv = np.unique(code, return_inverse=True)
        counts = np.bincount(si * u.size + inv, minlength=s * u.size).reshape(s, u.size)
    return counts @ _cdf_table(lo_of(u), hi_of(u), at)


def _point_sums(pit, si, s, at):
    """Per-scene sums of ``1{pit <= e}``: histogram on the points, then a cumulative sum."""
    j = np.searchsorted(at, pit, side="left")
    c = np.bincount(si * (at.size + 1) + j, minlength=s * (at.size + 1)).reshape(s, -1)
    return np.cumsum(c, 1)[:, :-1]


def _pit_sums_quantiles(y, qT, levels, a, b, si, s, at):
    """Per-scene sums of ``P(PIT <= e)`` under quantile forecasts (same PIT as
    :func:`metrics.kernels.pit_interval_quantiles`, computed by interval codes)."""
    k = levels.size
    tie = b > a
    inner = (~tie) & (a > 0) & (a < k)
    out = np.zeros((s, at.size))
    ii = np.nonzero(inner)[0]
    if ii.size:
        ai = a[ii]
        q0 = qT[ai - 1, ii]
        q1 = qT[ai, ii]
        f = np.clip((y[ii] - q0) / (q1 - q0), 0.0, 1.0)
        pit = levels[ai - 1] + f * (levels[ai] - levels[ai - 1])
        out += _point_sums(pit, si[ii], s, at)
    jj = np.nonzero(~inner)[0]
    if jj.size:
        aj, bj, tj = a[jj], b[jj], tie[jj]
        lo_i = np.where(tj, np.where(aj == 0, 0, aj + 1), aj)
        hi_i = np.where(tj, np.where(bj == k, k + 1, bj), aj + 1)
        T = np.concatenate([[0.0], levels, [1.0]])
        code = lo_i * (k + 2) + hi_i
        out += _interval_sums(code, lambda u: T[u // (k + 2)], lambda u: T[u % (k + 2)],
                              si[jj], s, at, (k + 2) ** 2)
    return out


def _pit_sums_ensemble(a, b, m, si, s, at):
    """Per-scene sums of ``P(PIT <= e)`` for ensembles: ``U[a/(m+1), (b+1)/(m+1)]``."""
    code = a * (m + 2) + (b + 1)
    return _interval_sums(code, lambda u: (u // (m + 2)) / (m + 1.0),
                          lambda u: (u % (m + 2)) / (m + 1.0), si, s, at, (m + 2) ** 2)


@dataclass
class _Acc:
    """Additive ``(R, ...)`` accumulators of one group."""

    arrays: dict = field(default_factory=dict)

    def add_weighted(self, stats: dict, w: np.ndarray) -> None:
        for name, v in stats.items():
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
        sel = [REGISTRY[m] for m in self.cfg.selected]
        blocks = set()
        for spec in sel:
            blocks.update(spec.statistics)
        if "warming" in blocks:
            blocks.update(("point", "hist"))
        if blocks & {"point", "prob"}:
            blocks.add("intensity")
        self.blocks = frozenset(blocks)
        self.kinds: frozenset | None = None
        self.n_scenes = 0
        self.n_pixels = 0
        self.shape: tuple[int, int] | None = None
        self._head = _Acc()
        self._groups: dict[str, dict[str, _Acc]] = {}
        self._warm: dict[int, _Acc] = {}
        self._blocks: dict[str, np.ndarray] = {}

    # --- configuration-derived ---------------------------------------------------------------

    def _levels(self) -> np.ndarray:
        lv = self.cfg.levels
        return default_levels() if lv is None else lv

    def pit_points(self) -> np.ndarray:
        """Evaluation points of the accumulated PIT CDF."""
        pts = np.concatenate([PIT_EDGES, self._levels(), [0.05, 0.95]])
        return np.unique(np.round(pts, 12))

    # --- update ------------------------------------------------------------------------------

    def update(
        self,
        ref,
        *,
        point=None,
        quantiles=None,
        samples=None,
        scene,
        warming=None,
        block=None,
        groups=None,
    ) -> ScoreCard:
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
            Block label (region x year) of each scene (needed by tail metrics).
        groups : dict of str -> array (s,), optional
            Scene labels for every dim of ``cfg.group_dims``.

        Returns
        -------
        ScoreCard
            ``self``.
        """
        ref = np.asarray(ref)
        if ref.ndim != 3:
            raise BadInputError(f"ref must be (scene, y, x); got shape {ref.shape}")
        s, ny, nx = ref.shape
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
                    f"got {quantiles.shape}"
                )
            kinds.add("quantiles")
        if samples is not None:
            samples = np.asarray(samples)
            if samples.ndim != 4 or samples.shape[0] != s or samples.shape[2:] != (ny, nx):
                raise BadInputError(
                    f"samples must be (scene, member, y, x) with {s} scenes of {ny}x{nx}; " +
                    f"got {samples.shape}"
                )
            kinds.add("samples")
        if point is not None:
            point = np.asarray(point)
            if point.shape != ref.shape:
                raise BadInputError(f"point must have ref's shape {ref.shape}; got {point.shape}")
        kinds = frozenset(kinds)
        if self.kinds is not None and kinds != self.kinds:
            raise BadInputError(
                f"every chunk must carry the same prediction kinds; had {sorted(self.kinds)}, " +
                f"got {sorted(kinds)}"
            )
        scene = np.asarray(scene).ravel()
        if scene.size != s:
            raise BadInputError(f"scene must have {s} ids; got {scene.size}")
        if "spec" in self.blocks:
            if self.shape is not None and self.shape != (ny, nx):
                raise BadInputError(
                    f"all scenes must share one size for spectra; had {self.shape}, got {(ny, nx)}"
                )
        if "warming" in self.blocks:
            if warming is None:
                raise BadInputError("warming (s,) is required by the trend metrics")
            warming = np.asarray(warming, dtype=np.float64).ravel()
            if warming.size != s or not np.all(np.isfinite(warming)):
                raise BadInputError(f"warming must be {s} finite values (K)")
        if "blocks" in self.blocks:
            if block is None:
                raise BadInputError("block (s,) labels are required by the tail metrics")
            block = np.asarray(block).ravel()
            if block.size != s:
                raise BadInputError(f"block must have {s} labels; got {block.size}")
        glabels = {}
        if self.cfg.group_dims:
            groups = groups or {}
            missing = [d for d in self.cfg.group_dims if d not in groups]
            if missing:
                raise BadInputError(
                    f"groups lacks {missing}; pass labels for every CardConfig.group_dims entry " +
                    "or set group_dims=()"
                )
            for d in self.cfg.group_dims:
                lab = np.asarray(groups[d]).ravel()
                if lab.size != s:
                    raise BadInputError(f"groups[{d!r}] must have {s} labels; got {lab.size}")
                glabels[d] = lab
        if s == 0:
            return self

        with _one_blas_thread():
            return self._update(ref, point, quantiles, samples, s, ny, nx, kinds, scene,
                                warming, block, glabels)

    def _update(self, ref, point, quantiles, samples, s, ny, nx, kinds, scene, warming, block,
                glabels):
        stats, smax = self._scene_stats(ref, point, quantiles, samples)
        self.kinds = kinds
        self.shape = (ny, nx)
        self.n_scenes += s
        self.n_pixels += int(stats.pop("_nvalid").sum())

        keys = unit_keys(scene, self.cfg.seed)
        w = poisson_weights(keys, self.cfg.n_boot)
        self._head.add_weighted(stats, w)

        rg = self.cfg.n_boot_groups + 1
        gstats = {k: v for k, v in stats.items() if k in _GROUP_BLOCKS and k != "intensity"}
        for d, lab in glabels.items():
            gd = self._groups.setdefault(d, {})
            for u in np.unique(lab):
                sel = lab == u
                acc = gd.setdefault(str(u), _Acc())
                acc.add_weighted({k: v[sel] for k, v in gstats.items()}, w[sel, :rg])

        if "warming" in self.blocks:
            wb = np.floor(warming / self.cfg.warming_bin_k).astype(np.int64)
            wsc = np.stack([np.ones(s), warming], 1)
            for u in np.unique(wb):
                sel = wb == u
                acc = self._warm.setdefault(int(u), _Acc())
                acc.add_weighted(
                    {
                        "wscene": wsc[sel],
                        "point": stats["point"][sel][:, :3],
                        "hist": stats["hist"][sel][:, :2],
                    },
                    w[sel],
                )
        if "blocks" in self.blocks:
            for u in np.unique(block):
                sel = block == u
                m = smax[sel].max(0)
                key = str(u)
                self._blocks[key] = np.maximum(self._blocks.get(key, m), m)
        return self

    def _scene_stats(self, ref, point, quantiles, samples):
        """Per-scene statistic blocks of one chunk: ``{name: (s, ...)}`` and scene maxima."""
        cfg = self.cfg
        blocks = self.blocks
        s, ny, nx = ref.shape
        npx = ny * nx
        r = ref.reshape(s, npx).astype(np.float64)
        valid = np.isfinite(r)
        has_nan = not bool(valid.all())
        if has_nan:
            r[~valid] = 0.0
        nvalid = valid.sum(1).astype(np.float64)
        out: dict[str, np.ndarray] = {"_nvalid": nvalid}
        levels = self._levels()
        prob = quantiles is not None or samples is not None

        # ---- gather the non-trivial columns (reference or any forecast value non-zero)
        si = pi = None
        qw = xw = qT = None
        p = None
        if quantiles is not None:
            q = quantiles.reshape(s, levels.size, npx)
            # two kinds of non-trivial columns: forecast-only (reference exactly 0, forecast not
            # all 0; first n_dry columns) and reference-wet; all-zero columns are only counted
            rw = r != 0
            fw = np.any(q != 0, axis=1) & ~rw  # reduction over the middle axis: fast
            if has_nan:
                fw &= valid
            s0, p0 = np.nonzero(fw)
            s1, p1 = np.nonzero(rw)
            si, pi = np.concatenate([s0, s1]), np.concatenate([p0, p1])
            n_dry = s0.size
            # levels-first (K, n_wet) layout: per-level rows are contiguous, so reductions over
            # the levels are vectorised (a pixel-first layout is ~2.5x slower); np.compress
            # keeps it C-contiguous (boolean indexing does not)
            parts = [np.compress(fw[i], q[i], axis=1) for i in range(s)]
            parts += [np.compress(rw[i], q[i], axis=1) for i in range(s)]
            # float32 forecasts are scored in float32 per pixel (relative error ~1e-7) and
            # accumulated in float64; anything else in float64
            wdt = np.float32 if quantiles.dtype == np.float32 else np.float64
            qT = np.concatenate(parts, axis=1, dtype=wdt)
            top_w = qT.max(0)
            if point is None:
                p = np.zeros((s, npx))
                p[si, pi] = K.interp_level(qT.T, levels, 0.5)
        elif samples is not None:
            m = samples.shape[1]
            x = samples.reshape(s, m, npx)
            nz = np.any(x != 0, axis=1)
            wet = nz | (r != 0)
            if has_nan:
                wet &= valid
            si, pi = np.nonzero(wet)
            xw = np.sort(x[si, :, pi].astype(np.float64), axis=1)
            qw = K.ensemble_quantiles(xw, levels)
            if point is None:
                p = np.zeros((s, npx))
                p[si, pi] = xw.mean(1)
        if point is not None:
            p = point.reshape(s, npx).astype(np.float64)
            if has_nan:
                p[~valid] = 0.0
        qf = qT if qT is not None else qw
        if not np.all(np.isfinite(p)) or (qf is not None and not np.all(np.isfinite(qf))):
            raise BadInputError(
                "predictions contain NaN or inf; validate them (tailshift score does) first"
            )
        yw = r[si, pi] if si is not None else None
        smax = np.stack([r.max(1), p.max(1)], 1)

        # ---- point sums
        # only pixels where reference or estimate is non-zero contribute to the sums
        us, up = np.nonzero((r != 0) | (p != 0))
        urv, upv = r[us, up], p[us, up]
        if "point" in blocks or "intensity" in blocks:
            d = upv - urv
            ad = np.abs(d)
            big = np.maximum(urv, upv) >= SMAPE_MIN
            den = np.abs(upv) + np.abs(urv)
            sm = np.where(big, 200.0 * ad / np.where(den > 0, den, 1.0), 0.0)
            cols = np.stack([urv, upv, ad, d * d, urv * urv, upv * upv, urv * upv, sm, big])
            pt = np.empty((s, 10))
            pt[:, 0] = nvalid
            pt[:, 1:] = _scene_sums(us, cols, s)
            out["point"] = pt

        # ---- probabilistic per non-trivial pixel
        ql_w = crps_w = None
        if prob and blocks & {"prob", "tw", "pit", "intensity"}:
            if xw is None:
                ql_w, a_w, b_w = _pinball_counts(yw, qT, levels, n_dry)
                crps_w = 2.0 * ql_w
            else:
                ql_w = K.pinball(yw, qw, levels).mean(1)
                crps_w = K.crps_ensemble_fair(yw, xw, sorted_members=True)
                a_w = (xw < yw[:, None]).sum(1)
                b_w = a_w + (xw == yw[:, None]).sum(1)
            pr = np.zeros((s, 3))
            pr[:, 0] = nvalid
            pr[:, 1] = np.bincount(si, ql_w, minlength=s)
            pr[:, 2] = np.bincount(si, crps_w, minlength=s)
            out["prob"] = pr
        if prob and "tw" in blocks:
            tw = np.zeros((s, 3))
            tw[:, 0] = nvalid
            top = top_w if xw is None else xw[:, -1]
            for j, t in enumerate(TW_THRESHOLDS):
                sel = np.nonzero((yw > t) | (top > t))[0]
                if sel.size:
                    if xw is None:  # twCRPS = 2 x mean pinball of max(., t), levels-first
                        v = 2.0 * _pinball_mean(np.maximum(yw[sel], t),
                                                np.maximum(qT[:, sel], qT.dtype.type(t)),
                                                levels)
                    else:
                        v = K.twcrps_ensemble_fair(yw[sel], xw[sel], t, sorted_members=True)
                    tw[:, j + 1] = np.bincount(si[sel], v, minlength=s)
            out["tw"] = tw
        if prob and "pit" in blocks:
            at = self.pit_points()
            pit = np.zeros((s, at.size + 1))
            if xw is None:
                pit[:, :-1] = _pit_sums_quantiles(yw, qT, levels, a_w, b_w, si, s, at)
            else:
                pit[:, :-1] = _pit_sums_ensemble(a_w, b_w, xw.shape[1], si, s, at)
            ntriv = nvalid - np.bincount(si, minlength=s)
            pit[:, :-1] += ntriv[:, None] * at[None, :]  # all-zero columns: PIT ~ U[0, 1]
            pit[:, -1] = nvalid
            out["pit"] = pit

        # ---- intensity bins of the reference
        if "intensity" in blocks:
            edges = np.asarray(cfg.intensity_edges, dtype=np.float64)
            ni = edges.size
            ii = np.zeros((s, ni, 12))
            sr, pr_ = np.nonzero(r >= edges[0])
            if sr.size:
                rv, pv = r[sr, pr_], p[sr, pr_]
                ib = np.searchsorted(edges, rv, side="right") - 1
                key = sr * ni + ib
                dv = pv - rv
                den = np.abs(pv) + np.abs(rv)
                smv = 200.0 * np.abs(dv) / den
                vals = [np.ones_like(rv), rv, pv, np.abs(dv), dv * dv, rv * rv, pv * pv, rv * pv,
                        smv, np.ones_like(rv)]
                for j, v in enumerate(vals):
                    ii[:, :, j] = np.bincount(key, v, minlength=s * ni).reshape(s, ni)
                if ql_w is not None:
                    # every pixel with r >= edges[0] > 0 is a non-trivial column
                    sel = np.nonzero(yw >= edges[0])[0]
                    kw = si[sel] * ni + np.searchsorted(edges, yw[sel], side="right") - 1
                    for j, v in ((10, ql_w), (11, crps_w)):
                        ii[:, :, j] = np.bincount(kw, v[sel], minlength=s * ni).reshape(s, ni)
            out["intensity"] = ii

        # ---- histograms (counts of r, p, min(r, p); value sums of r, p)
        if "hist" in blocks:
            bins = cfg.bins
            nb = bins.nb
            h = np.zeros((s, 5, nb))
            ir, ip = bins.index(urv), bins.index(upv)
            base = us * nb
            # binning is monotone, so bin(min(r, p)) = min(bin(r), bin(p))
            for j, (ix, vals) in enumerate(((ir, urv), (ip, upv), (np.minimum(ir, ip), None))):
                h[:, j] = np.bincount(base + ix, minlength=s * nb).reshape(s, nb)
                if vals is not None:
                    h[:, 3 + j] = np.bincount(base + ix, vals, minlength=s * nb).reshape(s, nb)
                h[:, j, 0] = nvalid - h[:, j, 1:].sum(1)
            out["hist"] = h

        # ---- spatial
        if "spec" in blocks:
            from scipy import fft as sfft

            # single precision is ample for spectra and coherence (and twice as fast)
            M, _ = _radial(ny, nx)
            fr = sfft.rfft2(r.reshape(s, ny, nx).astype(np.float32)).reshape(s, -1)
            fp = sfft.rfft2(p.reshape(s, ny, nx).astype(np.float32)).reshape(s, -1)
            cross = fr * np.conj(fp)
            parts = np.stack([fr.real**2 + fr.imag**2, fp.real**2 + fp.imag**2, cross.real,
                              cross.imag], 1)
            out["spec"] = (parts @ M.astype(np.float32)).astype(np.float64)
        if "fss" in blocks:
            out["fss"] = K.fss_sums(r.reshape(s, ny, nx), p.reshape(s, ny, nx), 10.0,
                                    cfg.fss_size, dtype=np.float32)
        return out, smax

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
        out.shape = self.shape or other.shape
        out.n_scenes = self.n_scenes + other.n_scenes
        out.n_pixels = self.n_pixels + other.n_pixels
        out._head = _Acc.summed(self._head, other._head)
        for d in self._groups.keys() | other._groups.keys():
            ga, gb = self._groups.get(d, {}), other._groups.get(d, {})
            out._groups[d] = {lab: _Acc.summed(ga.get(lab), gb.get(lab))
                              for lab in ga.keys() | gb.keys()}
        for k in self._warm.keys() | other._warm.keys():
            out._warm[k] = _Acc.summed(self._warm.get(k), other._warm.get(k))
        for src in (self, other):
            for lab, m in src._blocks.items():
                out._blocks[lab] = np.maximum(out._blocks.get(lab, m), m)
        return out

    # --- finalize ----------------------------------------------------------------------------

    def available(self, spec) -> bool:
        """Whether ``spec`` can be computed from what this card has seen."""
        return self.kinds is not None and bool(set(spec.needs) & set(self.kinds))

    def finalize(self) -> dict:
        """Reduce to values and CIs; see :mod:`benchmark.results` for the layout.

        Returns
        -------
        dict
            ``{"scores", "groups", "worst_group", "curves", "n_scenes", "n_pixels"}``.
        """
        if self.n_scenes == 0:
            raise BadInputError("no scenes were given to the score card; nothing to score")
        cfg = self.cfg
        specs = [REGISTRY[m] for m in cfg.selected if self.available(REGISTRY[m])]
        head = StatView(self, self._head.arrays, headline=True)
        scores = {}
        for spec in specs:
            vals = head.compute(spec)
            if vals is not None:
                scores[spec.name] = _summarise(vals, spec, cfg.ci_level)

        groups: dict[str, dict[str, dict]] = {}
        gspecs = [sp for sp in specs if sp.groupable]
        for d in cfg.group_dims:
            groups[d] = {}
            for lab in sorted(self._groups.get(d, {})):
                view = StatView(self, self._groups[d][lab].arrays)
                res = {}
                for spec in gspecs:
                    vals = view.compute(spec)
                    if vals is not None:
                        res[spec.name] = _summarise(vals, spec, cfg.ci_level)
                groups[d][lab] = res
        if "intensity" in self.blocks and "intensity" in self._head.arrays:
            ib = {}
            ii = self._head.arrays["intensity"]
            for i, lab in enumerate(_intensity_labels(cfg.intensity_edges)):
                view = StatView(self, _intensity_arrays(ii[:, i], "prob" in self._head.arrays))
                res = {}
                for spec in gspecs:
                    vals = view.compute(spec)
                    if vals is not None:
                        res[spec.name] = _summarise(vals, spec, cfg.ci_level)
                ib[lab] = res
            groups["intensity_bin"] = ib

        worst = {}
        for spec in specs:
            if not spec.ranked or spec.kind == "bool":
                continue
            best = None
            for d, gd in groups.items():
                for lab, res in gd.items():
                    v = res.get(spec.name, {}).get("value")
                    if v is None:
                        continue
                    bad = spec.badness(v)
                    if best is None or bad > best[0]:
                        best = (bad, d, lab, v)
            if best is not None:
                worst[spec.name] = {"dim": best[1], "label": best[2], "value": best[3]}

        return {
            "n_scenes": self.n_scenes,
            "n_pixels": self.n_pixels,
            "scores": scores,
            "groups": groups,
            "worst_group": worst,
            "curves": head.curves(),
        }

    # --- pickling: cached views are not part of the state --------------------------------------

    def __getstate__(self):
        return self.__dict__.copy()


def _same_config(a: CardConfig, b: CardConfig) -> bool:
    return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(CardConfig))


def _intensity_arrays(ii: np.ndarray, has_prob: bool) -> dict:
    arrs = {"point": ii[:, :10]}
    if has_prob:
        arrs["prob"] = np.stack([ii[:, 0], ii[:, 10], ii[:, 11]], 1)
    return arrs


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _summarise(vals: np.ndarray, spec, level: float) -> dict:
    vals = np.asarray(vals, dtype=np.float64)
    if spec.kind == "bool":
        v = vals[0]
        return {"value": None if not np.isfinite(v) else bool(v > 0.5), "ci_low": None,
                "ci_high": None}
    if vals.size > 1:
        lo, hi = percentile_ci(vals, level)
    else:
        lo = hi = float("nan")
    return {"value": _finite(vals[0]), "ci_low": _finite(lo), "ci_high": _finite(hi)}


class StatView:
    """Read-only view of reduced statistics for one group; metric functions read from it.

    Every accessor returns arrays with the replicate axis first.
    """

    def __init__(self, card: ScoreCard, arrays: dict, headline: bool = False):
        self.card = card
        self.cfg = card.cfg
        self.arrays = arrays
        self.headline = headline
        self.bins = card.cfg.bins

    def has(self, block: str) -> bool:
        if block == "blocks":
            return self.headline and len(self.card._blocks) > 0
        if block == "warming":
            return self.headline and len(self.card._warm) > 0
        return block in self.arrays

    def compute(self, spec) -> np.ndarray | None:
        if not all(self.has(b) for b in spec.statistics):
            return None
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return np.asarray(spec.fn(self), dtype=np.float64)

    # ---- blocks
    def a(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @cached_property
    def hist(self) -> np.ndarray:
        return self.arrays["hist"]

    @cached_property
    def cum(self) -> np.ndarray:
        """Cumulative counts of the reference and retrieved histograms, ``(R, 2, nb)``."""
        return np.cumsum(self.hist[:, :2], -1)

    def quantile(self, which: int, p: float, first: bool = False) -> np.ndarray:
        """Quantile ``p`` of the reference (``which=0``) or retrieved (1) field
        (``first``: replicate 0 only)."""
        sl = slice(0, 1) if first else slice(None)
        return self.bins.quantile(self.hist[sl, which], p, self.hist[sl, 3 + which],
                                  cum=self.cum[sl, which])

    @cached_property
    def _tails(self) -> np.ndarray:
        return self.bins.tail_counts(self.hist[:, :3])

    def contingency(self, j) -> tuple[np.ndarray, ...]:
        """Counts ``a, b, c, d`` of the event ``x >= lower[j]`` (j scalar or (R,))."""
        t = self._tails
        j = np.broadcast_to(np.asarray(j), t.shape[:1])
        tj = np.take_along_axis(t, j[:, None, None].repeat(3, 1), 2)[..., 0]
        n = self.hist[:, 0].sum(-1)
        a = tj[:, 2]
        b = tj[:, 1] - a
        c = tj[:, 0] - a
        return a, b, c, n - a - b - c

    # ---- tails (headline): block-bootstrap GEV fits
    @cached_property
    def tails(self) -> dict:
        from metrics.extremes import gev_lmoments, gev_mle, return_level

        labels = sorted(self.card._blocks)
        mx = np.array([self.card._blocks[k] for k in labels])
        w = poisson_weights(unit_keys(labels, self.cfg.seed + 7919), self.cfg.n_boot_tail).T
        fit = gev_lmoments if self.cfg.gev_method == "lmoments" else gev_mle
        pref = fit(mx[:, 0], w)
        pret = fit(mx[:, 1], w)
        periods = np.asarray(self.cfg.return_periods, dtype=np.float64)
        allp = np.union1d(periods, [10.0, 50.0])
        return {
            "params_ref": pref,
            "params_ret": pret,
            "periods": allp,
            "rl_ref": return_level(pref, allp),
            "rl_ret": return_level(pret, allp),
            "n_blocks": len(labels),
        }

    # ---- trends (headline): per-warming-bin statistics
    @cached_property
    def scaling(self) -> dict:
        keys = sorted(self.card._warm)
        ws = np.stack([self.card._warm[k].arrays["wscene"] for k in keys], 1)  # (R, nb, 2)
        pt = np.stack([self.card._warm[k].arrays["point"] for k in keys], 1)  # (R, nb, 3)
        hs = np.stack([self.card._warm[k].arrays["hist"] for k in keys], 1)  # (R, nb, 2, nbins)
        count = ws[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            x = ws[..., 1] / count
            cum = np.cumsum(hs, -1)  # once for both percentiles
            q = self.bins.quantile
            stats = {
                "mean": (pt[..., 1] / pt[..., 0], pt[..., 2] / pt[..., 0]),
                "p99": (q(hs[:, :, 0], 0.99, cum=cum[:, :, 0]),
                        q(hs[:, :, 1], 0.99, cum=cum[:, :, 1])),
                "p999": (q(hs[:, :, 0], 0.999, cum=cum[:, :, 0]),
                         q(hs[:, :, 1], 0.999, cum=cum[:, :, 1])),
            }
        rates = {}
        for name, (sr, sp) in stats.items():
            rates[name] = (K.scaling_rate(x, sr, count), K.scaling_rate(x, sp, count))
        return {"x": x, "stats": stats, "rates": rates}

    # ---- curves (replicate 0)
    def curves(self) -> dict:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return self._curves()

    def _curves(self) -> dict:
        cur: dict = {}
        card = self.card
        if "pit" in self.arrays:
            pit = self.arrays["pit"][0]
            at = card.pit_points()
            n = pit[-1]
            cdf = pit[:-1] / n
            ie = [int(np.argmin(np.abs(at - e))) for e in PIT_EDGES]
            dens = np.diff(cdf[ie]) / np.diff(PIT_EDGES)
            lv = card._levels()
            il = [int(np.argmin(np.abs(at - e))) for e in lv]
            cur["pit"] = {"edges": PIT_EDGES.tolist(), "density": _list(dens)}
            cur["reliability"] = {"levels": lv.tolist(), "observed": _list(cdf[il])}
        if "hist" in self.arrays:
            ps = list(QQ_LEVELS)
            cur["qq"] = {
                "p": ps,
                "reference": _list([self.quantile(0, p, first=True)[0] for p in ps]),
                "retrieved": _list([self.quantile(1, p, first=True)[0] for p in ps]),
            }
        if self.has("blocks"):
            t = self.tails
            per = np.asarray(self.cfg.return_periods, dtype=np.float64)
            idx = [int(np.argmin(np.abs(t["periods"] - p))) for p in per]
            out = {"periods": per.tolist()}
            for key, name in (("rl_ref", "reference"), ("rl_ret", "retrieved")):
                rl = t[key][:, idx]
                cis = [percentile_ci(rl[:, i], self.cfg.ci_level) for i in range(len(idx))]
                out[name] = {
                    "level": _list(rl[0]),
                    "ci_low": _list([c[0] for c in cis]),
                    "ci_high": _list([c[1] for c in cis]),
                }
            cur["return_levels"] = out
        if self.has("warming"):
            sc = self.scaling
            cur["scaling"] = {
                "warming": _list(sc["x"][0]),
                "reference": {k: _list(v[0][0]) for k, v in sc["stats"].items()},
                "retrieved": {k: _list(v[1][0]) for k, v in sc["stats"].items()},
            }
        if "intensity" in self.arrays:
            ii = self.arrays["intensity"][0]
            with np.errstate(invalid="ignore", divide="ignore"):
                by = {
                    "bins": _intensity_labels(self.cfg.intensity_edges),
                    "bias": _list(100.0 * (ii[:, 2] - ii[:, 1]) / ii[:, 1]),
                    "mae": _list(ii[:, 3] / ii[:, 0]),
                    "rmse": _list(np.sqrt(ii[:, 4] / ii[:, 0])),
                }
                if "prob" in self.arrays:
                    by["crps"] = _list(ii[:, 11] / ii[:, 0])
                    by["quantile_loss"] = _list(ii[:, 10] / ii[:, 0])
            cur["by_intensity"] = by
        return cur


def _list(v) -> list:
    return [_finite(x) for x in np.asarray(v, dtype=np.float64).ravel()]


def gap(id_scores: dict, ood_scores: dict, level: float = 0.95) -> dict:
    """Generalisation gap OOD - ID per metric, with a normal-approximation interval.

    ``value = v_ood - v_id``. The ID and OOD test sets hold different scenes, so the two
    estimates are treated as independent: each percentile CI is turned into a standard error
    ``se = (ci_high - ci_low) / (2 z)`` (``z = 1.96`` for 95 %), and the gap's CI is
    ``value +- z sqrt(se_id^2 + se_ood^2)``. CIs are ``None`` when either side lacks one;
    boolean metrics and metrics missing on one side are skipped.

    Parameters
    ----------
    id_scores, ood_scores : dict
        ``{metric: {"value", "ci_low", "ci_high"}}`` (the ``"scores"`` of two finalised cards).
    """
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
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
