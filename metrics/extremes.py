"""GEV fits of block maxima: L-moments (default, vectorised over bootstrap replicates) and MLE.

Shape convention: ``xi`` is the extreme-value shape (``xi > 0`` heavy tail, Frechet); Hosking's
``k`` and scipy's ``genextreme`` shape ``c`` are ``-xi`` (docs/protocol.md).

L-moment estimator (Hosking 1990, JRSS-B 52:105; Hosking & Wallis 1997, eq. A.53-A.56)::

    t3 = l3 / l2,  z = 2 / (3 + t3) - ln 2 / ln 3,  k = 7.8590 z + 2.9554 z^2
    scale = l2 k / ((1 - 2^-k) Gamma(1 + k)),  loc = l1 - scale (1 - Gamma(1 + k)) / k

(the rational approximation of k has absolute error < 9e-4 for -0.5 <= k <= 0.5).
Return level for a return period of ``T`` blocks: ``y = -ln(1 - 1/T)``,
``x_T = loc + scale (1 - y^k) / k`` (Gumbel limit ``loc - scale ln y``).

Bootstrap: block maxima are resampled with Poisson(1) weights per block (see
:mod:`tailshift.metrics.bootstrap`); with integer weights the sample is the block maxima repeated ``w``
times, and the unbiased probability-weighted moments of that expanded sample are computed in
closed form from cumulative weights (hockey-stick identity), without expanding:
``b_r = (1/N) sum_i x_(i) [C(c_i, r+1) - C(c_{i-1}, r+1)] / C(N-1, r)`` with ``c_i`` the
cumulative weight of the sorted maxima.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gamma as _gamma

EULER = 0.5772156649015329


def _c2(n):
    return n * (n - 1.0) / 2.0


def _c3(n):
    return n * (n - 1.0) * (n - 2.0) / 6.0


def weighted_lmoments(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """First three sample L-moments of ``x (n,)`` under integer weights ``w (..., n)``.

    Returns ``(..., 3)``: ``l1, l2, l3``; NaN where the weighted sample has fewer than 3 values.
    """
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    if w is None:
        w = np.ones_like(xs)
    else:
        w = np.asarray(w, dtype=np.float64)[..., order]
    c = np.cumsum(w, -1)
    cprev = c - w
    n = c[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        b0 = (xs * w).sum(-1) / n[..., 0]
        b1 = (xs * (_c2(c) - _c2(cprev))).sum(-1) / (n[..., 0] * (n[..., 0] - 1.0))
        b2 = (xs * (_c3(c) - _c3(cprev))).sum(-1) / (n[..., 0] * _c2(n[..., 0] - 1.0))
    l1 = b0
    l2 = 2 * b1 - b0
    l3 = 6 * b2 - 6 * b1 + b0
    out = np.stack([l1, l2, l3], -1)
    return np.where((n >= 3), out, np.nan)


def gev_from_lmoments(lm: np.ndarray) -> np.ndarray:
    """GEV parameters ``(..., 3)`` = ``(xi, loc, scale)`` from L-moments ``(..., 3)``."""
    l1, l2, l3 = lm[..., 0], lm[..., 1], lm[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        t3 = l3 / l2
        z = 2.0 / (3.0 + t3) - math.log(2.0) / math.log(3.0)
        k = 7.8590 * z + 2.9554 * z**2
        small = np.abs(k) < 1e-6
        ks = np.where(small, 1.0, k)
        g = _gamma(1.0 + ks)
        scale = np.where(small, l2 / math.log(2.0), l2 * ks / ((1.0 - 2.0 ** (-ks)) * g))
        loc = np.where(small, l1 - EULER * scale, l1 - scale * (1.0 - g) / ks)
    bad = ~(l2 > 0)
    out = np.stack([-k, loc, scale], -1)
    return np.where(bad[..., None], np.nan, out)


def return_level(params: np.ndarray, periods) -> np.ndarray:
    """Return levels ``(..., n_periods)`` for return periods in blocks (``T > 1``)."""
    xi, loc, scale = params[..., 0:1], params[..., 1:2], params[..., 2:3]
    y = -np.log1p(-1.0 / np.asarray(periods, dtype=np.float64))
    k = -xi
    small = np.abs(k) < 1e-6
    ks = np.where(small, 1.0, k)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        gen = loc + scale * (1.0 - y**ks) / ks
        gum = loc - scale * np.log(y)
    return np.where(small, gum, gen)


def gev_lmoments(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """GEV ``(xi, loc, scale)`` by L-moments, vectorised over weight replicates ``w (..., n)``."""
    return gev_from_lmoments(weighted_lmoments(x, w))


def gev_mle(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """GEV ``(xi, loc, scale)`` by maximum likelihood (``scipy.stats.genextreme.fit``).

    Started from the L-moment estimate (MLE needs good starting values, docs/protocol.md).
    ``w (R, n)`` integer weights repeat the maxima; a loop over replicates (slow: ~10 ms each).
    """
    from scipy.stats import genextreme

    x = np.asarray(x, dtype=np.float64)
    ws = np.ones((1, x.size)) if w is None else np.atleast_2d(np.asarray(w))
    out = np.full((ws.shape[0], 3), np.nan)
    for i, wi in enumerate(ws):
        xi_ = np.repeat(x, wi.astype(int))
        if xi_.size < 3 or np.ptp(xi_) <= 0:
            continue
        start = gev_lmoments(xi_)
        if not np.all(np.isfinite(start)):
            continue
        try:
            c, loc, scale = genextreme.fit(xi_, -start[0], loc=start[1], scale=start[2])
        except Exception:  # noqa: BLE001 - an MLE that fails to converge is a NaN replicate
            continue
        out[i] = (-c, loc, scale)
    return out if w is not None and np.ndim(w) == 2 else out[0]


# --------------------------------------------------------------------------------------------
# Block maxima, index-flood standardisation, goodness of fit
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BlockMaxima:
    """Block maxima of reference and retrieval, one row per kept block.

    Attributes
    ----------
    labels : ndarray (m,)
        Sorted unique block labels that were kept.
    maxima : ndarray (m, 2) float64
        Block maximum of the reference (column 0) and of the retrieval (column 1).
    n_scenes : ndarray (m,) int
        Number of scenes in each kept block.
    group : ndarray (m,)
        Regime of each block: the most frequent group label among its scenes (ties broken by
        sorted order of the labels).
    n_dropped : int
        Number of blocks dropped for having fewer than ``min_scenes`` scenes.
    """

    labels: np.ndarray
    maxima: np.ndarray
    n_scenes: np.ndarray
    group: np.ndarray
    n_dropped: int


def block_maxima(scene_max, block, group, min_scenes: int) -> BlockMaxima:
    """Maxima over blocks (e.g. region-years) of per-scene maxima.

    The block-maxima approach (Coles 2001, *An Introduction to Statistical Modeling of Extreme
    Values*, ch. 3) fits a GEV to the maximum over blocks of equal, sufficiently large size;
    blocks with too few scenes are dropped because their maxima are biased low.

    Parameters
    ----------
    scene_max : array_like (n, 2)
        Per-scene maximum of the reference (column 0) and of the retrieval (column 1).
        NaN scene maxima are ignored (``fmax``); a block whose scenes are all NaN gets NaN.
    block : array_like (n,)
        Block label of each scene (e.g. ``"r3-2041"``, region-year).
    group : array_like (n,)
        Group (regime) label of each scene.
    min_scenes : int
        Blocks with fewer scenes than this are dropped.

    Returns
    -------
    BlockMaxima
    """
    sm = np.asarray(scene_max, dtype=np.float64).reshape(-1, 2)
    block = np.asarray(block)
    group = np.asarray(group)
    if not (sm.shape[0] == block.shape[0] == group.shape[0]):
        raise ValueError("scene_max, block and group must have the same length")
    if sm.shape[0] == 0:
        return BlockMaxima(block[:0], np.empty((0, 2)), np.empty(0, dtype=np.int64), group[:0], 0)
    labels, bi = np.unique(block, return_inverse=True)
    glabels, gi = np.unique(group, return_inverse=True)
    bi, gi = bi.ravel(), gi.ravel()
    nb = labels.size
    order = np.argsort(bi, kind="stable")
    counts = np.bincount(bi, minlength=nb)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    maxima = np.fmax.reduceat(sm[order], starts, axis=0)
    # modal group per block: count (block, group) pairs, take the largest count, then the
    # smallest group code (= first in sorted order)
    pair, pair_n = np.unique(bi * glabels.size + gi, return_counts=True)
    pb, pg = pair // glabels.size, pair % glabels.size
    o = np.lexsort((pg, -pair_n, pb))
    first = np.concatenate([[True], pb[o][1:] != pb[o][:-1]])
    mode = np.empty(nb, dtype=np.int64)
    mode[pb[o][first]] = pg[o][first]
    keep = counts >= min_scenes
    return BlockMaxima(
        labels=labels[keep],
        maxima=maxima[keep],
        n_scenes=counts[keep].astype(np.int64),
        group=glabels[mode[keep]],
        n_dropped=int((~keep).sum()),
    )


def standardise_by_group(maxima, group):
    """Index-flood standardisation: divide block maxima by the median reference maximum of
    their group.

    Pooling blocks of regimes whose median maxima differ by an order of magnitude breaks the
    identically-distributed assumption of the GEV (the pooled sample is a mixture, not a GEV).
    The index-flood method (Dalrymple 1960, *Flood-Frequency Analyses*, USGS Water-Supply Paper
    1543-A; Hosking & Wallis 1997, *Regional Frequency Analysis*, ch. 1) rescales each site by
    its own index value so that the rescaled samples share one growth curve. Here the "site" is
    the group (regime) and the index value is the median of the reference block maxima; both
    reference and retrieval are divided by the same index, so their ratio is unchanged.

    Parameters
    ----------
    maxima : array_like (m, 2)
        Block maxima, reference in column 0, retrieval in column 1.
    group : array_like (m,)
        Group label of each block.

    Returns
    -------
    standardised : ndarray (m, 2)
        ``maxima / index`` of the block's group; NaN rows for dropped blocks.
    scale : dict
        Group label -> index value (median reference maximum), for the kept groups only.
    keep : ndarray (m,) bool
        False for blocks whose group has a reference median that is not ``> 0`` (or NaN).
    """
    mx = np.asarray(maxima, dtype=np.float64).reshape(-1, 2)
    group = np.asarray(group)
    glabels, gi = np.unique(group, return_inverse=True)
    gi = gi.ravel()
    index = np.full(glabels.size, np.nan)
    for j in range(glabels.size):
        ref = mx[gi == j, 0]
        ref = ref[np.isfinite(ref)]
        if ref.size:
            index[j] = np.median(ref)
    ok = index > 0
    keep = ok[gi] if gi.size else np.zeros(0, dtype=bool)
    out = np.full_like(mx, np.nan)
    out[keep] = mx[keep] / index[gi[keep], None]
    scale = {glabels[j].item() if hasattr(glabels[j], "item") else glabels[j]: float(index[j])
             for j in np.flatnonzero(ok)}
    return out, scale, keep


def _gev_sample(x, params):
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    xi, loc, scale = (float(v) for v in np.asarray(params, dtype=np.float64)[:3])
    ok = x.size >= 3 and np.isfinite([xi, loc, scale]).all() and scale > 0
    return x, xi, loc, scale, ok


def gev_ks(x, params) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic and p-value of ``x`` against a fitted GEV.

    Uses ``scipy.stats.kstest`` against ``genextreme(c=-xi, loc, scale)``. Because the
    parameters were estimated from the same sample, the null distribution of the statistic is
    shifted towards smaller values and the p-value is optimistic (too large) (Stephens 1974,
    JASA 69:730, "EDF statistics for goodness of fit and some comparisons"). Report it as a
    goodness-of-fit figure, not as a formal test.

    Parameters
    ----------
    x : array_like (n,)
        Sample (non-finite values are ignored).
    params : array_like (3,)
        ``(xi, loc, scale)``, ``xi > 0`` heavy tail.

    Returns
    -------
    (statistic, pvalue) : tuple of float
        NaN when fewer than 3 finite values or invalid parameters.
    """
    from scipy.stats import genextreme, kstest

    x, xi, loc, scale, ok = _gev_sample(x, params)
    if not ok:
        return float("nan"), float("nan")
    res = kstest(x, genextreme(-xi, loc=loc, scale=scale).cdf)
    return float(res.statistic), float(res.pvalue)


def gev_ppcc(x, params) -> float:
    """Probability-plot correlation coefficient of ``x`` against a fitted GEV.

    Pearson correlation between the sorted sample and the GEV quantiles at the Gringorten
    plotting positions ``(i - 0.44) / (n + 0.12)``, ``i = 1..n`` (Gringorten 1963, JGR
    68:813; PPCC tests: Vogel 1986, WRR 22:587). Values close to 1 indicate a good fit.

    Parameters
    ----------
    x : array_like (n,)
        Sample (non-finite values are ignored).
    params : array_like (3,)
        ``(xi, loc, scale)``.

    Returns
    -------
    float
        NaN when fewer than 3 finite values or invalid parameters.
    """
    from scipy.stats import genextreme

    x, xi, loc, scale, ok = _gev_sample(x, params)
    if not ok:
        return float("nan")
    n = x.size
    pp = (np.arange(1, n + 1) - 0.44) / (n + 0.12)
    q = genextreme.ppf(pp, -xi, loc=loc, scale=scale)
    xs = np.sort(x)
    if np.ptp(xs) <= 0 or not np.all(np.isfinite(q)):
        return float("nan")
    return float(np.corrcoef(xs, q)[0, 1])


# --------------------------------------------------------------------------------------------
# Peaks over threshold: generalised Pareto distribution
# --------------------------------------------------------------------------------------------


def gpd_from_lmoments(lm: np.ndarray) -> np.ndarray:
    """GPD ``(xi, scale)`` with known lower bound 0 from L-moments ``(..., >=2)``.

    With Hosking's shape ``k = -xi`` the GPD with lower bound 0 has ``l1 = alpha / (1 + k)``
    and ``l2 = alpha / ((1 + k)(2 + k))``, hence ``k = l1 / l2 - 2`` and ``alpha = (1 + k) l1``
    (Hosking & Wallis 1987, Technometrics 29:339; Hosking & Wallis 1997, appendix A.5).
    NaN where ``l2 <= 0`` or the L-moments are NaN.
    """
    lm = np.asarray(lm, dtype=np.float64)
    l1, l2 = lm[..., 0], lm[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        k = l1 / l2 - 2.0
        alpha = (1.0 + k) * l1
    out = np.stack([-k, alpha], -1)
    return np.where(~(l2 > 0)[..., None], np.nan, out)


def gpd_lmoments(excess: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """GPD ``(xi, scale)`` of excesses over a known threshold, by L-moments.

    Excesses ``y = x - u >= 0`` over a threshold ``u`` are approximately generalised Pareto
    (Coles 2001, ch. 4). With the lower bound known (0), the L-moment estimator is
    ``k = l1 / l2 - 2``, ``scale = (1 + k) l1``, ``xi = -k`` (Hosking & Wallis 1987,
    Technometrics 29:339). Vectorised over integer weight replicates exactly as
    :func:`gev_lmoments` (the sample repeated ``w`` times, see :func:`weighted_lmoments`).

    Parameters
    ----------
    excess : array_like (n,)
        Excesses over the threshold.
    w : array_like (..., n), optional
        Integer (bootstrap) weights.

    Returns
    -------
    ndarray (..., 2)
        ``(xi, scale)``; NaN where the weighted sample has fewer than 3 values or ``l2 <= 0``.
    """
    return gpd_from_lmoments(weighted_lmoments(excess, w))


def gpd_quantile(params, u, p_exceed_threshold, prob) -> np.ndarray:
    """Level exceeded with probability ``prob`` per unit under a peaks-over-threshold GPD model.

    With threshold ``u``, threshold exceedance probability ``zeta`` per unit (e.g. per scene)
    and excesses GPD(``xi``, ``scale``), the level exceeded with probability ``prob`` per unit
    is (Coles 2001, eq. 4.13, with ``m = 1 / prob``)::

        x = u + scale / xi * ((zeta / prob) ** xi - 1),   xi -> 0:  u + scale * log(zeta / prob)

    Parameters
    ----------
    params : array_like (..., 2)
        ``(xi, scale)`` as returned by :func:`gpd_lmoments`.
    u, p_exceed_threshold, prob : array_like
        Threshold, its exceedance probability ``zeta`` and the target exceedance probability;
        broadcast elementwise against ``params[..., 0]``.

    Returns
    -------
    ndarray
        Broadcast shape of ``params[..., 0]``, ``u``, ``zeta`` and ``prob``. NaN where
        ``prob`` is not in ``(0, zeta]`` (below the threshold the GPD model does not apply).
    """
    params = np.asarray(params, dtype=np.float64)
    xi, scale = params[..., 0], params[..., 1]
    u = np.asarray(u, dtype=np.float64)
    zeta = np.asarray(p_exceed_threshold, dtype=np.float64)
    prob = np.asarray(prob, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        logr = np.log(zeta / prob)
        small = np.abs(xi) < 1e-6
        xs = np.where(small, 1.0, xi)
        gen = u + scale / xs * np.expm1(xs * logr)
        exp_ = u + scale * logr
    out = np.where(small, exp_, gen)
    valid = (prob > 0) & (prob <= zeta)
    return np.where(valid, out, np.nan)
