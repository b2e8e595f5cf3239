"""Histogram read-outs: the stated error bounds, and exact threshold edges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from tailshift.metrics.bins import LogBins


def _hist(b: LogBins, x):
    idx = b.index(x)
    return (np.bincount(idx, minlength=b.nb).astype(float),
            np.bincount(idx, x, minlength=b.nb))


@pytest.mark.parametrize("bpd", [20, 100])
def test_quantile_relative_error_bound(bpd):
    """|q_hist / q - 1| <= r - 1 with q = numpy's inverted_cdf quantile (the bound of bins.py)."""
    b = LogBins(bins_per_decade=bpd)
    rng = np.random.default_rng(bpd)
    x = rng.lognormal(0.5, 1.3, 50000) * (rng.random(50000) < 0.3)
    c, s = _hist(b, x)
    for p in (0.8, 0.9, 0.99, 0.999, 0.9999):
        exact = np.quantile(x, p, method="inverted_cdf")
        got = b.quantile(c, p, s)
        assert abs(got / exact - 1) <= b.ratio - 1 + 1e-12
    assert b.quantile(c, 0.5, s) == 0.0  # the dry majority


def test_edges_are_exact_thresholds():
    b = LogBins()
    for t in (0.01, 0.1, 1.0, 10.0, 100.0):
        j = b.edge_index(t)
        x = np.array([np.nextafter(t, 0), t, np.float32(t)], dtype=np.float64)
        idx = b.index(x)
        assert idx[0] == j - 1 and idx[1] == j and (idx[2] >= j) == (x[2] >= t)
    with pytest.raises(ValueError):
        b.edge_index(3.0)


def test_wasserstein_within_bound():
    b = LogBins()
    rng = np.random.default_rng(7)
    x = rng.lognormal(0.2, 1.2, 30000) * (rng.random(30000) < 0.2)
    y = 1.3 * rng.lognormal(0.2, 1.2, 30000) * (rng.random(30000) < 0.15)
    cx, sx = _hist(b, x)
    cy, sy = _hist(b, y)
    exact = wasserstein_distance(x, y)
    got = b.wasserstein(cx, cy, sx, sy)
    bound = (b.ratio - 1) * (x.mean() + y.mean()) + 2 * b.lo
    assert abs(got - exact) <= bound
    assert abs(got / exact - 1) < 0.01  # in practice much tighter than the bound
    assert b.wasserstein(cx, cx, sx, sx) == 0.0


def test_top_share():
    b = LogBins()
    rng = np.random.default_rng(8)
    x = rng.lognormal(0, 1.5, 100000) * (rng.random(100000) < 0.3)
    c, s = _hist(b, x)
    xs = np.sort(x)[::-1]
    exact = xs[:1000].sum() / x.sum()
    assert b.top_share(c, s) == pytest.approx(exact, rel=0.01)
