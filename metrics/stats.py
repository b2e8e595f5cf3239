"""Per-scene statistic blocks of one chunk, by name: the score card's only input.

Every block is a ``(s, ...)`` array of per-scene sums, additive over scenes, so the card can
weight it by bootstrap replicates and add it up (:mod:`tailshift.metrics.scorecard`). Column names are part of
the block (:data:`COLUMNS`); metric reducers read columns by name (``view.col("point",
"sum_r")``), never by position.

One small function per block, each from a :class:`Chunk` (the chunk's arrays gathered once):

``point``      :data:`POINT` sums of the point estimate ``p`` against the reference ``r``
``intensity``  (n_int, :data:`INTENSITY`) the point sums plus quantile loss and CRPS per
               reference-intensity bin
``prob``       :data:`PROB` quantile loss and CRPS (exact for quantile forecasts, the
               empirical distribution's for ensembles: :func:`tailshift.metrics.kernels.quantile_scores_lf`,
               :func:`tailshift.metrics.kernels.crps_ensemble`)
``tw``         :data:`TW` exact twCRPS at 10 and 50 mm/h
``pit``        sums of ``P(PIT <= e)`` at the card's evaluation points, then n
``hist``       (5, nb) fine log histograms: counts of r, p, min(r, p); value sums of r, p
``joint``      sparse counts of (bin r, bin p) over pixels with both >= 0.1 mm/h, on coarse log
               bins (:data:`JOINT_BINS`): the joint tail the frequency-bias-corrected SEDI needs
``wet``        (2, nb_t) histograms of wet (>= 0.1 mm/h) pixels of r and p on
               :data:`TREND_BINS` (trend cells and annual series)
``spec``       (4, nk) radially binned |R|^2, |P|^2, Re/Im(R P*) (2-D FFT per scene)
``fss``        :data:`FSS` fractions skill score sums
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tailshift.errors import BadInputError
from tailshift.metrics import kernels as K
from tailshift.metrics.bins import LogBins

#: SMAPE is averaged over pixels where max(ref, retrieved) >= this (mm/h): SatRain's lowest
#: detection threshold (0.1 mm/h, SatRain, Sci. Data 2026), so dry/dry pixels do not dilute it.
SMAPE_MIN = 0.1
#: Wet-pixel threshold (mm/h) of the conditional intensity percentiles: the 0.1 mm/h wet-hour
#: threshold of Lenderink & van Meijgaard (2008, Nat. Geosci. 1:511).
WET_MIN = 0.1
#: Heavy-rain thresholds (mm/h) of the twCRPS.
TW_THRESHOLDS = (10.0, 50.0)

POINT = ("n", "sum_r", "sum_p", "sum_abs_err", "sum_sq_err", "sum_rr", "sum_pp", "sum_rp",
         "sum_smape", "n_smape")
INTENSITY = (*POINT, "sum_ql", "sum_crps")
PROB = ("n", "sum_ql", "sum_crps", "sum_crps_fair")
TW = ("n", "sum_tw10", "sum_tw50")
FSS = ("sum_diff2", "sum_ref2")
SPEC = ("rr", "pp", "rp_re", "rp_im")
HIST = ("count_r", "count_p", "count_min", "sum_r", "sum_p")
#: Column names of every named block.
COLUMNS = {"point": POINT, "intensity": INTENSITY, "prob": PROB, "tw": TW, "fss": FSS,
           "spec": SPEC, "hist": HIST}

#: Coarse bins of the joint (r, p) histogram: 20 per decade from 0.1 to 1000 mm/h (12 % wide;
#: joint counts at thresholds inside a bin are interpolated log-linearly).
JOINT_BINS = LogBins(lo=WET_MIN, hi=1e3, bins_per_decade=20)
#: Bins of the wet-pixel histograms of the trend cells: 100 per decade from 0.1 mm/h. At 50
#: per decade the quantisation of sparse per-cell tails moved the P99.9 rate of a retrieval
#: that is the reference x 0.9 by 0.8 %/K; at 100 the error is <= 0.1 %/K (tested).
TREND_BINS = LogBins(lo=WET_MIN, hi=1e3, bins_per_decade=100)


def col(block: str, name: str) -> int:
    """Position of column ``name`` in the last axis of ``block``."""
    return COLUMNS[block].index(name)


def joint_size() -> int:
    """Cells of the joint histogram: (log bins + overflow)^2."""
    m = JOINT_BINS.nb - 2
    return m * m


@lru_cache(maxsize=8)
def radial(ny: int, nx: int):
    """Cached :func:`tailshift.metrics.kernels.radial_operator`."""
    return K.radial_operator(ny, nx)


def scene_sums(si: np.ndarray, vals: np.ndarray, s: int) -> np.ndarray:
    """Per-scene sums ``(s, k)`` of ``vals (k, n)`` over pixels with SORTED scene index ``si``."""
    out = np.zeros((s, vals.shape[0]))
    if si.size:
        counts = np.bincount(si, minlength=s)
        nz = counts > 0
        starts = (np.cumsum(counts) - counts)[nz]
        out[nz] = np.add.reduceat(vals, starts, axis=1).T
    return out


@dataclass
class Chunk:
    """The arrays of one chunk, gathered once for every block.

    ``r``/``p`` ``(s, npx)`` float64 reference and point estimate (NaN reference pixels set to 0
    in both); ``nvalid (s,)``; ``si``/``pi`` scene and pixel index of the non-trivial columns
    (reference or forecast non-zero), the first ``n_dry`` of them with reference 0; ``yw`` the
    reference there; ``qT (K, n)`` levels-first quantiles or ``xw (n, m)`` sorted members.
    """

    s: int
    ny: int
    nx: int
    r: np.ndarray
    p: np.ndarray
    nvalid: np.ndarray
    levels: np.ndarray
    si: np.ndarray | None = None
    pi: np.ndarray | None = None
    n_dry: int = 0
    yw: np.ndarray | None = None
    qT: np.ndarray | None = None
    xw: np.ndarray | None = None
    qw: np.ndarray | None = None

    @property
    def prob(self) -> bool:
        return self.qT is not None or self.xw is not None

    @property
    def top(self) -> np.ndarray:
        """Largest forecast value of every non-trivial column."""
        return self.qT.max(0) if self.qT is not None else self.xw[:, -1]


def gather(ref, point, quantiles, samples, levels) -> Chunk:
    """Gather the chunk (see :class:`Chunk`); forecasts must be finite (checked here)."""

    s, ny, nx = ref.shape
    npx = ny * nx
    r = ref.reshape(s, npx).astype(np.float64)
    valid = np.isfinite(r)
    has_nan = not bool(valid.all())
    if has_nan:
        r[~valid] = 0.0
    ch = Chunk(s, ny, nx, r, None, valid.sum(1).astype(np.float64), levels)
    p = None
    if quantiles is not None:
        q = quantiles.reshape(s, levels.size, npx)
        rw = r != 0
        fw = np.any(q != 0, axis=1) & ~rw
        if has_nan:
            fw &= valid
        s0, p0 = np.nonzero(fw)
        s1, p1 = np.nonzero(rw)
        ch.si, ch.pi = np.concatenate([s0, s1]), np.concatenate([p0, p1])
        ch.n_dry = s0.size
        parts = [np.compress(fw[i], q[i], axis=1) for i in range(s)]
        parts += [np.compress(rw[i], q[i], axis=1) for i in range(s)]
        # float32 forecasts are scored in float32 per pixel and accumulated in float64
        wdt = np.float32 if quantiles.dtype == np.float32 else np.float64
        ch.qT = np.concatenate(parts, axis=1, dtype=wdt)
        if point is None:
            p = np.zeros((s, npx))
            p[ch.si, ch.pi] = K.interp_level(ch.qT.T, levels, 0.5)
    elif samples is not None:
        m = samples.shape[1]
        x = samples.reshape(s, m, npx)
        wet = np.any(x != 0, axis=1) | (r != 0)
        if has_nan:
            wet &= valid
        ch.si, ch.pi = np.nonzero(wet)
        ch.xw = np.sort(x[ch.si, :, ch.pi].astype(np.float64), axis=1)
        ch.qw = K.ensemble_quantiles(ch.xw, levels)
        if point is None:
            p = np.zeros((s, npx))
            p[ch.si, ch.pi] = ch.xw.mean(1)
    if point is not None:
        p = point.reshape(s, npx).astype(np.float64)
        if has_nan:
            p[~valid] = 0.0
    qf = ch.qT if ch.qT is not None else ch.qw
    if not np.all(np.isfinite(p)) or (qf is not None and not np.all(np.isfinite(qf))):
        raise BadInputError(
            "predictions contain NaN or inf; validate them (tailshift score does) first"
        )
    ch.p = p
    if ch.si is not None:
        ch.yw = r[ch.si, ch.pi]
    return ch


def scene_maxima(ch: Chunk) -> np.ndarray:
    """``(s, 2)`` maxima of the reference and of the point estimate per scene."""
    return np.stack([ch.r.max(1), ch.p.max(1)], 1)


def _nonzero(ch: Chunk):
    us, up = np.nonzero((ch.r != 0) | (ch.p != 0))
    return us, ch.r[us, up], ch.p[us, up]


def point_block(ch: Chunk) -> np.ndarray:
    """:data:`POINT` per scene (only pixels where r or p is non-zero add to the sums)."""
    us, urv, upv = _nonzero(ch)
    d = upv - urv
    ad = np.abs(d)
    big = np.maximum(urv, upv) >= SMAPE_MIN
    den = np.abs(upv) + np.abs(urv)
    sm = np.where(big, 200.0 * ad / np.where(den > 0, den, 1.0), 0.0)
    out = np.empty((ch.s, len(POINT)))
    out[:, 0] = ch.nvalid
    out[:, 1:] = scene_sums(us, np.stack([urv, upv, ad, d * d, urv * urv, upv * upv, urv * upv,
                                          sm, big]), ch.s)
    return out


@dataclass
class PixelScores:
    """Per non-trivial pixel: quantile loss, CRPS and the counts ``a = #{q < y}``,
    ``b = #{q <= y}`` (for the PIT)."""

    ql: np.ndarray
    crps: np.ndarray
    a: np.ndarray
    b: np.ndarray
    crps_fair: np.ndarray | None = None


def pixel_scores(ch: Chunk) -> PixelScores:
    """Exact CRPS of quantile forecasts, the CRPS of an ensemble's empirical distribution,
    and the pinball loss."""
    if ch.xw is None:
        return PixelScores(*K.quantile_scores_lf(ch.yw, ch.qT, ch.levels, ch.n_dry))
    a = (ch.xw < ch.yw[:, None]).sum(1)
    return PixelScores(
        K.pinball(ch.yw, ch.qw, ch.levels).mean(1),
        K.crps_ensemble(ch.yw, ch.xw, sorted_members=True),
        a,
        a + (ch.xw == ch.yw[:, None]).sum(1),
        K.crps_ensemble(ch.yw, ch.xw, sorted_members=True, fair=True),
    )


def prob_block(ch: Chunk, ps: PixelScores) -> np.ndarray:
    """:data:`PROB` per scene (all-zero columns contribute 0 and are only counted)."""
    out = np.zeros((ch.s, len(PROB)))
    out[:, 0] = ch.nvalid
    out[:, 1] = np.bincount(ch.si, ps.ql, minlength=ch.s)
    out[:, 2] = np.bincount(ch.si, ps.crps, minlength=ch.s)
    if ps.crps_fair is not None:
        out[:, 3] = np.bincount(ch.si, ps.crps_fair, minlength=ch.s)
    return out


def tw_block(ch: Chunk) -> np.ndarray:
    """:data:`TW` per scene: exact twCRPS (quantiles) or the ensemble's empirical twCRPS."""
    out = np.zeros((ch.s, len(TW)))
    out[:, 0] = ch.nvalid
    top = ch.top
    for j, t in enumerate(TW_THRESHOLDS):
        sel = np.nonzero((ch.yw > t) | (top > t))[0]
        if sel.size:
            if ch.xw is None:
                v = K.twcrps_quantiles_lf(ch.yw[sel], ch.qT[:, sel], ch.levels, t)
            else:
                v = K.twcrps_ensemble(ch.yw[sel], ch.xw[sel], t, sorted_members=True)
            out[:, j + 1] = np.bincount(ch.si[sel], v, minlength=ch.s)
    return out


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
    return counts @ K.pit_cdf(lo_of(u), hi_of(u), at)


def _point_sums(pit, si, s, at):
    """Per-scene sums of ``1{pit <= e}``: histogram on the points, then a cumulative sum."""
    j = np.searchsorted(at, pit, side="left")
    c = np.bincount(si * (at.size + 1) + j, minlength=s * (at.size + 1)).reshape(s, -1)
    return np.cumsum(c, 1)[:, :-1]


def _pit_quantiles(ch: Chunk, ps: PixelScores, at: np.ndarray) -> np.ndarray:
    """Same PIT as :func:`tailshift.metrics.kernels.pit_interval_quantiles` (flat-ended distribution),
    by interval codes: interpolated inside the knots, 0 below ``q_1``, 1 above ``q_K``,
    uniform over the atom's probabilities at ties."""
    levels, qT, y, si, s = ch.levels, ch.qT, ch.yw, ch.si, ch.s
    k = levels.size
    a, b = ps.a, ps.b
    tie = b > a
    inner = (~tie) & (a > 0) & (a < k)
    out = np.zeros((s, at.size))
    ii = np.nonzero(inner)[0]
    if ii.size:
        ai = a[ii]
        q0 = qT[ai - 1, ii]
        q1 = qT[ai, ii]
        f = np.clip((y[ii] - q0) / (q1 - q0), 0.0, 1.0)
        out += _point_sums(levels[ai - 1] + f * (levels[ai] - levels[ai - 1]), si[ii], s, at)
    jj = np.nonzero(~inner)[0]
    if jj.size:
        aj, bj, tj = a[jj], b[jj], tie[jj]
        outside = np.where(aj == 0, 0, k + 1)
        lo_i = np.where(tj, np.where(aj == 0, 0, aj + 1), outside)
        hi_i = np.where(tj, np.where(bj == k, k + 1, bj), outside)
        T = np.concatenate([[0.0], levels, [1.0]])
        code = lo_i * (k + 2) + hi_i
        out += _interval_sums(code, lambda u: T[u // (k + 2)], lambda u: T[u % (k + 2)],
                              si[jj], s, at, (k + 2) ** 2)
    return out


def pit_block(ch: Chunk, ps: PixelScores, at: np.ndarray) -> np.ndarray:
    """``(s, E + 1)``: sums of ``P(PIT <= e)`` at points ``at``, then the pixel count.

    Ensembles: ``U[a/(m+1), (b+1)/(m+1)]`` (Hamill 2001). All-zero columns of a dry pixel
    are uniform on [0, 1] (randomised PIT of the atom at 0; Czado et al. 2009)."""
    out = np.zeros((ch.s, at.size + 1))
    if ch.xw is None:
        out[:, :-1] = _pit_quantiles(ch, ps, at)
    else:
        m = ch.xw.shape[1]
        code = ps.a * (m + 2) + (ps.b + 1)
        out[:, :-1] = _interval_sums(code, lambda u: (u // (m + 2)) / (m + 1.0),
                                     lambda u: (u % (m + 2)) / (m + 1.0), ch.si, ch.s, at,
                                     (m + 2) ** 2)
    ntriv = ch.nvalid - np.bincount(ch.si, minlength=ch.s)
    out[:, :-1] += ntriv[:, None] * at[None, :]
    out[:, -1] = ch.nvalid
    return out


def intensity_block(ch: Chunk, edges: np.ndarray, ps: PixelScores | None) -> np.ndarray:
    """``(s, n_int, INTENSITY)``: point sums, quantile loss and CRPS per reference-intensity bin
    (lower ``edges`` in mm/h, the last bin open)."""
    s, ni = ch.s, edges.size
    out = np.zeros((s, ni, len(INTENSITY)))
    sr, pr_ = np.nonzero(ch.r >= edges[0])
    if not sr.size:
        return out
    rv, pv = ch.r[sr, pr_], ch.p[sr, pr_]
    key = sr * ni + np.searchsorted(edges, rv, side="right") - 1
    dv = pv - rv
    smv = 200.0 * np.abs(dv) / (np.abs(pv) + np.abs(rv))
    vals = [np.ones_like(rv), rv, pv, np.abs(dv), dv * dv, rv * rv, pv * pv, rv * pv, smv,
            np.ones_like(rv)]
    for j, v in enumerate(vals):
        out[:, :, j] = np.bincount(key, v, minlength=s * ni).reshape(s, ni)
    if ps is not None:
        sel = np.nonzero(ch.yw >= edges[0])[0]  # r >= edges[0] > 0: a non-trivial column
        kw = ch.si[sel] * ni + np.searchsorted(edges, ch.yw[sel], side="right") - 1
        for name, v in (("sum_ql", ps.ql), ("sum_crps", ps.crps)):
            out[:, :, col("intensity", name)] = np.bincount(
                kw, v[sel], minlength=s * ni).reshape(s, ni)
    return out


def hist_block(ch: Chunk, bins: LogBins) -> np.ndarray:
    """:data:`HIST` ``(s, 5, nb)``. Binning is monotone, so ``bin(min(r, p)) = min(bin(r),
    bin(p))`` and ``count(min(r, p) >= t)`` gives the hits at any threshold ``t``."""
    us, urv, upv = _nonzero(ch)
    nb = bins.nb
    h = np.zeros((ch.s, 5, nb))
    ir, ip = bins.index(urv), bins.index(upv)
    base = us * nb
    for j, (ix, vals) in enumerate(((ir, urv), (ip, upv), (np.minimum(ir, ip), None))):
        h[:, j] = np.bincount(base + ix, minlength=ch.s * nb).reshape(ch.s, nb)
        if vals is not None:
            h[:, 3 + j] = np.bincount(base + ix, vals, minlength=ch.s * nb).reshape(ch.s, nb)
        h[:, j, 0] = ch.nvalid - h[:, j, 1:].sum(1)
    return h


def joint_block(ch: Chunk):
    """Sparse ``(s, cells)`` counts of (bin r, bin p) over pixels with r, p >= 0.1 mm/h
    (a ``scipy.sparse`` CSR matrix; the card multiplies it by the replicate weights)."""
    from scipy import sparse

    m = JOINT_BINS.nb - 2
    ss, pp = np.nonzero((ch.r >= WET_MIN) & (ch.p >= WET_MIN))
    ir = JOINT_BINS.index(ch.r[ss, pp]) - 2
    ip = JOINT_BINS.index(ch.p[ss, pp]) - 2
    key, counts = np.unique(ss * (m * m) + ir * m + ip, return_counts=True)
    return sparse.csr_matrix((counts.astype(np.float64), (key // (m * m), key % (m * m))),
                             shape=(ch.s, m * m))


def wet_block(ch: Chunk) -> np.ndarray:
    """``(s, 2, nb_t)`` histograms of wet pixels (>= 0.1 mm/h) of r and p on TREND_BINS."""
    nb = TREND_BINS.nb
    out = np.zeros((ch.s, 2, nb))
    for j, x in enumerate((ch.r, ch.p)):
        ss, pp = np.nonzero(x >= WET_MIN)
        idx = TREND_BINS.index(x[ss, pp])
        out[:, j] = np.bincount(ss * nb + idx, minlength=ch.s * nb).reshape(ch.s, nb)
    return out


def spec_block(ch: Chunk) -> np.ndarray:
    """:data:`SPEC` ``(s, 4, nk)`` radially binned power and cross spectra (float32 FFTs:
    ample for spectra and coherence, and twice as fast)."""
    from scipy import fft as sfft

    M, _ = radial(ch.ny, ch.nx)
    shape = (ch.s, ch.ny, ch.nx)
    fr = sfft.rfft2(ch.r.reshape(shape).astype(np.float32)).reshape(ch.s, -1)
    fp = sfft.rfft2(ch.p.reshape(shape).astype(np.float32)).reshape(ch.s, -1)
    cross = fr * np.conj(fp)
    parts = np.stack([fr.real**2 + fr.imag**2, fp.real**2 + fp.imag**2, cross.real,
                      cross.imag], 1)
    return (parts @ M.astype(np.float32)).astype(np.float64)


def fss_block(ch: Chunk, size: int) -> np.ndarray:
    """:data:`FSS` per scene for rain >= 10 mm/h in ``size`` x ``size`` windows."""
    shape = (ch.s, ch.ny, ch.nx)
    return K.fss_sums(ch.r.reshape(shape), ch.p.reshape(shape), 10.0, size, dtype=np.float32)
