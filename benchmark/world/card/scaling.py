"""Scaling with warming: log(statistic) per warming bin regressed on warming, scene bootstrap CI.

Per regime and pooled over regimes, the domain mean, the mean wet intensity and the wet-pixel P99
and P99.9 are computed per equal-count warming bin from per-scene sufficient statistics, and
log(statistic) is regressed on the bins' mean warming; the slope is the per-K log rate a, shown
as 100 (exp(a) - 1) %/K (docs/world.md, "Warming path and the climate response").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tailshift import schema
from tailshift.benchmark.world.card.accumulate import StoreAcc
from tailshift.benchmark.world.card.bins import hist_quantile
from tailshift.benchmark.world.card.model import ScalingFit
from tailshift.benchmark.world.card.targets import expected_rate, pooled_expected

#: Statistics regressed on warming.
SCALING_STATS = ("domain_mean", "cond_mean", "p99", "p999")
#: Default number of equal-count warming bins and bootstrap replicates for the scaling fits.
N_WARMING_BINS = 10
N_BOOT = 200
#: A percentile q enters a warming bin only with at least this many wet pixels above it.
MIN_EXCEEDANCES = 5


def _stats_from(hist, sum_all, npix, wet_sum, wet_count) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "domain_mean": sum_all / npix,
            "cond_mean": wet_sum / wet_count,
            "p99": hist_quantile(hist, 0.99),
            "p999": hist_quantile(hist, 0.999),
        }


def wls_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares slope and intercept of y on x along the last axis.

    A private pooled WLS rather than :func:`tailshift.metrics.trends.fixed_effects_rate`: with one
    group that estimator has the same slope, but it returns only 100 (exp(slope) - 1) %/K (the
    card needs the log rate itself, bit for bit, and the intercept for its figure), needs 4
    populated bins where the card accepts 3, and drops fits by a relative-variance tolerance.
    """
    sw = w.sum(axis=-1)
    xm = (w * x).sum(axis=-1) / sw
    ym = (w * y).sum(axis=-1) / sw
    dx = x - xm[..., None]
    slope = (w * dx * (y - ym[..., None])).sum(axis=-1) / (w * dx * dx).sum(axis=-1)
    return slope, ym - slope * xm


def _warming_bins(warming: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Scene indices of the non-empty equal-count warming bins."""
    qs = np.quantile(warming, np.linspace(0, 1, n_bins + 1))
    b = np.clip(np.searchsorted(qs[1:-1], warming, side="right"), 0, n_bins - 1)
    bins = [np.flatnonzero(b == j) for j in range(n_bins)]
    return [ix for ix in bins if ix.size]


def _bootstrap(bins, hist, cols, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Statistics (n_boot, bins) of a scene bootstrap: multinomial resampling within each bin."""
    rng = np.random.default_rng(seed)
    bh = np.empty((n_boot, len(bins), hist.shape[1]))
    bc = [np.empty((n_boot, len(bins))) for _ in cols]
    for j, ix in enumerate(bins):
        cnt = rng.multinomial(ix.size, np.full(ix.size, 1.0 / ix.size), size=n_boot).astype(
            np.float64
        )
        bh[:, j] = cnt @ hist[ix]
        for k, c in enumerate(cols):
            bc[k][:, j] = cnt @ np.asarray(c, dtype=np.float64)[ix]
    return _stats_from(bh, *bc)


def _empty_fit(n_bins: int = 0) -> dict[str, Any]:
    nan = float("nan")
    return {"rate": nan, "ci_low": nan, "ci_high": nan, "n_bins": n_bins, "warming": [],
            "values": [], "intercept": nan}


def _fit_stat(x, ns, v, boot_v, ok, n_boot: int) -> dict[str, Any]:
    """WLS fit of log(v) on x over the usable bins ``ok`` and its percentile bootstrap CI."""
    if ok.sum() < 3 or np.ptp(x[ok]) < 1e-6:
        return _empty_fit(int(ok.sum()))
    slope, icpt = wls_slope(x[ok], np.log(v[ok]), ns[ok])
    bv = boot_v[:, ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        ly = np.log(np.where(bv > 0, bv, np.nan))
    good = np.all(np.isfinite(ly), axis=1)
    if good.sum() >= max(10, n_boot // 2):
        shape = ly[good].shape
        bs, _ = wls_slope(np.broadcast_to(x[ok], shape), ly[good], np.broadcast_to(ns[ok], shape))
        lo, hi = np.percentile(bs, [2.5, 97.5])
    else:
        lo = hi = float("nan")
    return {
        "rate": float(slope), "ci_low": float(lo), "ci_high": float(hi),
        "n_bins": int(ok.sum()), "warming": x[ok].tolist(), "values": v[ok].tolist(),
        "intercept": float(icpt),
    }


def fit_scaling(
    warming: np.ndarray,
    wet_hist: np.ndarray,
    sum_all: np.ndarray,
    npix: np.ndarray,
    wet_sum: np.ndarray,
    wet_count: np.ndarray,
    n_bins: int = N_WARMING_BINS,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Scaling of each statistic with warming from per-scene sufficient statistics.

    Scenes are grouped into ``n_bins`` equal-count warming bins; in each bin the statistics
    (domain mean, conditional mean, wet P99 and P99.9 from the summed histograms) are computed
    and log(statistic) is regressed on the bin's mean warming by weighted least squares (weights:
    scenes per bin). The 95 % CI comes from a scene bootstrap stratified by warming bin
    (``n_boot`` replicates, percentile interval). A percentile enters a bin only with at least
    :data:`MIN_EXCEEDANCES` wet pixels above it; fewer than 3 usable bins give NaN.

    Returns
    -------
    dict
        stat -> {rate, ci_low, ci_high, n_bins, warming, values, intercept} (rates in K-1).
    """
    warming = np.asarray(warming, dtype=np.float64)
    if warming.size < 3 or np.ptp(warming) < 1e-6:
        return {s: _empty_fit() for s in SCALING_STATS}
    bins = _warming_bins(warming, n_bins)
    x = np.array([warming[ix].mean() for ix in bins])
    ns = np.array([ix.size for ix in bins], dtype=np.float64)
    hist = wet_hist.astype(np.float64)
    cols = [sum_all, npix, wet_sum, wet_count]
    agg = [np.stack([hist[ix].sum(axis=0) for ix in bins])]
    agg += [np.array([np.asarray(c, dtype=np.float64)[ix].sum() for ix in bins]) for c in cols]
    point = _stats_from(*agg)
    boot = _bootstrap(bins, hist, cols, n_boot, seed)
    out = {}
    for stat in SCALING_STATS:
        v = point[stat]
        ok = np.isfinite(v) & (v > 0)
        if stat in ("p99", "p999"):
            q = 0.99 if stat == "p99" else 0.999
            ok &= agg[4] * (1 - q) >= MIN_EXCEEDANCES  # agg[4]: wet pixels per bin
        out[stat] = _fit_stat(x, ns, v, boot[stat], ok, n_boot)
    return out


def scaling_fits(
    acc: StoreAcc, source: str, true_scaling: dict[str, Any], n_boot: int, seed: int
) -> list[ScalingFit]:
    """Fits of every statistic per regime and pooled over regimes, with the manifest's truth.

    The pooled group pools the scenes of all regimes in each warming bin; its truth is the hull
    of the regimes' intervals (:func:`~tailshift.benchmark.world.card.targets.pooled_expected`).
    Group ``i`` (schema order, pooled last) bootstraps with seed ``seed + i``.
    """
    fits = []
    groups = [(r, acc.regime == i) for i, r in enumerate(schema.REGIMES)]
    groups.append(("pooled", np.ones(acc.n, dtype=bool)))
    for gi, (group, sel) in enumerate(groups):
        if sel.sum() < 3:
            continue
        res = fit_scaling(acc.warming[sel], acc.wet_hist[sel], acc.sum_all[sel], acc.npix[sel],
                          acc.wet_sum[sel], acc.wet_count[sel], n_boot=n_boot, seed=seed + gi)
        for stat in SCALING_STATS:
            r = res[stat]
            iv = (pooled_expected(true_scaling, stat) if group == "pooled"
                  else expected_rate(true_scaling.get(group), stat))
            fits.append(ScalingFit(
                source, group, stat, r["rate"], r["ci_low"], r["ci_high"],
                None if iv is None else iv[0], None if iv is None else iv[1], r["n_bins"],
                r["warming"], r["values"], r["intercept"],
            ))
    return fits
