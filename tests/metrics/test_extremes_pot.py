"""Block maxima, index-flood standardisation, GEV goodness of fit and POT (GPD) fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import expon, genextreme, genpareto, kstest

from tailshift.metrics import extremes as E


def test_block_maxima_drops_small_blocks_group_mode_and_counts():
    block = np.array(["r1-2000"] * 4 + ["r0-2001"] * 3 + ["r2-2000"] * 1 + ["r1-2001"] * 2)
    group = np.array(["wet", "dry", "wet", "dry",  # tie 2-2 -> "dry" (sorted first)
                      "wet", "wet", "dry",          # "wet"
                      "dry",                        # dropped
                      "conv", "wet"])               # tie -> "conv"
    sm = np.column_stack([np.arange(10.0), np.arange(10.0)[::-1]])
    sm[1, 0] = np.nan  # ignored by fmax
    bm = E.block_maxima(sm, block, group, min_scenes=2)
    assert isinstance(bm, E.BlockMaxima)
    assert bm.labels.tolist() == ["r0-2001", "r1-2000", "r1-2001"]
    assert bm.n_scenes.tolist() == [3, 4, 2]
    assert bm.group.tolist() == ["wet", "dry", "conv"]
    assert bm.n_dropped == 1
    np.testing.assert_array_equal(bm.maxima, [[6, 5], [3, 9], [9, 1]])
    assert bm.maxima.dtype == np.float64
    with pytest.raises(AttributeError):
        bm.n_dropped = 0  # frozen
    assert E.block_maxima(sm, block, group, min_scenes=5).labels.size == 0


def test_standardise_by_group_makes_regimes_comparable():
    rng = np.random.default_rng(4)
    a = genextreme.rvs(-0.1, loc=5, scale=1, size=201, random_state=rng)
    b = genextreme.rvs(-0.1, loc=100, scale=20, size=301, random_state=rng)
    ref = np.concatenate([a, b, [0.0, 0.0]])
    mx = np.column_stack([ref, 0.8 * ref])
    grp = np.array(["a"] * a.size + ["b"] * b.size + ["z", "z"])
    st, scale, keep = E.standardise_by_group(mx, grp)
    assert set(scale) == {"a", "b"}
    assert scale["a"] == pytest.approx(np.median(a))
    assert scale["b"] == pytest.approx(np.median(b))
    assert keep.tolist() == [True] * (a.size + b.size) + [False, False]
    assert np.isnan(st[~keep]).all()
    for g in "ab":
        m = grp == g
        assert np.median(st[m, 0]) == pytest.approx(1.0)
        np.testing.assert_allclose(st[m, 1], 0.8 * st[m, 0])  # ratio unchanged


def test_gev_ks_and_ppcc():
    x = genextreme.rvs(-0.1, loc=20, scale=5, size=500, random_state=7)
    p = E.gev_lmoments(x)
    stat, pv = E.gev_ks(x, p)
    ref = kstest(x, "genextreme", args=(-p[0], p[1], p[2]))
    assert stat == pytest.approx(ref.statistic, rel=1e-12)
    assert pv == pytest.approx(ref.pvalue, rel=1e-9)
    assert pv > 0.05
    assert E.gev_ppcc(x, p) > 0.99

    rng = np.random.default_rng(7)
    mix = np.concatenate([genextreme.rvs(-0.1, loc=5, scale=5, size=250, random_state=rng),
                          genextreme.rvs(-0.1, loc=100, scale=100, size=250, random_state=rng)])
    pm = E.gev_lmoments(mix)
    assert E.gev_ks(mix, pm)[1] < 1e-3
    assert E.gev_ppcc(mix, pm) < E.gev_ppcc(x, p)
    # degenerate input -> NaN
    assert np.isnan(E.gev_ks(x[:2], p)).all()
    assert np.isnan(E.gev_ppcc(x, [np.nan, 0, 1]))


def test_gpd_lmoments_vs_scipy_mle():
    y = genpareto.rvs(0.2, scale=3, size=20000, random_state=2)  # scipy c = xi
    xi, scale = E.gpd_lmoments(y)
    c, _, s = genpareto.fit(y, floc=0)
    assert xi == pytest.approx(c, abs=0.05)
    assert scale == pytest.approx(s, rel=0.05)
    assert xi == pytest.approx(0.2, abs=0.05)
    assert scale == pytest.approx(3.0, rel=0.05)


def test_gpd_lmoments_vs_lmoments3():
    from lmoments3 import distr, lmom_ratios

    # exact: the population L-moments of a GPD (lmoments3; its c is scipy's c = xi) invert
    for xi, sc in [(-0.2, 2.0), (0.0, 1.0), (0.2, 3.0), (0.4, 0.5)]:
        l1, l2 = distr.gpa.lmom_ratios(c=xi, loc=0.0, scale=sc, nmom=2)
        np.testing.assert_allclose(E.gpd_from_lmoments(np.array([l1, l2])), [xi, sc],
                                   atol=1e-12)
    # sample: same L-moments as lmoments3, shape close to its 3-parameter fit
    y = genpareto.rvs(0.2, scale=3, size=20000, random_state=5)
    l1, l2 = lmom_ratios(y, nmom=2)
    ours = E.gpd_lmoments(y)
    np.testing.assert_allclose(ours, [2 - l1 / l2, (l1 / l2 - 1) * l1], rtol=1e-9)
    ref = distr.gpa.lmom_fit(y)
    assert abs(ref["loc"]) < 0.05
    assert ours[0] == pytest.approx(ref["c"], abs=0.03)
    assert ours[1] == pytest.approx(ref["scale"], rel=0.03)


def test_gpd_lmoments_weight_replicates_equal_repeated_sample():
    rng = np.random.default_rng(0)
    y = genpareto.rvs(0.1, scale=2, size=60, random_state=rng)
    w = rng.poisson(1.0, (7, 60))
    w[6] = 0
    w[6, :2] = 1  # fewer than 3 weighted values -> NaN
    got = E.gpd_lmoments(y, w)
    assert got.shape == (7, 2)
    for i in range(6):
        np.testing.assert_allclose(got[i], E.gpd_lmoments(np.repeat(y, w[i])), rtol=1e-9)
    assert np.isnan(got[6]).all()
    assert np.isnan(E.gpd_lmoments(np.ones(10))).all()  # l2 = 0


@pytest.mark.parametrize("xi", [-0.2, 0.0, 1e-9, 0.15, 0.4])
def test_gpd_quantile_vs_scipy(xi):
    scale, u, zeta = 2.5, 10.0, 0.05
    probs = np.array([0.05, 1e-2, 1e-3, 1e-4])
    got = E.gpd_quantile(np.array([xi, scale]), u, zeta, probs)
    ref = u + (expon.isf(probs / zeta, scale=scale) if xi == 0
               else genpareto.isf(probs / zeta, xi, scale=scale))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    assert got[0] == pytest.approx(u)


def test_gpd_quantile_broadcasts_and_rejects_probs_above_zeta():
    params = np.array([[0.1, 2.0], [0.0, 1.0], [0.3, 4.0]])
    u = np.array([5.0, 6.0, 7.0])
    got = E.gpd_quantile(params, u, 0.1, 1e-3)
    assert got.shape == (3,)
    for i in range(3):
        assert got[i] == pytest.approx(E.gpd_quantile(params[i], u[i], 0.1, 1e-3))
    # periods axis: params (..., 1, 2) against prob (k,)
    grid = E.gpd_quantile(params[:, None, :], u[:, None], 0.1, np.array([1e-2, 1e-3]))
    assert grid.shape == (3, 2)
    np.testing.assert_allclose(grid[:, 1], got)
    assert np.isnan(E.gpd_quantile(params[0], 5.0, 0.1, 0.2))
