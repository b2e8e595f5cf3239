"""Warming-scaling rates and time trends: fixed-effects rate, Theil-Sen, Mann-Kendall.

Pure numpy/scipy functions, no state and no I/O.

* :func:`fixed_effects_rate` -- scaling rate (%/K) of a statistic with warming, estimated within
  groups (regimes) so that a change of the regime mix across warming bins cannot create a trend
  (within / fixed-effects estimator, Wooldridge 2010, *Econometric Analysis of Cross Section and
  Panel Data*, 2nd ed., MIT Press, ch. 10).
* :func:`theil_sen` -- median of pairwise slopes (Theil 1950, Proc. K. Ned. Akad. Wet. 53:386;
  Sen 1968, JASA 63:1379) with Sen's distribution-free confidence interval.
* :func:`mann_kendall` -- rank test for a monotone trend (Mann 1945, Econometrica 13:245;
  Kendall 1975, *Rank Correlation Methods*, 4th ed., Griffin).
* :func:`annual_trend` -- Theil-Sen rate in %/yr and Mann-Kendall p of a positive annual series.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "annual_trend",
    "fixed_effects_rate",
    "mann_kendall",
    "populated_bins",
    "theil_sen",
]

# Within variance below this fraction of sum(w x^2) is treated as zero (no identifying variation).
_REL_VAR_TOL = 1e-12


def _panel(x, y, w):
    """Broadcast ``x, y, w`` to a common ``(..., G, B)`` shape and mask the usable cells."""
    x, y, w = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        np.asarray(w, dtype=np.float64),
    )
    if x.ndim < 2:
        raise ValueError(f"x, y, w must have shape (..., G, B); got shape {x.shape}")
    usable = np.isfinite(w) & (w > 0) & np.isfinite(x) & np.isfinite(y) & (y > 0)
    return x, y, w, usable


def _as_result(a: np.ndarray):
    """0-d array -> Python scalar, otherwise the array unchanged."""
    return a.item() if a.ndim == 0 else a


def populated_bins(x, y, w):
    """Number of distinct warming bins holding at least one usable cell.

    Parameters
    ----------
    x, y, w : array_like, shape (..., G, B)
        Mean warming (K), statistic and weight (scene count) of group ``g`` in warming bin ``b``;
        broadcast against each other.  A cell is usable when ``w > 0``, ``x`` is finite and ``y``
        is finite and positive (see :func:`fixed_effects_rate`).

    Returns
    -------
    int or numpy.ndarray of int, shape (...)
        Count of bins ``b`` with any usable cell over all groups, per leading index (a Python
        ``int`` when there are no leading axes).
    """
    _, _, _, usable = _panel(x, y, w)
    return _as_result(np.any(usable, axis=-2).sum(axis=-1))


def fixed_effects_rate(x, y, w, min_bins: int = 4):
    r"""Scaling rate (%/K) of a statistic with warming, with group (regime) fixed effects.

    Model, for group (regime) ``g`` and warming bin ``b``, fitted by weighted least squares::

        log y[g, b] = alpha[g] + beta * x[g, b] + e[g, b],    weights w[g, b]

    The slope is the within (fixed-effects) estimator (Wooldridge 2010, *Econometric Analysis of
    Cross Section and Panel Data*, 2nd ed., ch. 10), i.e. the WLS slope after removing the
    weighted group means:

    .. math::

        \hat\beta = \frac{\sum_{g,b} w_{gb} (x_{gb} - \bar x_g)(\ln y_{gb} - \overline{\ln y}_g)}
                         {\sum_{g,b} w_{gb} (x_{gb} - \bar x_g)^2},
        \qquad \bar x_g = \frac{\sum_b w_{gb} x_{gb}}{\sum_b w_{gb}},

    and the rate returned is ``100 * (exp(beta) - 1)`` %/K (so a Clausius-Clapeyron-like scaling,
    about 7 %/K, reads as 7; Held & Soden 2006, J. Climate 19:5686).

    Why fixed effects: pooling all groups per warming bin and regressing the pooled statistic on
    warming lets a change of the group mix across bins create a trend -- if warmer bins hold more
    scenes of a wetter regime, even a forecast that is constant per regime scores a non-zero rate
    (a composition effect, Simpson's paradox).  The group intercepts ``alpha[g]`` absorb the level
    differences between groups, so only variation of the statistic with warming *within* a group
    identifies ``beta``; a predictor that is constant per group gets exactly 0.

    Parameters
    ----------
    x : array_like, shape (..., G, B)
        Mean warming (K) of the scenes of group ``g`` in warming bin ``b``.
    y : array_like, shape (..., G, B)
        The statistic of group ``g`` in bin ``b`` (e.g. mean rain rate, wet-pixel 99th
        percentile); must be positive to enter the log-linear model.
    w : array_like, shape (..., G, B)
        Weight of the cell, typically the scene count; ``0`` marks an empty cell.
    min_bins : int, default 4
        Minimum number of distinct populated warming bins (bins with any usable cell over all
        groups) for a rate to be returned.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        Rate in %/K per leading index (e.g. per bootstrap replicate); a Python ``float`` when the
        inputs have no leading axes.  NaN where fewer than ``min_bins`` warming bins are populated
        (counted per leading index, see :func:`populated_bins`) or where the within variance of
        ``x`` is ~0 (e.g. every group occupies a single bin).

    Notes
    -----
    Cells with ``w <= 0``, non-finite ``w`` or ``x``, or non-finite / non-positive ``y`` are
    ignored.  ``x``, ``y`` and ``w`` are broadcast against each other; all leading axes are
    vectorised.  A group with a single usable cell contributes nothing (it is absorbed by its
    intercept).
    """
    x, y, w, usable = _panel(x, y, w)
    ww = np.where(usable, w, 0.0)
    xx = np.where(usable, x, 0.0)
    ly = np.log(np.where(usable, y, 1.0))

    wg = ww.sum(axis=-1, keepdims=True)
    safe = np.where(wg > 0, wg, 1.0)
    xbar = (ww * xx).sum(axis=-1, keepdims=True) / safe
    lbar = (ww * ly).sum(axis=-1, keepdims=True) / safe
    dx = np.where(usable, xx - xbar, 0.0)
    dy = np.where(usable, ly - lbar, 0.0)

    sxx = (ww * dx * dx).sum(axis=(-2, -1))
    sxy = (ww * dx * dy).sum(axis=(-2, -1))
    scale = (ww * xx * xx).sum(axis=(-2, -1))

    nbins = np.any(usable, axis=-2).sum(axis=-1)
    ok = (nbins >= min_bins) & (sxx > 0) & (sxx > _REL_VAR_TOL * scale)
    beta = sxy / np.where(ok, sxx, 1.0)
    rate = np.where(ok, 100.0 * np.expm1(beta), np.nan)
    return _as_result(rate)


def theil_sen(t, y, alpha: float = 0.95) -> dict:
    """Theil-Sen slope with Sen's distribution-free confidence interval.

    The slope is the median of all pairwise slopes ``(y_j - y_i) / (t_j - t_i)`` over pairs with
    ``t_i != t_j`` (Theil 1950, Proc. K. Ned. Akad. Wet. 53:386, 521, 1397; Sen 1968, JASA
    63:1379).  The confidence interval takes the order statistics of the sorted pairwise
    slopes at ranks ``(N -/+ z sigma_S) / 2`` with ``z = Phi^-1((1 + alpha) / 2)``, ``N`` the
    number of slopes and ``sigma_S`` the standard deviation of Kendall's S with the tie
    corrections for ``t`` and ``y`` (Sen 1968, eq. 2.6), exactly as
    :func:`scipy.stats.theilslopes`, which does the computation.

    Parameters
    ----------
    t, y : array_like, shape (n,)
        Abscissa (e.g. year) and values.  Pairs with a non-finite member are dropped.
    alpha : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    dict
        ``slope``, ``intercept`` (``median(y) - slope * median(t)``), ``ci_low``, ``ci_high``
        (floats).  All NaN with fewer than two finite pairs or when all ``t`` are identical.
    """
    t = np.asarray(t, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise ValueError(f"t and y must have the same length; got {t.size} and {y.size}")
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    nan = {"slope": np.nan, "intercept": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if t.size < 2 or np.all(t == t[0]):
        return nan
    res = stats.theilslopes(y, t, alpha=alpha, method="separate")
    return {
        "slope": float(res.slope),
        "intercept": float(res.intercept),
        "ci_low": float(res.low_slope),
        "ci_high": float(res.high_slope),
    }


def mann_kendall(y, t=None) -> dict:
    """Mann-Kendall test for a monotone trend in a series ordered in time.

    ``S = sum_{i<j} sign(y_j - y_i)`` (Mann 1945, Econometrica 13:245; Kendall 1975, *Rank
    Correlation Methods*, 4th ed., Griffin), with the tie-corrected variance under the null of no
    trend::

        var(S) = [n (n-1) (2n+5) - sum_p t_p (t_p - 1) (2 t_p + 5)] / 18

    (``t_p`` the size of the p-th group of tied values), the continuity-corrected statistic
    ``z = (S - sign(S)) / sqrt(var(S))`` and the two-sided normal p-value ``2 (1 - Phi(|z|))``.

    The test assumes serially independent values: positive autocorrelation inflates the variance
    of S and makes the test anti-conservative (too many false trends; Hamed & Rao 1998, J. Hydrol.
    204:182).  Use it on values that are approximately independent (e.g. annual aggregates).

    Parameters
    ----------
    y : array_like, shape (n,)
        Values; non-finite entries (and those with non-finite ``t``) are dropped.
    t : array_like, shape (n,), optional
        Times; when given, the series is (stably) sorted by ``t`` first.  Otherwise ``y`` is taken
        to be in time order.

    Returns
    -------
    dict
        ``s`` (S), ``var_s`` (tie-corrected var(S)), ``z``, ``p`` (two-sided) and ``tau``
        (``S / (n (n-1) / 2)``, Kendall's tau-a).  ``z`` and ``p`` are NaN for ``n < 3``;
        ``tau`` is NaN for ``n < 2``.  A fully tied series (``var(S) = 0``) gives ``z = 0``,
        ``p = 1``.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    if t is not None:
        t = np.asarray(t, dtype=np.float64).ravel()
        if t.shape != y.shape:
            raise ValueError(f"t and y must have the same length; got {t.size} and {y.size}")
        keep = np.isfinite(t) & np.isfinite(y)
        t, y = t[keep], y[keep]
        y = y[np.argsort(t, kind="stable")]
    else:
        y = y[np.isfinite(y)]
    n = y.size

    i, j = np.triu_indices(n, k=1)
    s = float(np.sign(y[j] - y[i]).sum())
    _, counts = np.unique(y, return_counts=True)
    tp = counts.astype(np.float64)
    var_s = float((n * (n - 1.0) * (2.0 * n + 5.0) - np.sum(tp * (tp - 1) * (2 * tp + 5))) / 18.0)
    tau = s / (n * (n - 1) / 2.0) if n >= 2 else np.nan

    if n < 3:
        z = p = np.nan
    elif var_s <= 0:
        z, p = 0.0, 1.0
    else:
        z = float((s - np.sign(s)) / np.sqrt(var_s))
        p = float(2.0 * stats.norm.sf(abs(z)))
    return {"s": s, "var_s": var_s, "z": z, "p": p, "tau": float(tau)}


def annual_trend(years, values) -> dict:
    """Relative trend (%/yr) of a positive annual series: Theil-Sen on logs plus Mann-Kendall.

    The series is sorted by year; entries with a non-finite year or a non-finite / non-positive
    value are dropped.  The Theil-Sen slope (Sen 1968, JASA 63:1379) of ``log(value)`` on year,
    ``s``, is reported as ``100 * (exp(s) - 1)`` %/yr, as are the bounds of its 95 % confidence
    interval (the transform is monotone).  The Mann-Kendall test (Mann 1945, Econometrica
    13:245) is applied to the time-ordered series (rank based, so the log does not change it) and
    assumes serially independent years.

    Parameters
    ----------
    years, values : array_like, shape (n,)

    Returns
    -------
    dict
        ``theil_sen_pct_per_year``, ``ci_low``, ``ci_high`` (%/yr), ``mk_p``, ``mk_tau`` (floats)
        and ``n_years`` (int, the number of usable years).  Float fields are NaN when
        ``n_years < 3``.
    """
    years = np.asarray(years, dtype=np.float64).ravel()
    values = np.asarray(values, dtype=np.float64).ravel()
    if years.shape != values.shape:
        raise ValueError(
            f"years and values must have the same length; got {years.size} and {values.size}"
        )
    keep = np.isfinite(years) & np.isfinite(values) & (values > 0)
    years, values = years[keep], values[keep]
    order = np.argsort(years, kind="stable")
    years, logv = years[order], np.log(values[order])
    n = int(years.size)
    out = {
        "theil_sen_pct_per_year": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "mk_p": np.nan,
        "mk_tau": np.nan,
        "n_years": n,
    }
    if n < 3:
        return out
    ts = theil_sen(years, logv)
    mk = mann_kendall(logv)
    out["theil_sen_pct_per_year"] = float(100.0 * np.expm1(ts["slope"]))
    out["ci_low"] = float(100.0 * np.expm1(ts["ci_low"]))
    out["ci_high"] = float(100.0 * np.expm1(ts["ci_high"]))
    out["mk_p"] = mk["p"]
    out["mk_tau"] = mk["tau"]
    return out
