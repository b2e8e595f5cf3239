"""Kernels against independent implementations on the same arrays (stated tolerances)."""

from __future__ import annotations

import numpy as np
import pytest
import scoringrules as sr
from scipy.special import ndtri

from tailshift.metrics import kernels as K


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(42)
    n, m = 400, 24
    y = rng.lognormal(0.5, 1.0, n) * (rng.random(n) < 0.7)
    x = rng.lognormal(0.5, 1.0, (n, m)) * (rng.random((n, m)) < 0.7)
    levels = (np.arange(16) + 0.5) / 16
    q = np.sort(np.quantile(x, levels, axis=1).T, axis=1)
    return y, x, q, levels


def _crps_x_space(y, q, levels, t=None, n=400001):
    """Independent oracle: CRPS = int (F(x) - 1{x >= y})^2 dx on a fine x grid, with F the CDF
    of the piecewise-linear quantile function with flat ends (atoms tau_1 at q_1 and
    1 - tau_K at q_K); twCRPS integrates from t only (Gneiting & Ranjan 2011, eq. 8)."""
    lo = min(float(q[0]), float(y)) - 1.0 if t is None else t
    hi = max(float(q[-1]), float(y)) + 1.0
    x = np.linspace(lo, hi, n)
    F = np.where(x < q[0], 0.0, np.interp(x, q, levels))
    F = np.where(x >= q[-1], 1.0, F)
    g = (F - (x >= y)) ** 2
    return float(np.sum((g[1:] + g[:-1]) / 2 * np.diff(x)))


def test_crps_midpoint_approx_is_scoringrules_crps_quantile(arrays):
    y, _, q, levels = arrays
    ref = sr.crps_quantile(y, q, levels)
    np.testing.assert_allclose(K.crps_midpoint_approx(y, q, levels), ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(K.quantile_loss(y, q, levels), ref / 2)


def test_crps_quantiles_exact_against_x_space_integral():
    rng = np.random.default_rng(11)
    lv = np.array([0.01, 0.05, 0.2, 0.5, 0.7, 0.9, 0.97, 0.999])
    for _ in range(25):
        q = np.sort(rng.lognormal(0.0, 1.0, lv.size) * (rng.random(lv.size) < 0.8))
        y = float(rng.lognormal(0.0, 1.0) * (rng.random() < 0.7))
        assert K.crps_quantiles(y, q, lv) == pytest.approx(_crps_x_space(y, q, lv), rel=1e-4,
                                                           abs=1e-7)
        for t in (0.5, 2.0):
            assert K.twcrps_quantiles(np.array([y]), q[None], lv, t)[0] == pytest.approx(
                _crps_x_space(y, q, lv, t), rel=1e-4, abs=1e-7)


def test_crps_quantiles_closed_forms():
    # one level: a point mass, CRPS = |q - y| whatever the level
    for tau in (0.001, 0.5, 0.999):
        assert K.crps_quantiles(np.array(1.5), np.array([0.0]), [tau]) == pytest.approx(1.5)
    # uniform on [0, 1] written on two knots 0 and 1 at levels ~0 and ~1: CRPS of U(0, 1) at y
    # is y^2 - y + 1/3 (Gneiting & Raftery 2007)
    lv = np.array([1e-12, 1 - 1e-12])
    for y in (0.0, 0.3, 1.0):
        assert K.crps_quantiles(np.array(y), np.array([0.0, 1.0]), lv) == pytest.approx(
            y * y - y + 1 / 3, abs=1e-9)
    # log-normal: exact on its own quantile function up to the discretisation of Q
    mu, sigma = 0.3, 0.8
    y = np.random.default_rng(0).lognormal(mu, sigma, 2000)
    exact = sr.crps_lognormal(y, mu, sigma).mean()
    lv = np.linspace(0.0005, 0.9995, 1999)
    q = np.exp(mu + sigma * ndtri(lv))[None].repeat(y.size, 0)
    assert K.crps_quantiles(y, q, lv).mean() == pytest.approx(exact, rel=2e-3)


def test_crps_quantiles_does_not_depend_on_the_level_set():
    """The same distribution on 35 baseline levels, 99 even levels and 19 coarse levels scores
    the same within 1 %; the mean-pinball approximation moves by several % (the defect)."""
    rng = np.random.default_rng(4)
    y = rng.lognormal(0.2, 1.0, 4000) * (rng.random(4000) < 0.6)
    mid = (np.arange(32) + 0.5) / 32
    sets = {
        "baseline35": np.union1d(mid, [0.99, 0.995, 0.999]),
        "even99": np.arange(1, 100) / 100,
        "coarse": np.r_[0.02, np.arange(0.05, 0.951, 0.05), 0.98],
    }
    dense = np.linspace(1e-4, 1 - 1e-4, 5001)
    qd = np.where(dense < 0.4, 0.0, np.exp(0.2 + ndtri(np.clip((dense - 0.4) / 0.6, 1e-9, 1))))
    exact = K.crps_quantiles(y, qd[None].repeat(y.size, 0), dense).mean()
    for lv in sets.values():
        q = np.interp(lv, dense, qd)[None].repeat(y.size, 0)
        assert K.crps_quantiles(y, q, lv).mean() == pytest.approx(exact, rel=0.01)
    lv = np.array([0.25, 0.5, 0.75])
    q = np.interp(lv, dense, qd)[None].repeat(y.size, 0)
    approx = K.crps_midpoint_approx(y, q, lv).mean()
    assert abs(approx / exact - 1) > 0.05


def test_fast_levels_first_kernels_equal_reference():
    rng = np.random.default_rng(7)
    lv = np.union1d((np.arange(32) + 0.5) / 32, [0.99, 0.995, 0.999])
    n = 3000
    q = np.sort(rng.gamma(0.5, 3.0, (n, lv.size)), axis=1)
    q[: n // 3, :12] = 0.0
    y = rng.gamma(0.5, 3.0, n) * (rng.random(n) < 0.6)
    order = np.argsort(y != 0, kind="stable")
    y, q = y[order], q[order]
    n0 = int((y == 0).sum())
    ql, crps, a, b = K.quantile_scores_lf(y, np.ascontiguousarray(q.T), lv, n0)
    np.testing.assert_allclose(crps, K.crps_quantiles(y, q, lv), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ql, K.quantile_loss(y, q, lv), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(a, (q < y[:, None]).sum(1))
    np.testing.assert_array_equal(b, (q <= y[:, None]).sum(1))
    for t in (1.0, 5.0):
        sel = slice(0, 400)
        np.testing.assert_allclose(
            K.twcrps_quantiles_lf(y[sel], np.ascontiguousarray(q[sel].T), lv, t),
            K.twcrps_quantiles(y[sel], q[sel], lv, t), rtol=1e-10, atol=1e-12)


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
    # threshold weighting ignores everything below t
    tq = K.twcrps_quantiles(y, q, levels, t)
    assert np.all(tq[(y <= t) & (q.max(1) <= t)] == 0)
    assert np.all(tq <= K.crps_quantiles(y, q, levels) + 1e-12)


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
    # perfect forecast: the corner limit 1; random forecast: close to 0 (Ferro & Stephenson
    # 2011); a forecast that never forecasts the event is undefined, not a few tenths
    assert K.sedi(50, 0, 0, 9950) == 1.0
    assert K.sedi(0, 50, 9950, 0) == -1.0
    assert np.isnan(K.sedi(0, 0, 50, 9950))
    assert np.isnan(K.sedi(50, 9950, 0, 0))
    assert "H = 0" in K.sedi_reason(0, 0, 50, 9950)
    assert K.sedi(49, 1, 1, 9949) > 0.95
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
    # flat ends: below q_1 the PIT is 0, above q_K it is 1 (no mass outside [q_1, q_K])
    np.testing.assert_allclose(lo, [0.0, 0.0, 0.375, 0.0, 1.0])
    np.testing.assert_allclose(hi, [1.0, 0.5, 0.375, 0.0, 1.0])
    cdf = K.pit_cdf(lo, hi, np.array([0.05, 0.5, 0.95]))
    np.testing.assert_allclose(cdf[0], [0.05, 0.5, 0.95])  # dry/dry: uniform
    np.testing.assert_allclose(cdf[2], [0.0, 1.0, 1.0])  # a point


def test_pit_calibrated_forecast_is_uniform():
    rng = np.random.default_rng(5)
    lv = np.linspace(0.001, 0.999, 64)
    y = rng.lognormal(0, 1, 20000)
    q = np.exp(ndtri(lv))[None].repeat(y.size, 0)
    lo, hi = K.pit_interval_quantiles(y, q, lv)
    cdf = K.pit_cdf(lo, hi, np.linspace(0, 1, 11)).mean(0)
    np.testing.assert_allclose(cdf, np.linspace(0, 1, 11), atol=0.01)


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


def _smooth_field(rng, n=8, size=64):
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.fftfreq(size)[None, :]
    kk = np.hypot(kx, ky)
    filt = np.where(kk > 0, np.where(kk > 0, kk, 1.0) ** -1.5, 0.0)
    g = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, size, size))) * filt))
    return np.exp(g / g.std())


def test_effective_resolution_shift_and_blur():
    """A field displaced by 2 px decorrelates at wavelengths below ~4 shifts (coherence is the
    real part, cos(2 pi k dx)): the half-plane sum must not add |Im|. A blur keeps coherence
    but loses power at small scales: the power criterion catches it."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    f = _smooth_field(rng)
    _, k = K.radial_operator(64, 64)
    shifted = np.roll(f, 2, axis=2)
    res = K.effective_resolution(K.radial_spectra(f, shifted).sum(0), k, 4.0)
    assert res >= 16.0  # cos(2 pi k 2) < 1/sqrt(2) from k = 1/16 cycles/px: 32 km wavelength
    blurred = gaussian_filter(f, (0, 1.0, 1.0))
    spec = K.radial_spectra(f, blurred).sum(0)
    assert K.effective_resolution(spec, k, 4.0) >= 8.0
    assert K.power_ratio(spec, k, 4.0, 32.0) < 0.5
    assert K.power_ratio(K.radial_spectra(f, f).sum(0), k, 4.0, 32.0) == pytest.approx(1.0)
    # Parseval: the radial sums hold the non-DC power (corners beyond Nyquist excepted)
    tot = (np.abs(np.fft.fft2(f)) ** 2).sum() - (np.abs(f.sum((1, 2))) ** 2).sum()
    assert 0.7 * tot < spec[0].sum() <= tot * (1 + 1e-9)


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
