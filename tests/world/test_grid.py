"""Grid helpers: block mean and the reference label (benchmark/world/grid.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tailshift.benchmark.world import grid


def test_block_mean_equals_reshape_mean():
    x = np.random.default_rng(0).standard_normal((3, 2, 16, 12)).astype(np.float32)
    ref = x.reshape(3, 2, 8, 2, 6, 2).astype(np.float64).mean(axis=(-3, -1))
    got = grid.block_mean(x)
    assert got.dtype == np.float32 and got.shape == (3, 2, 8, 6)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        grid.block_mean(x.astype(np.float64), 4),
        x.reshape(3, 2, 4, 4, 3, 4).astype(np.float64).mean(axis=(-3, -1)),
        rtol=1e-12,
    )
    with pytest.raises(ValueError):
        grid.block_mean(x[..., :15, :])


def test_reference_precip_has_no_ringing_and_keeps_the_rain():
    from tailshift.benchmark.world import rain as rain_mod

    rain = np.zeros((4, 64, 64), dtype=np.float32)
    rain[0, 20:24, 30:33] = 40.0  # a convective core in a dry scene
    rngs = [np.random.default_rng([5, i]) for i in range(3)]
    rain[1:] = rain_mod.rain_batch(
        rngs, ["midlat_ocean", "snow_land", "tropical_land"], np.ones(3), (64, 64)
    )[0]
    ref = grid.reference_precip(rain)
    assert ref.dtype == np.float32 and ref.shape == (4, 32, 32)
    assert ref.min() >= 0.0
    # nothing between 0 and the floor (FFT ringing zeroed), and exact zeros far from rain
    assert not np.any((ref > 0) & (ref < grid.REFERENCE_FLOOR))
    assert np.all(ref[0, :, :8] == 0.0)
    # the floor removes a small share of the rain volume (<= ~0.5 %, light snow the most)
    np.testing.assert_allclose(ref.mean(axis=(1, 2)), rain.mean(axis=(1, 2)), rtol=1e-2)


def test_reference_footprint_is_in_the_science_range():
    """docs/world.md, Rain fields: output after footprint smoothing of ~4-5 km (Gaussian * 4-km box)."""
    total = 2.355 * np.sqrt((grid.REFERENCE_FWHM_KM / 2.355) ** 2 + grid.OUT_KM**2 / 12.0)
    assert 4.0 <= total <= 5.0
