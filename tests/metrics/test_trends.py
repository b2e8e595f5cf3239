"""Fixed-effects scaling rate, Theil-Sen, Mann-Kendall and annual trends against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tailshift.metrics import trends as T

G, B = 5, 6
LEVELS = 10.0 ** np.arange(G)  # 1, 10, 100, 1000, 10000


def _panel(rate_pct=7.0, seed=0):
    """5 groups of very different levels, 6 warming bins, log-linear in warming."""
    rng = np.random.default_rng(seed)
    bins = np.linspace(0.0, 2.5, B)
    x = bins[None, :] + rng.uniform(-0.1, 0.1, size=(G, B))  # per-group mean warming in the bin
    beta = math.log1p(rate_pct / 100.0)
    y = LEVELS[:, None] * np.exp(beta * x)
    w = rng.integers(1, 50, size=(G, B)).astype(float)
    return x, y, w


def _pooled_rate(x, y, w):
    """Pooled regression: per bin, the weighted mean statistic over all groups; WLS of log."""
    wb = w.sum(axis=0)
    xb = (w * x).sum(axis=0) / wb
    yb = (w * y).sum(axis=0) / wb
    ly = np.log(yb)
    xm = np.average(xb, weights=wb)
    lm = np.average(ly, weights=wb)
    beta = np.sum(wb * (xb - xm) * (ly - lm)) / np.sum(wb * (xb - xm) ** 2)
    return 100.0 * np.expm1(beta)


def _brute_fe(x, y, w):
    """Dummy-variable WLS (one intercept per group) by lstsq: the same beta as the within form."""
    m = (w > 0) & np.isfinite(x) & np.isfinite(y) & (y > 0)
    g_idx = np.broadcast_to(np.arange(x.shape[0])[:, None], x.shape)[m]
    xs, ys, ws = x[m], np.log(y[m]), w[m]
    groups = np.unique(g_idx)
    design = np.column_stack([xs] + [(g_idx == g).astype(float) for g in groups])
    sw = np.sqrt(ws)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], ys * sw, rcond=None)
    return 100.0 * np.expm1(coef[0])


# --------------------------------------------------------------------------- fixed effects


def test_fe_recovers_rate_without_noise():
    x, y, w = _panel(7.0)
    assert T.fixed_effects_rate(x, y, w) == pytest.approx(7.0, abs=1e-9)
    assert isinstance(T.fixed_effects_rate(x, y, w), float)
    assert T.populated_bins(x, y, w) == B


def test_fe_matches_dummy_variable_regression_with_noise():
    x, y, w = _panel(5.0, seed=3)
    rng = np.random.default_rng(4)
    y = y * np.exp(rng.normal(0, 0.05, size=y.shape))
    assert T.fixed_effects_rate(x, y, w) == pytest.approx(_brute_fe(x, y, w), rel=1e-10)


def test_constant_per_group_is_zero_while_pooled_is_not():
    bins = np.linspace(0.0, 2.5, B)
    x = np.broadcast_to(bins, (G, B)).copy()
    y = np.broadcast_to(LEVELS[:, None], (G, B)).copy()  # constant per regime
    # group mix shifts towards the wet regimes with warming
    w = np.array(
        [[60, 40, 25, 15, 8, 4]] + [[10, 10, 10, 10, 10, 10]] * 3 + [[2, 5, 12, 25, 40, 60]]
    )
    w = w.astype(float)
    assert T.fixed_effects_rate(x, y, w) == 0.0
    pooled = _pooled_rate(x, y, w)
    assert abs(pooled) > 50.0  # a large spurious "rate" from the composition change alone


def test_too_few_populated_bins_is_nan():
    x, y, w = _panel()
    w[:, 3:] = 0.0  # 3 populated bins
    assert T.populated_bins(x, y, w) == 3
    assert math.isnan(T.fixed_effects_rate(x, y, w))
    assert T.fixed_effects_rate(x, y, w, min_bins=3) == pytest.approx(7.0, abs=1e-9)
    # bins emptied by unusable y / x instead of w
    x, y, w = _panel()
    y[:, 0] = 0.0
    y[:, 1] = np.nan
    x[:, 2] = np.inf
    assert T.populated_bins(x, y, w) == 3
    assert math.isnan(T.fixed_effects_rate(x, y, w))


def test_zero_within_variance_is_nan():
    # every group occupies a single (distinct) bin: levels are absorbed by the intercepts
    x, y, w = _panel()
    w = np.zeros((B, B))
    np.fill_diagonal(w, 10.0)
    x = np.broadcast_to(np.linspace(0, 2.5, B), (B, B))
    y = np.broadcast_to(np.arange(1.0, B + 1)[:, None], (B, B))
    assert T.populated_bins(x, y, w) == B
    assert math.isnan(T.fixed_effects_rate(x, y, w))


def test_empty_and_unusable_cells_ignored():
    x, y, w = _panel(7.0)
    rng = np.random.default_rng(9)
    y_noisy = y * np.exp(rng.normal(0, 0.05, size=y.shape))
    ref = T.fixed_effects_rate(x, y_noisy, w)
    x2, y2, w2 = x.copy(), y_noisy.copy(), w.copy()
    x2[0, 1], y2[0, 1], w2[0, 1] = 1e6, 1e9, 0.0  # empty cell with garbage
    x2[2, 4], y2[2, 4] = np.nan, np.nan
    y2[3, 0] = -1.0
    w2[4, 5] = -3.0
    x2[1, 2] = np.inf
    got = T.fixed_effects_rate(x2, y2, w2)
    drop = w.copy()
    for g, b in [(0, 1), (2, 4), (3, 0), (4, 5), (1, 2)]:
        drop[g, b] = 0.0
    assert got == pytest.approx(T.fixed_effects_rate(x, y_noisy, drop), rel=1e-12)
    assert got == pytest.approx(_brute_fe(x2, y2, w2), rel=1e-10)
    assert got != ref
    # noise-free: still exact
    x3, y3 = x.copy(), y.copy()
    y3[3, 0] = -1.0
    x3[1, 2] = np.nan
    assert T.fixed_effects_rate(x3, y3, w) == pytest.approx(7.0, abs=1e-9)


def test_leading_replicate_axis_matches_loop():
    x, y, w = _panel(7.0, seed=1)
    rng = np.random.default_rng(2)
    R = 7
    wr = rng.poisson(1.0, size=(R, G, B)).astype(float) * w
    yr = y * np.exp(rng.normal(0, 0.1, size=(R, G, B)))
    wr[0, :, 2:] = 0.0  # replicate 0 has only 2 populated bins
    got = T.fixed_effects_rate(x, yr, wr)  # x broadcast against (R, G, B)
    assert got.shape == (R,)
    loop = np.array([T.fixed_effects_rate(x, yr[r], wr[r]) for r in range(R)])
    np.testing.assert_allclose(got, loop, rtol=1e-12, equal_nan=True)
    assert math.isnan(got[0]) and np.all(np.isfinite(got[1:]))
    nb = T.populated_bins(x, yr, wr)
    assert nb.shape == (R,) and nb[0] == 2
    np.testing.assert_array_equal(nb, [T.populated_bins(x, yr[r], wr[r]) for r in range(R)])
    # two leading axes
    got2 = T.fixed_effects_rate(x, yr.reshape(1, R, G, B), wr.reshape(1, R, G, B))
    np.testing.assert_allclose(got2, got[None], rtol=1e-12, equal_nan=True)


def test_bad_shape_raises():
    with pytest.raises(ValueError):
        T.fixed_effects_rate(np.arange(5.0), np.ones(5), np.ones(5))


# --------------------------------------------------------------------------- Theil-Sen


def _brute_median_slope(t, y):
    slopes = [
        (y[j] - y[i]) / (t[j] - t[i])
        for i in range(len(t))
        for j in range(i + 1, len(t))
        if t[j] != t[i]
    ]
    return float(np.median(slopes))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_theil_sen_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 25
    t = np.sort(rng.choice(np.arange(1990, 2030), size=n, replace=True)).astype(float)  # t ties
    y = 0.3 * t + rng.standard_t(2, size=n)
    res = T.theil_sen(t, y)
    assert res["slope"] == pytest.approx(_brute_median_slope(t, y), rel=1e-12)
    assert res["intercept"] == pytest.approx(np.median(y) - res["slope"] * np.median(t))
    ref = stats.theilslopes(y, t, alpha=0.95)
    assert res["ci_low"] == pytest.approx(ref.low_slope, rel=1e-12)
    assert res["ci_high"] == pytest.approx(ref.high_slope, rel=1e-12)
    assert res["ci_low"] <= res["slope"] <= res["ci_high"]


def test_theil_sen_ci_independent_ranks():
    # Sen (1968): with no ties, ranks (N -/+ z sigma)/2 of the sorted pairwise slopes
    rng = np.random.default_rng(5)
    n = 30
    t = np.arange(n, dtype=float)
    y = 0.5 * t + rng.normal(0, 3, size=n)
    slopes = np.sort([(y[j] - y[i]) / (j - i) for i in range(n) for j in range(i + 1, n)])
    N = slopes.size
    z = stats.norm.ppf(0.975)
    sigma = math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo = slopes[int(np.round((N - z * sigma) / 2.0)) - 1]
    hi = slopes[int(np.round((N + z * sigma) / 2.0))]
    res = T.theil_sen(t, y)
    assert res["ci_low"] == pytest.approx(lo, rel=1e-12)
    assert res["ci_high"] == pytest.approx(hi, rel=1e-12)


def test_theil_sen_degenerate():
    assert all(math.isnan(v) for v in T.theil_sen([1.0], [2.0]).values())
    assert all(math.isnan(v) for v in T.theil_sen([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).values())
    res = T.theil_sen([0.0, 1.0, np.nan, 2.0, 3.0], [0.0, 2.0, 5.0, 4.0, np.inf])
    assert res["slope"] == pytest.approx(2.0)


# --------------------------------------------------------------------------- Mann-Kendall


def _brute_mk(y):
    n = len(y)
    s = 0
    for i in range(n):
        for j in range(i + 1, n):
            s += int(y[j] > y[i]) - int(y[j] < y[i])
    var = n * (n - 1) * (2 * n + 5)
    for v in set(y.tolist()):
        tp = int(np.sum(y == v))
        var -= tp * (tp - 1) * (2 * tp + 5)
    return s, var / 18.0


def test_mann_kendall_s_and_var_with_ties():
    rng = np.random.default_rng(0)
    y = np.round(rng.normal(0, 1, size=40) + 0.02 * np.arange(40), 0)  # many ties
    assert len(np.unique(y)) < 15
    s, var = _brute_mk(y)
    res = T.mann_kendall(y)
    assert res["s"] == s
    assert res["var_s"] == pytest.approx(var, rel=1e-14)
    z = (s - np.sign(s)) / math.sqrt(var)
    assert res["z"] == pytest.approx(z, rel=1e-12)
    assert res["p"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)
    assert res["tau"] == pytest.approx(s / (40 * 39 / 2))


def test_mann_kendall_vs_kendalltau_no_ties():
    rng = np.random.default_rng(1)
    n = 30
    t = np.arange(n, dtype=float)
    y = 0.05 * t + rng.normal(0, 1, size=n)
    res = T.mann_kendall(y)
    ref = stats.kendalltau(t, y, method="asymptotic")
    assert res["tau"] == pytest.approx(ref.statistic, rel=1e-12)
    assert res["p"] == pytest.approx(ref.pvalue, abs=0.02)
    # without the continuity correction the normal p-values coincide
    z0 = res["s"] / math.sqrt(res["var_s"])
    assert 2 * stats.norm.sf(abs(z0)) == pytest.approx(ref.pvalue, rel=1e-9)


def test_mann_kendall_sorts_by_t():
    rng = np.random.default_rng(3)
    y = np.arange(20.0) + rng.normal(0, 2, size=20)
    perm = rng.permutation(20)
    a = T.mann_kendall(y)
    b = T.mann_kendall(y[perm], t=np.arange(20.0)[perm])
    assert a == b


def test_mann_kendall_strong_trend_and_noise():
    rng = np.random.default_rng(7)
    n = 40
    trend = T.mann_kendall(np.arange(n) + rng.normal(0, 2, size=n))
    assert trend["p"] < 1e-3 and trend["z"] > 0
    down = T.mann_kendall(-np.arange(n) + rng.normal(0, 2, size=n))
    assert down["p"] < 1e-3 and down["z"] < 0 and down["s"] < 0
    noise = T.mann_kendall(np.random.default_rng(12345).normal(size=n))
    assert noise["p"] > 0.05


def test_mann_kendall_small_and_tied():
    assert math.isnan(T.mann_kendall([1.0, 2.0])["p"])
    assert T.mann_kendall([1.0, 2.0])["tau"] == 1.0
    flat = T.mann_kendall(np.ones(10))
    assert flat["s"] == 0 and flat["var_s"] == 0 and flat["p"] == 1.0


# --------------------------------------------------------------------------- annual trend


def test_annual_trend_two_percent_per_year():
    years = np.arange(1995, 2025)
    values = 3.0 * 1.02 ** (years - years[0])
    perm = np.random.default_rng(0).permutation(years.size)
    out = T.annual_trend(years[perm], values[perm])
    assert out["theil_sen_pct_per_year"] == pytest.approx(2.0, abs=1e-10)
    assert out["ci_low"] == pytest.approx(2.0, abs=1e-10)
    assert out["ci_high"] == pytest.approx(2.0, abs=1e-10)
    assert out["mk_tau"] == pytest.approx(1.0)
    assert out["mk_p"] < 1e-6
    assert out["n_years"] == years.size


def test_annual_trend_noisy_ci_and_dropping():
    rng = np.random.default_rng(4)
    years = np.arange(1990, 2025)
    values = 5.0 * 1.02 ** (years - 1990) * np.exp(rng.normal(0, 0.03, size=years.size))
    values[[3, 10]] = [0.0, np.nan]
    out = T.annual_trend(years, values)
    assert out["n_years"] == years.size - 2
    assert out["ci_low"] < out["theil_sen_pct_per_year"] < out["ci_high"]
    assert out["ci_low"] < 2.0 < out["ci_high"]


def test_annual_trend_too_short():
    out = T.annual_trend([2000, 2001, 2002], [1.0, -1.0, 2.0])
    assert out["n_years"] == 2
    assert all(math.isnan(out[k]) for k in out if k != "n_years")
