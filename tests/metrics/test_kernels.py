"""Kernels against independent implementations on the same arrays (stated tolerances)."""

from __future__ import annotations

import numpy as np
import pytest
import scoringrules as sr
from scipy.special import ndtri

from metrics import kernels as K


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(42)
    n, m = 400, 24
    y = rng.lognormal(0.5, 1.0, n) * (rng.random(n) < 0.7)
    x = rng.lognormal(0.5, 1.0, (n, m)) * (rng.random((n, m)) < 0.7)
    levels = (np.arange(16) + 0.5) / 16
    q = np.sort(np.quantile(x, levels, axis=1).T, axis=1)
    return y, x, q, levels


def test_crps_quantiles_matches_scoringrules_exactly(arrays):
    y, _, q, levels = arrays
    ours = K.crps_quantiles(y, q, levels)
    ref = sr.crps_quantile(y, q, levels)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(K.quantile_loss(y, q, levels), ref / 2)


def test_crps_from_quantiles_approximates_true_crps():
    """Stated approximation: 2 x mean pinball over K evenly spaced levels (k-1/2)/K converges to
    the CRPS; for a log-normal forecast with K = 32 it is within 1 % (K = 99: 0.2 %)."""
    rng = np.random.default_rng(0)
    mu, sigma = 0.3, 0.8
    y = rng.lognormal(mu, sigma, 2000)
    exact = sr.crps_lognormal(y, mu, sigma).mean()
    for k, tol in ((32, 0.01), (99, 0.002)):
        lv = (np.arange(k) + 0.5) / k
        q = np.exp(mu + sigma * ndtri(lv))[None, :].repeat(y.size, 0)
        approx = K.crps_quantiles(y, q, lv).mean()
        assert abs(approx / exact - 1) < tol


def test_crps_ensemble_fair_matches_scoringrules_and_properscoring(arrays):
    import properscoring as ps

    y, x, _, _ = arrays
    ours = K.crps_ensemble_fair(y, x)
    np.testing.assert_allclose(ours, sr.crps_ensemble(y, x, estimator="fair"), rtol=1e-10,
                               atol=1e-12)
    # properscoring's estimator is the (biased) empirical-CDF one: E|X-y| - E|X-X'|/2 with
    # 1/m^2; the fair one differs by E|X-X'|/(2m(m-1)) * ... ; check the relation exactly.
    m = x.shape[1]
    pair = np.abs(x[:, :, None] - x[:, None, :]).sum((1, 2))
    np.testing.assert_allclose(ps.crps_ensemble(y, x) - ours,
                               pair / (2 * m * (m - 1)) - pair / (2 * m * m), rtol=1e-8,
                               atol=1e-10)


@pytest.mark.parametrize("t", [1.0, 5.0])
def test_twcrps_matches_scoringrules(arrays, t):
    y, x, q, levels = arrays
    ens = K.twcrps_ensemble_fair(y, x, t)
    ref = sr.twcrps_ensemble(y, x, v_func=lambda z: np.maximum(z, t), estimator="fair")
    np.testing.assert_allclose(ens, ref, rtol=1e-10, atol=1e-12)
    # quantile form == crps_quantile of the chained (transformed) quantities
    tq = K.twcrps_quantiles(y, q, levels, t)
    np.testing.assert_allclose(tq, sr.crps_quantile(np.maximum(y, t), np.maximum(q, t), levels),
                               rtol=1e-12, atol=1e-12)
    # threshold weighting ignores everything below t
    assert np.all(tq[(y <= t) & (q.max(1) <= t)] == 0)


def test_contingency_scores_match_sklearn():
    from sklearn.metrics import cohen_kappa_score, jaccard_score, precision_score, recall_score

    rng = np.random.default_rng(1)
    ref = rng.lognormal(0, 1.5, 5000) * (rng.random(5000) < 0.4)
    ret = ref * rng.lognormal(0, 0.7, 5000) + (rng.random(5000) < 0.05)
    for t in (0.1, 1.0, 10.0):
        a, b, c, d = K.contingency(ref, ret, t)
        s = K.detection_scores(a, b, c, d)
        o, f = ref >= t, ret >= t
        assert s["pod"] == pytest.approx(recall_score(o, f), abs=1e-12)
        assert 1 - s["far"] == pytest.approx(precision_score(o, f), abs=1e-12)
        assert s["csi"] == pytest.approx(jaccard_score(o, f), abs=1e-12)
        # HSS equals Cohen's kappa of the 2x2 table
        assert s["hss"] == pytest.approx(cohen_kappa_score(o, f), abs=1e-12)


def test_sedi_perfect_random_and_formula():
    # perfect forecast: close to 1; random forecast: close to 0 (Ferro & Stephenson 2011)
    assert K.sedi(50, 0, 0, 9950) > 0.95
    rng = np.random.default_rng(3)
    o = rng.random(200000) < 0.01
    f = rng.random(200000) < 0.01
    a, b, c, d = (np.sum(o & f), np.sum(~o & f), np.sum(o & ~f), np.sum(~o & ~f))
    assert abs(K.sedi(a, b, c, d)) < 0.15
    h, fr = 30 / 50, 100 / 9950
    expect = (np.log(fr) - np.log(h) - np.log(1 - fr) + np.log(1 - h)) / (
        np.log(fr) + np.log(h) + np.log(1 - fr) + np.log(1 - h)
    )
    assert K.sedi(30, 100, 20, 9850) == pytest.approx(expect, rel=1e-12)


def test_pit_interval_cases():
    lv = np.array([0.25, 0.5, 0.75])
    q = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0],
                  [1.0, 2.0, 3.0]])
    y = np.array([0.0, 0.0, 1.5, 0.5, 9.0])
    lo, hi = K.pit_interval_quantiles(y, q, lv)
    np.testing.assert_allclose(lo, [0.0, 0.0, 0.375, 0.0, 0.75])
    np.testing.assert_allclose(hi, [1.0, 0.5, 0.375, 0.25, 1.0])
    cdf = K.pit_cdf(lo, hi, np.array([0.05, 0.5, 0.95]))
    np.testing.assert_allclose(cdf[0], [0.05, 0.5, 0.95])  # dry/dry: uniform
    np.testing.assert_allclose(cdf[2], [0.0, 1.0, 1.0])  # a point


def test_pit_calibrated_forecast_is_uniform():
    rng = np.random.default_rng(5)
    lv = (np.arange(32) + 0.5) / 32
    y = rng.lognormal(0, 1, 20000)
    q = np.exp(ndtri(lv))[None].repeat(y.size, 0)
    lo, hi = K.pit_interval_quantiles(y, q, lv)
    cdf = K.pit_cdf(lo, hi, np.linspace(0, 1, 11)).mean(0)
    np.testing.assert_allclose(cdf, np.linspace(0, 1, 11), atol=0.015)


def test_fss_and_effective_resolution():
    rng = np.random.default_rng(2)
    f = rng.lognormal(1, 1.5, (4, 32, 32))
    s = K.fss_sums(f, f, 10.0, 9)
    assert np.all(s[:, 0] == 0) and np.all(s[:, 1] > 0)
    spec = K.radial_spectra(f, f).sum(0)
    _, k = K.radial_operator(32, 32)
    assert K.effective_resolution(spec, k, 4.0) == pytest.approx(4.0)  # perfect: the pixel
    noise = rng.lognormal(1, 1.5, f.shape)
    worse = K.effective_resolution(K.radial_spectra(f, noise).sum(0), k, 4.0)
    assert worse > 4.0 * 4
    # Parseval: the radial sums hold the non-DC power (corners beyond Nyquist excepted)
    tot = (np.abs(np.fft.fft2(f)) ** 2).sum() - (np.abs(f.sum((1, 2))) ** 2).sum()
    assert 0.7 * tot < spec[0].sum() <= tot * (1 + 1e-9)


def test_scaling_rate_recovers_known_rate():
    x = np.linspace(0, 4, 9)
    stat = 2.0 * 1.07**x
    assert K.scaling_rate(x, stat, np.ones_like(x)) == pytest.approx(7.0, rel=1e-9)
    assert np.isnan(K.scaling_rate(x[:1], stat[:1], np.ones(1)))


@pytest.mark.parametrize("size", [1, 4, 9])
def test_fss_sums_definition(size):
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(size)
    ref = rng.lognormal(1.5, 1.5, (3, 20, 17))
    ret = ref * rng.lognormal(0, 0.8, ref.shape)
    po = uniform_filter((ref >= 10).astype(float), size=(1, size, size), mode="constant")
    pf = uniform_filter((ret >= 10).astype(float), size=(1, size, size), mode="constant")
    expect = np.stack([((pf - po) ** 2).sum((1, 2)), (pf**2 + po**2).sum((1, 2))], 1)
    np.testing.assert_allclose(K.fss_sums(ref, ret, 10.0, size), expect, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K.fss_sums(ref, ret, 10.0, size, np.float32), expect, rtol=1e-5)
    # a one-pixel shift scores lower than perfect but well above a random field at 9 px
    if size == 9:
        shifted = np.roll(ref, 1, axis=2)
        f = K.fss_sums(ref, shifted, 10.0, size).sum(0)
        assert 0.5 < 1 - f[0] / f[1] < 1
