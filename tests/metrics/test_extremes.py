"""GEV by L-moments against lmoments3 / scipy, MLE against pyextremes, and the tail-card speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import genextreme

from tailshift.metrics import extremes as E
from tailshift.metrics.bootstrap import poisson_weights, unit_keys


@pytest.mark.parametrize("xi", [-0.2, 0.0, 0.15, 0.3])
def test_lmoments_match_lmoments3(xi):
    from lmoments3 import distr, lmom_ratios

    x = genextreme.rvs(-xi, loc=20, scale=5, size=300, random_state=11)  # scipy c = -xi
    l1, l2, t3 = lmom_ratios(x, nmom=3)
    lm = E.weighted_lmoments(x)
    np.testing.assert_allclose(lm, [l1, l2, t3 * l2], rtol=1e-10)
    ours = E.gev_lmoments(x)
    ref = distr.gev.lmom_fit(x)
    # Hosking's rational approximation of k: |error| < 9e-4 (lmoments3 iterates)
    assert ours[0] == pytest.approx(-ref["c"], abs=2e-3)
    assert ours[1] == pytest.approx(ref["loc"], rel=2e-3)
    assert ours[2] == pytest.approx(ref["scale"], rel=5e-3)


def test_lmoment_fit_recovers_truth_and_return_level():
    x = genextreme.rvs(-0.1, loc=30, scale=8, size=20000, random_state=3)
    xi, loc, scale = E.gev_lmoments(x)
    assert xi == pytest.approx(0.1, abs=0.02)
    rl = E.return_level(np.array([xi, loc, scale]), [10.0, 50.0])
    truth = genextreme.ppf([0.9, 0.98], -0.1, loc=30, scale=8)
    np.testing.assert_allclose(rl, truth, rtol=0.02)
    # Gumbel limit is continuous
    a = E.return_level(np.array([1e-8, 0.0, 1.0]), [50.0])
    b = E.return_level(np.array([0.0, 0.0, 1.0]), [50.0])
    assert a == pytest.approx(b, rel=1e-6)


def test_weighted_lmoments_equal_repeated_sample():
    rng = np.random.default_rng(0)
    x = rng.gumbel(10, 2, 40)
    w = rng.poisson(1.0, (5, 40)).astype(float)
    got = E.weighted_lmoments(x, w)
    for i in range(5):
        np.testing.assert_allclose(got[i], E.weighted_lmoments(np.repeat(x, w[i].astype(int))),
                                   rtol=1e-9)


def test_mle_matches_pyextremes():
    import pandas as pd
    from pyextremes.models import get_model

    x = genextreme.rvs(-0.1, loc=10, scale=3, size=200, random_state=5)
    s = pd.Series(x, index=pd.date_range("2000", periods=x.size, freq="D"))
    ref = get_model(model="MLE", extremes=s, distribution="genextreme").fit_parameters
    ours = E.gev_mle(x)
    assert ours[0] == pytest.approx(-ref["c"], abs=5e-3)
    assert ours[1] == pytest.approx(ref["loc"], rel=1e-3)
    assert ours[2] == pytest.approx(ref["scale"], rel=1e-3)
    # and L-moments agree with MLE within sampling noise
    assert abs(E.gev_lmoments(x)[0] - ours[0]) < 0.1


def test_tail_card_1000_replicates_fast():
    """GEV by L-moments with 1000 block-bootstrap replicates (plus return levels) < 0.5 s."""
    rng = np.random.default_rng(1)
    labels = [f"region{r}-{y}" for r in range(5) for y in range(1998, 2098)]  # 500 blocks
    ref = genextreme.rvs(-0.1, loc=30, scale=8, size=len(labels), random_state=rng)
    ret = ref * 0.9
    t0 = time.perf_counter()
    w = poisson_weights(unit_keys(labels, 0), 1000).T
    pr, pp = E.gev_lmoments(ref, w), E.gev_lmoments(ret, w)
    ratio = E.return_level(pp, [10.0, 50.0]) / E.return_level(pr, [10.0, 50.0])
    dt = time.perf_counter() - t0
    assert dt < 0.5, dt
    assert ratio.shape == (1001, 2) and np.allclose(ratio, 0.9)
    assert np.isfinite(pr).all()
