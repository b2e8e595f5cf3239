"""Rain fields of the synthetic world against docs/world.md, Rain fields targets and section 4 rates."""

from __future__ import annotations

import numpy as np
import pytest

from tailshift import schema
from tailshift.benchmark.world import climate, grid, rain

SHAPE = (64, 64)


def _batch(regime: str, n: int, warming: float, key: int, shape=SHAPE):
    rngs = [np.random.default_rng([key, i]) for i in range(n)]
    return rain.rain_batch(rngs, [regime] * n, np.full(n, warming), shape)


@pytest.fixture(scope="module")
def present():
    """150 scenes per regime in the present climate (REFERENCE_WARMING)."""
    return {r: _batch(r, 150, climate.REFERENCE_WARMING, 3) for r in schema.REGIMES}


# Tolerances (factors) on the docs/world.md, Rain fields targets, which describe the reference label
# on the 4-km output grid (climate.TARGETS). The regimes are tuned to meet them within ~12 %
# (climate.REGIMES docstring); the test allows 20 % (25 % for P99.9, which rests on ~100
# clustered pixels per regime here).
TOL = {"rain_frac": 1.2, "cond_mean": 1.2, "p99": 1.2, "p999": 1.25}


@pytest.fixture(scope="module")
def present_reference():
    """240 scenes per regime of 128 x 128 fine pixels (the quick / standard size), present
    climate, as the 64 x 64 reference label ``grid.reference_precip``."""
    out = {}
    for k, regime in enumerate(schema.REGIMES):
        rngs = [np.random.default_rng([3, k, i]) for i in range(240)]
        r, _ = rain.rain_batch(
            rngs, [regime] * 240, np.full(240, climate.REFERENCE_WARMING), (128, 128)
        )
        out[regime] = grid.reference_precip(r)
    return out


@pytest.mark.parametrize("regime", schema.REGIMES)
def test_reference_statistics_match_science_targets(present_reference, regime):
    r = present_reference[regime]
    wet = r[r > schema.RAIN_THRESHOLD]
    got = {
        "rain_frac": (r > schema.RAIN_THRESHOLD).mean(),
        "cond_mean": wet.mean(),
        "p99": np.percentile(wet, 99),
        "p999": np.percentile(wet, 99.9),
    }
    for key, target in climate.TARGETS[regime].items():
        ratio = got[key] / target
        assert 1 / TOL[key] <= ratio <= TOL[key], (regime, key, got[key], target)


def test_reference_is_smoother_than_the_fine_truth(present):
    """Beam filling: the label's extremes are well below the fine truth's."""
    for regime, (r, _) in present.items():
        ref = grid.reference_precip(r)
        wet_f, wet_r = r[r > schema.RAIN_THRESHOLD], ref[ref > schema.RAIN_THRESHOLD]
        assert np.percentile(wet_r, 99.9) < 0.8 * np.percentile(wet_f, 99.9), regime


def test_fields_are_physical(present):
    for regime, (r, c) in present.items():
        assert r.dtype == np.float32 and c.dtype == bool and r.shape == (150, *SHAPE)
        assert np.all(np.isfinite(r)) and r.min() >= 0.0
        assert r.max() <= climate.REGIMES[regime].cap * max(climate.REGION_INTENSITY)
        assert not np.any(c & (r == 0)), "convective pixels must rain"
        # some dry scenes (docs/world.md: "include dry scenes"), but most scenes rain
        dry = (r.reshape(150, -1).max(axis=1) == 0).mean()
        assert 0.0 < dry < 0.2, (regime, dry)


def test_tropical_stratiform_share(present):
    """Schumacher & Houze (2003): tropical stratiform ~73 % of rain area, ~40 % of volume."""
    r, c = present["tropical_ocean"]
    wet = r > 0
    area = (wet & ~c).sum() / wet.sum()
    volume = r[wet & ~c].sum() / r.sum()
    assert 0.70 <= area <= 0.82
    assert 0.25 <= volume <= 0.50


def test_scenes_do_not_depend_on_batch():
    one, c1 = rain.rain_fields(np.random.default_rng([5, 1]), "midlat_land", 1.5, SHAPE)
    batch, cb = rain.rain_batch(
        [np.random.default_rng([5, i]) for i in range(3)],
        ["snow_land", "midlat_land", "tropical_ocean"],
        np.array([0.5, 1.5, 2.5]),
        SHAPE,
    )
    np.testing.assert_array_equal(one, batch[1])
    np.testing.assert_array_equal(c1, cb[1])


def test_spatial_structure_is_organised(present):
    """Rain is organised (neighbours correlated), not salt-and-pepper."""
    r, _ = present["midlat_ocean"]
    wet = r > 0
    # P(neighbour wet | wet): the wet fraction (~0.14) for independent pixels
    cond = (wet[:, 1:, :] & wet[:, :-1, :]).sum() / wet[:, :-1, :].sum()
    assert cond > 0.6


def test_gpd_tail_is_continuous_and_capped():
    p = climate.REGIMES["tropical_ocean"]
    u = np.array([p.gpd_u - 1e-7, p.gpd_u + 1e-7, 0.999999999])
    q = rain.convective_quantile(u, p.conv_m, p.conv_s, p.gpd_xi, p.gpd_u, p.cap)
    assert q[1] == pytest.approx(q[0], rel=1e-4)
    assert q[2] == p.cap


def test_war_compensation_keeps_the_mean_rate():
    """E(dT) * WAR'(dT) rises exactly as exp(a_mean dT) (docs/world.md, Warming path)."""
    for name, p in climate.REGIMES.items():
        dt = np.array([-1.0, 0.0, 2.0])
        domain = rain.mean_intensity(name, dt) * rain.war_compensation(name, dt)
        np.testing.assert_allclose(domain / domain[1], np.exp(p.a_mean * dt), rtol=1e-10)
        assert np.all(np.diff(rain.war_compensation(name, dt)) < 0)  # fewer wet pixels


def _weighted_percentile(sorted_vals, scene_of, weights, q):
    cw = np.cumsum(weights[scene_of])
    return sorted_vals[np.searchsorted(cw, q / 100.0 * cw[-1])]


#: Bias allowance on the domain-mean rate (log-rate per K): the WAR compensation integrates the
#: class distributions but not the max() that lifts cell edges to their stratiform background
#: (~1 % of the volume, a share that grows by ~0.1 %/K); measured <= 0.0013 per K (snow_land).
MEAN_RATE_ALLOWANCE = 0.0015


@pytest.mark.parametrize("regime", ["midlat_land", "snow_land", "tropical_ocean"])
def test_warming_scaling_is_recovered(regime):
    """Fit log(statistic) on warming; the scene-bootstrap 95 % CI contains the true rate.

    Common random numbers: the same 200 scene seeds at warming offsets 0, 2, 4 K (a paired
    design, so the mean's CI is sharp); bootstrap resamples scenes jointly across levels.
    Statistics: domain-mean rain (rate ``a_mean``), P99.5 of convective pixels
    (``a_ext_conv``), P99.5 of stratiform pixels (``a_ext_strat``).
    """
    p = climate.REGIMES[regime]
    n, levels = 200, np.array([0.0, 2.0, 4.0])
    per_level = []
    for d in levels:
        r, c = _batch(regime, n, climate.REFERENCE_WARMING + d, 11)
        scene = np.broadcast_to(np.arange(n)[:, None, None], r.shape)
        entry = {"mean": r.mean(axis=(1, 2))}
        for cls, mask in (("conv", c), ("strat", (~c) & (r > 0))):
            vals, sc = r[mask], scene[mask]
            o = np.argsort(vals, kind="stable")
            entry[cls] = (vals[o], sc[o])
        per_level.append(entry)

    def slopes(w):
        stats = [
            [
                np.log(np.sum(e["mean"] * w) / np.sum(w)),
                np.log(_weighted_percentile(*e["conv"], w, 99.5)),
                np.log(_weighted_percentile(*e["strat"], w, 99.5)),
            ]
            for e in per_level
        ]
        return np.polyfit(levels, np.array(stats), 1)[0]

    est = slopes(np.ones(n))
    rng = np.random.default_rng(0)
    boot = np.array([slopes(rng.multinomial(n, np.full(n, 1.0 / n))) for _ in range(300)])
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    truth = [p.a_mean, p.a_ext_conv, p.a_ext_strat]
    allowance = [MEAN_RATE_ALLOWANCE, 0.0, 0.0]
    for k, name in enumerate(["a_mean", "a_ext_conv", "a_ext_strat"]):
        assert lo[k] - allowance[k] <= truth[k] <= hi[k] + allowance[k], (
            name,
            est[k],
            lo[k],
            hi[k],
        )
    # informative: the mean's CI is narrow and the extremes scale faster than the mean (0.02:
    # the heavier convective tails tuned for the reference grid, GPD shape 0.3, widen it from
    # ~0.012 to ~0.017 for midlat_land)
    assert hi[0] - lo[0] < 0.02, (lo[0], hi[0])
    assert lo[1] > hi[0] and lo[2] > hi[0]


def test_warming_path_matches_ar6():
    """Period means of the path against IPCC AR6 WG1 (SPM A.1.2, Table SPM.1 SSP2-4.5)."""
    years = np.arange(1980, 2101)
    w = climate.warming_of_year(years + 0.5)
    assert np.all(np.diff(w) > 0)

    def period(a, b):
        return w[(years >= a) & (years <= b)].mean()

    assert period(2001, 2020) == pytest.approx(0.99, abs=0.03)
    assert period(2011, 2020) == pytest.approx(1.09, abs=0.03)
    assert period(2021, 2040) == pytest.approx(1.5, abs=0.05)
    assert period(2041, 2060) == pytest.approx(2.0, abs=0.05)
    assert period(2081, 2100) == pytest.approx(2.7, abs=0.05)
    assert float(climate.warming_of_year(2025)) == pytest.approx(1.36, abs=0.02)


def test_ancillaries_follow_warming():
    """docs/world.md, Warming path: T +dT, TCWV x 1.07**dT, freezing level +0.15-0.2 km/K."""
    warming = np.array([climate.REFERENCE_WARMING, climate.REFERENCE_WARMING + 2.0])
    zero = np.zeros(2)
    a = climate.ancillary("tropical_ocean", warming, np.array([1, 1]), zero, zero)
    assert a["t2m"][1] - a["t2m"][0] == pytest.approx(2.0, abs=1e-4)
    assert a["t_skin"][1] - a["t_skin"][0] == pytest.approx(2.0, abs=1e-4)
    assert a["tcwv"][1] / a["tcwv"][0] == pytest.approx(1.07**2, rel=1e-5)
    assert 300.0 <= a["freezing_level"][1] - a["freezing_level"][0] <= 400.0
    assert a["freezing_level"][0] == pytest.approx(4800.0)
    snow = climate.ancillary("snow_land", warming - 3.0, np.array([1, 1]), zero, zero)
    assert np.all(snow["freezing_level"] >= 0.0)


def test_true_scaling_table():
    ts = climate.true_scaling()
    assert set(ts) == set(schema.REGIMES)
    for r in ts.values():
        assert 0.02 <= r["a_mean"] <= 0.031  # Pendergrass 2020: 2.1-3.1 %/K
        assert 0.055 <= r["a_ext_strat"] <= 0.075  # CC
        assert r["a_ext_conv"] >= r["a_ext_strat"] - 1e-12
    assert ts["midlat_land"]["a_ext_conv"] >= 0.12  # ~2xCC (Lenderink & van Meijgaard 2008)
