"""Tests of the observed forward model and the simulator (docs/world.md sections 5 and 6).

Physics expectations are checked on uniform columns (:func:`column_tb`) with stated tolerances;
the slab model is crude, so the tolerances are the ones docs/world.md's "(≈)" numbers allow.
"""

from __future__ import annotations

import numpy as np
import pytest

from tailshift.benchmark.world import rt
from tailshift.benchmark.world.forward import (
    SIM_OFFSETS,
    clw_observed,
    clw_simulator,
    column_tb,
    observed_tb,
    simulated_tb,
)
from tailshift.benchmark.world.grid import FACTOR, FineColumns, smooth_fine
from tailshift.errors import BadInputError
from tailshift.schema import CHANNEL_NAMES, CHANNELS, REGIME_SURFACE

IX = {name: i for i, name in enumerate(CHANNEL_NAMES)}


def tb_at(regime, rates, channel, **kw):
    return column_tb(np.asarray(rates, dtype=float), regime, **kw)[:, IX[channel]]


def make_cols(regimes, rain, convective=None, **over) -> FineColumns:
    """FineColumns for the given regimes with the regime climate as ancillaries."""
    regimes = np.asarray(regimes)
    n = len(regimes)
    clim = rt.REGIME_CLIMATE

    def per_scene(key):
        if key in over:
            return np.full(n, over[key], dtype=np.float32)
        return np.array([clim[r][key] for r in regimes], dtype=np.float32)

    rain = np.asarray(rain, dtype=np.float32)
    return FineColumns(
        rain=rain,
        convective=rain > 5 if convective is None else np.asarray(convective),
        surface=np.array([REGIME_SURFACE[r] for r in regimes]),
        skin_temperature=per_scene("skin_temperature"),
        t2m=per_scene("skin_temperature"),
        tcwv=per_scene("tcwv"),
        freezing_level=per_scene("freezing_level"),
        warming=np.zeros(n, dtype=np.float32),
        regime=regimes,
    )


def random_rain(n, size=32, seed=0, wet=1.0):
    """Smooth, patchy rain fields (mm/h) on a periodic fine grid."""
    rng = np.random.default_rng(seed)
    g = smooth_fine(rng.standard_normal((n, size, size)).astype(np.float32), 12.0, 12.0)
    g /= g.std(axis=(1, 2), keepdims=True)
    r = np.exp(1.0 + rng.standard_normal((n, size, size)))
    return np.where(g > wet, r * (1 + 3 * (g - wet)), 0.0).astype(np.float32)


ALL_REGIMES = ["tropical_ocean", "midlat_ocean", "midlat_land", "tropical_land", "snow_land"]


# --------------------------------------------------------------------------------------------
# clear sky
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("regime", list(rt.CLEAR_SKY_TARGETS))
def test_clear_sky_backgrounds_match_science_table(regime):
    """Windows (10-89 GHz) within 3 K, sounding channels (166/183) within 6 K of docs/world.md."""
    tb = column_tb([0.0], regime)[0]
    target = np.array(rt.CLEAR_SKY_TARGETS[regime])
    window = rt.FREQ < 100
    assert np.all(np.abs(tb - target)[window] < 3.0), (tb - target).round(1)
    assert np.all(np.abs(tb - target)[~window] < 6.0), (tb - target).round(1)


def test_tropical_land_background_close_to_land_row():
    """Tropical land (warmer, moister than the calibration climate) within 6 K of the land row."""
    tb = column_tb([0.0], "tropical_land")[0]
    assert np.all(np.abs(tb - np.array(rt.CLEAR_SKY_TARGETS["midlat_land"])) < 6.0)


def test_committed_calibration_constants_reproduce_the_fit():
    cal = rt.calibrate_clear_sky()
    np.testing.assert_allclose(cal["land_emis"], rt.LAND_EMIS, atol=2e-3)
    np.testing.assert_allclose(cal["snow_emis"], rt.SNOW_EMIS, atol=2e-3)
    np.testing.assert_allclose(cal["gas_b"], rt.GAS_B, atol=1e-4)
    # documented residuals: windows within 1.5 K, sounding channels within 5 K
    for res in cal["residuals"].values():
        assert np.all(np.abs(res[rt.FREQ < 100]) < 1.5)
        assert np.all(np.abs(res) < 5.0)


def test_emissivities_in_the_science_ranges():
    window = rt.FREQ < 150
    assert np.all((rt.LAND_EMIS[window] > 0.90) & (rt.LAND_EMIS[window] < 0.97))
    assert rt.SNOW_EMIS[0] > 0.93  # 0.95 at 10 GHz ...
    assert rt.SNOW_EMIS[IX["89.0V"]] < 0.8  # ... decreasing towards 0.72
    e = rt.ocean_emissivity(300.0, 0.0)
    assert 0.5 < e[IX["10.65V"]] < 0.6 and 0.2 < e[IX["10.65H"]] < 0.3  # Fresnel/Debye, 53 deg
    assert np.all(rt.ocean_emissivity(300.0, 10.0) >= e)  # wind roughens: never lower


# --------------------------------------------------------------------------------------------
# emission signal (docs/world.md, The observed forward model "Expected behaviour")
# --------------------------------------------------------------------------------------------
def test_tropical_19v_emission_curve():
    """198 -> 236 -> 262 -> 271 K at 0/2/5/10 mm/h within +-15 K (the slab rain layer at
    Ts - 3.25 H0 saturates ~10 K warmer than the table), saturating near 10 mm/h."""
    tb = tb_at("tropical_ocean", [0, 2, 5, 10, 20], "18.7V", convective=False)
    np.testing.assert_allclose(tb[:4], [198, 236, 262, 271], atol=15)
    assert tb[1] - tb[0] > 25
    assert tb[4] - tb[3] < 4  # saturated between 10 and 20 mm/h
    assert tb[3] - tb[2] < tb[2] - tb[1]


def test_37v_saturates_near_2_mmh():
    tb = tb_at("tropical_ocean", [0, 2, 5, 10], "36.64V", convective=False)
    assert tb[1] - tb[0] > 40
    assert abs(tb[2] - tb[1]) < 8 and abs(tb[3] - tb[1]) < 8


def test_10v_keeps_rising_to_40_mmh():
    tb = tb_at("tropical_ocean", [5, 10, 20, 40, 80], "10.65V", convective=False)
    assert np.all(np.diff(tb[:4]) > 5)
    assert abs(tb[4] - tb[3]) < 5  # and saturates beyond


def test_midlatitude_19v_saturates_near_20_mmh():
    tb = tb_at("midlat_ocean", [5, 10, 20, 40], "18.7V", convective=False)
    assert tb[2] - tb[1] > 5  # still rising between 10 and 20 (the tropics saturated by 10)
    assert abs(tb[3] - tb[2]) < 3


def test_land_19v_nearly_flat_with_rain():
    """Within 8 K from 0 to 50 mm/h (the ocean swings by ~85 K): the warm, e ~ 0.96 surface
    masks the emission signal (docs/world.md)."""
    ocean = np.ptp(tb_at("tropical_ocean", [0, 1, 5, 10, 20, 50], "18.7V"))
    for regime in ("midlat_land", "tropical_land"):
        tb = tb_at(regime, [0, 1, 5, 10, 20, 50], "18.7V")
        assert np.ptp(tb) < 8, tb
        assert np.ptp(tb) < 0.1 * ocean


# --------------------------------------------------------------------------------------------
# scattering signal
# --------------------------------------------------------------------------------------------
def test_89v_depression_over_land_convective():
    """15/50/100 K at 1/10/50 mm/h (docs/world.md), within +-6/10/10 K."""
    tb = tb_at("midlat_land", [0, 1, 10, 50], "89.0V", convective=True)
    dep = tb[0] - tb[1:]
    for d, target, tol in zip(dep, [15, 50, 100], [6, 10, 10], strict=True):
        assert abs(d - target) < tol, dep


def test_89v_depression_over_ocean_convective():
    """20/60 K at 10/50 mm/h (docs/world.md) within +-6 K (the ocean IWP relation is tuned to
    them, rt.IWP_CONV_OCEAN: 18/64 K)."""
    tb = tb_at("tropical_ocean", [0, 10, 50], "89.0V", convective=True)
    dep = tb[0] - tb[1:]
    np.testing.assert_allclose(dep, [20, 60], atol=6)


def test_stratiform_ice_scatters_less_than_convective():
    strat = tb_at("midlat_land", [0, 10], "89.0V", convective=False)
    conv = tb_at("midlat_land", [0, 10], "89.0V", convective=True)
    assert strat[0] - strat[1] < 0.3 * (conv[0] - conv[1])


def test_pct_of_heavy_convection_below_spencer_threshold():
    """85-GHz polarisation-corrected temperature < 255 K flags precipitation (Spencer et al.
    1989): PCT = 1.818 V - 0.818 H must drop below 255 K in heavy convection over land."""
    tb = column_tb([0.0, 20.0], "midlat_land", convective=True)
    pct = 1.818 * tb[:, IX["89.0V"]] - 0.818 * tb[:, IX["89.0H"]]
    assert pct[0] > 255 > pct[1]


def test_snow_166_polarisation_signal():
    """Falling snow with IWP > 0.24 kg m-2 and TPW > 3.6 kg m-2 changes 166V-166H by more than
    the NEDT of the difference (~1 K) and depresses 166V (Panegrossi et al. 2017)."""
    rates = np.array([0.0, 2.0, 5.0])  # convective snow: IWP 0.30 and 0.53 kg m-2 over land
    assert np.all(rt.iwp(rates[1:], 1.0, False) > 0.24)
    tb = column_tb(rates, "snow_land", convective=True, tcwv=8.0)
    pd = tb[:, IX["166.5V"]] - tb[:, IX["166.5H"]]
    nedt_pd = np.hypot(CHANNELS[IX["166.5V"]].nedt, CHANNELS[IX["166.5H"]].nedt)
    assert np.all(pd[1:] - pd[0] > nedt_pd)
    assert tb[0, IX["166.5V"]] - tb[2, IX["166.5V"]] > 20


# --------------------------------------------------------------------------------------------
# field operators: shapes, determinism, beam filling, parallax, surface noise
# --------------------------------------------------------------------------------------------
def test_observed_tb_shape_dtype_and_range():
    cols = make_cols(ALL_REGIMES, random_rain(5, 32, seed=1))
    tb = observed_tb(cols, np.random.default_rng(0))
    assert tb.shape == (5, 13, 32 // FACTOR, 32 // FACTOR) and tb.dtype == np.float32
    assert np.all(np.isfinite(tb)) and tb.min() > 60 and tb.max() < 320
    again = observed_tb(cols, np.random.default_rng(0))
    np.testing.assert_array_equal(tb, again)
    other = observed_tb(cols, np.random.default_rng(1))
    assert not np.array_equal(tb, other)


def test_uniform_field_matches_column_model():
    rain = np.full((2, 32, 32), 8.0, dtype=np.float32)
    cols = make_cols(["tropical_ocean", "midlat_land"], rain, convective=np.ones_like(rain, bool))
    tb = observed_tb(cols, np.random.default_rng(0)).mean(axis=(2, 3))
    for i, reg in enumerate(["tropical_ocean", "midlat_land"]):
        col = column_tb([8.0], reg, convective=True)[0]
        # noise averages out (0.8 K / 16); land emissivity noise and ocean wind are random
        tol = 3.0 if reg == "midlat_land" else 4.0
        np.testing.assert_allclose(tb[i], col, atol=tol)


def test_beam_filling_dilutes_small_cells_more_at_low_frequency():
    rain = np.zeros((1, 64, 64), dtype=np.float32)
    rain[0, 31:33, 31:33] = 30.0  # one 4 km x 4 km cell
    cols = make_cols(["tropical_ocean"], rain, convective=rain > 0)
    tb = observed_tb(cols, np.random.default_rng(0))[0]
    clear = column_tb([0.0], "tropical_ocean")[0]
    full = column_tb([30.0], "tropical_ocean")[0]
    sig10 = (tb[IX["10.65V"]].max() - clear[IX["10.65V"]]) / (full - clear)[IX["10.65V"]]
    sig89 = (clear[IX["89.0V"]] - tb[IX["89.0V"]].min()) / (clear - full)[IX["89.0V"]]
    assert sig10 < 0.15  # a 32 x 19 km footprint sees a 4 km cell as a small fraction
    assert sig89 > 2 * sig10


def _centroid_y(w, floor=0.0):
    w = np.clip(w - floor, 0, None)
    return float((w.sum(axis=1) * np.arange(w.shape[0])).sum() / w.sum())


def test_parallax_shifts_ice_signal_along_y_in_observations_only():
    yy, xx = np.mgrid[0:64, 0:64]
    blob = (40.0 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (2 * 3.0**2))).astype(np.float32)
    rain = blob[None]
    cols = make_cols(["midlat_land"], rain, convective=rain > 0.5, freezing_level=4000.0)
    expected_px = np.tan(np.radians(52.8)) * 4.0 / (2.0 * FACTOR)  # km -> output pixels
    c_rain = _centroid_y(rain[0].reshape(32, 2, 32, 2).mean(axis=(1, 3)))
    shifts = {}
    for name, tb in (
        ("obs", observed_tb(cols, np.random.default_rng(0))),
        ("sim", simulated_tb(cols, np.random.default_rng(0), blend=0.0)),
    ):
        dep = np.median(tb[0, IX["89.0V"]]) - tb[0, IX["89.0V"]]
        shifts[name] = _centroid_y(dep, floor=10.0) - c_rain  # ignore emissivity noise
    assert abs(shifts["obs"] - expected_px) < 0.3, shifts
    assert abs(shifts["sim"]) < 0.3, shifts


def test_land_emissivity_noise_is_spatially_correlated():
    rain = np.zeros((2, 64, 64), dtype=np.float32)
    cols = make_cols(["midlat_land", "tropical_ocean"], rain)
    tb = observed_tb(cols, np.random.default_rng(3))[:, IX["89.0V"]]
    land, ocean = tb[0], tb[1]
    assert 0.8 < land.std() < 8.0  # sigma_e 0.012 x ~270 K contrast, smoothed by the footprint
    assert ocean.std() < 0.6  # only NEDT (0.32 K) over the homogeneous ocean
    a = land - land.mean()
    lag1 = (a[1:] * a[:-1]).mean() / a.var()
    assert lag1 > 0.8


# --------------------------------------------------------------------------------------------
# simulator and the lambda blend (docs/world.md, The simulator)
# --------------------------------------------------------------------------------------------
def test_blend_one_reproduces_observed_exactly():
    cols = make_cols(ALL_REGIMES, random_rain(5, 32, seed=2))
    obs = observed_tb(cols, np.random.default_rng(42))
    sim1 = simulated_tb(cols, np.random.default_rng(42), blend=1.0)
    np.testing.assert_array_equal(obs, sim1)


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), "half", None])
def test_blend_out_of_range_is_bad_input(bad):
    cols = make_cols(["midlat_land"], np.zeros((1, 4, 4)))
    with pytest.raises(BadInputError, match="blend"):
        simulated_tb(cols, np.random.default_rng(0), blend=bad)


def test_clear_sky_land_difference_equals_the_offsets():
    rain = np.zeros((4, 64, 64), dtype=np.float32)
    cols = make_cols(["midlat_land", "tropical_land", "snow_land", "snow_land"], rain)
    obs = observed_tb(cols, np.random.default_rng(7))
    sim = simulated_tb(cols, np.random.default_rng(7))
    diff = sim - obs
    np.testing.assert_allclose(
        diff, np.broadcast_to(SIM_OFFSETS[None, :, None, None], diff.shape), atol=2e-3
    )
    assert np.all((np.abs(SIM_OFFSETS) >= 1.0) & (np.abs(SIM_OFFSETS) <= 2.0))


def test_simulator_ocean_is_windless_and_specular():
    cols = make_cols(["tropical_ocean"] * 4, np.zeros((4, 16, 16)))
    obs = observed_tb(cols, np.random.default_rng(0))
    sim = simulated_tb(cols, np.random.default_rng(0)) - SIM_OFFSETS[None, :, None, None]
    gap_h = (obs - sim)[:, IX["10.65H"]].mean()
    gap_v = (obs - sim)[:, IX["10.65V"]].mean()
    assert gap_h > 1.0 and abs(gap_v) < gap_h / 3  # roughness warms H, hardly V (53 deg)


def test_rainy_scenes_differ_by_several_kelvin():
    cols = make_cols(ALL_REGIMES, random_rain(5, 32, seed=3, wet=0.5))
    obs = observed_tb(cols, np.random.default_rng(1))
    sim = simulated_tb(cols, np.random.default_rng(1))
    wet = cols.rain.reshape(5, 16, 2, 16, 2).mean(axis=(2, 4)) > 1.0
    d = (sim - obs).transpose(1, 0, 2, 3)[:, wet]  # (channel, wet pixels)
    rms = np.sqrt((d**2).mean(axis=1))
    assert rms.mean() > 3.0, rms.round(1)
    assert rms.max() > 6.0, rms.round(1)
    assert rms.max() < 60.0, rms.round(1)


def test_blend_sweep_closes_the_gap_monotonically():
    cols = make_cols(ALL_REGIMES, random_rain(5, 32, seed=4, wet=0.5))
    obs = observed_tb(cols, np.random.default_rng(9))
    gaps = [
        float(
            np.sqrt(((simulated_tb(cols, np.random.default_rng(9), blend=lam) - obs) ** 2).mean())
        )
        for lam in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False)), gaps
    assert gaps[-1] == 0.0 and gaps[0] > 2.0


def test_clw_relations_differ():
    r = np.array([0.0, 0.5, 2.0, 10.0, 60.0], dtype=np.float32)
    obs, sim = clw_observed(r), clw_simulator(r)
    np.testing.assert_allclose(obs, [0, 0.12, 0.18, 0.5, 1.0], atol=1e-6)
    assert obs[0] == sim[0] == 0
    assert np.all(np.abs(sim[1:] - obs[1:]) > 0.05)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
def test_bad_columns_raise_bad_input():
    good = make_cols(["midlat_land"], np.zeros((1, 8, 8)))
    rng = np.random.default_rng(0)
    neg = make_cols(["midlat_land"], -np.ones((1, 8, 8)))
    with pytest.raises(BadInputError, match="non-negative"):
        observed_tb(neg, rng)
    odd = make_cols(["midlat_land"], np.zeros((1, 7, 8)))
    with pytest.raises(BadInputError, match="FACTOR"):
        observed_tb(odd, rng)
    good.surface = np.array(["lava"])
    with pytest.raises(BadInputError, match="surface"):
        observed_tb(good, rng)
    good = make_cols(["midlat_land"], np.zeros((1, 8, 8)))
    good.tcwv = np.array([1.0, 2.0], dtype=np.float32)
    with pytest.raises(BadInputError, match="tcwv"):
        observed_tb(good, rng)
    good = make_cols(["midlat_land"], np.zeros((1, 8, 8)))
    with pytest.raises(BadInputError, match="Generator"):
        observed_tb(good, 0)


def test_regime_climate_matches_the_generator_climate():
    """The calibration / simulator climate equals the generator's present-day regime means."""
    climate = pytest.importorskip("tailshift.benchmark.world.climate")
    regimes = getattr(climate, "REGIMES", None)
    if not isinstance(regimes, dict):
        pytest.skip("tailshift.benchmark.world.climate.REGIMES is not a dict of regime parameters")
    for name, ours in rt.REGIME_CLIMATE.items():
        theirs = regimes[name]
        assert ours["skin_temperature"] == pytest.approx(theirs.t_skin)
        assert ours["tcwv"] == pytest.approx(theirs.tcwv)
        assert ours["freezing_level"] == pytest.approx(theirs.freezing_level)


def test_fast_column_code_matches_the_reference_formulas():
    """forward's in-place float32 column code == rt.slab_tb + rt.ice_screen in float64."""
    rates = np.array([0.0, 0.7, 4.0, 25.0])
    for regime in ("tropical_ocean", "midlat_land", "snow_land"):
        clim = rt.REGIME_CLIMATE[regime]
        ts, w, h0 = clim["skin_temperature"], clim["tcwv"], clim["freezing_level"] / 1000
        ocean = REGIME_SURFACE[regime] == "ocean"
        if ocean:
            emis = rt.ocean_emissivity(ts, rt.WIND_MEAN)
        else:
            emis = rt.SNOW_EMIS if regime == "snow_land" else rt.LAND_EMIS
        t_g, up, t_dn = rt.gas_terms(ts, w)
        g = rt.RAIN_GROUP
        kap = (1 - rt.RAIN_OMEGA[g]) * rt.P838_K[g] * rates[:, None] ** rt.P838_ALPHA[g] / 4.343
        clw = np.where(rates > 0, np.minimum(0.1 + 0.04 * rates, 1.0), 0.0)[:, None]
        t_r = np.exp(-(kap * h0 + rt.CLOUD_KL[g] * clw / 4.343) / rt.MU)
        ref = rt.slab_tb(t_r, ts - 3.25 * h0, emis, ts, t_g, up, t_dn)
        x89 = rt.BETA89_GRAUPEL * rt.iwp(rates, 1.0, ocean)[:, None]
        ref = rt.ice_screen(ref, rt.ICE_BETA_REL * x89 / rt.MU)
        np.testing.assert_allclose(column_tb(rates, regime, convective=True), ref, atol=0.02)


def test_simulator_uses_the_climatological_freezing_level():
    rain = np.full((1, 16, 16), 5.0, dtype=np.float32)
    low = make_cols(["tropical_ocean"], rain, freezing_level=3000.0)
    high = make_cols(["tropical_ocean"], rain, freezing_level=5500.0)
    ch = IX["18.7V"]
    obs = [observed_tb(c, np.random.default_rng(0))[0, ch].mean() for c in (low, high)]
    sim = [simulated_tb(c, np.random.default_rng(0))[0, ch].mean() for c in (low, high)]
    assert obs[1] - obs[0] > 5.0  # a deeper rain layer emits more
    assert abs(sim[1] - sim[0]) < 1e-3  # the simulator ignores the scene's freezing level


def test_simulator_ice_optics_scatter_less_at_89_more_at_166():
    """Geer & Baordo (2014) factors: x 0.6 at 37-89 GHz, x 1.3 at 166-183 GHz."""
    obs = column_tb([0.0, 20.0], "midlat_land", convective=True, blend=1.0)
    sim = column_tb([0.0, 20.0], "midlat_land", convective=True, blend=0.0)
    dep_obs, dep_sim = obs[0] - obs[1], sim[0] - sim[1]
    assert dep_sim[IX["89.0V"]] < 0.8 * dep_obs[IX["89.0V"]]
    assert dep_sim[IX["166.5V"]] > dep_obs[IX["166.5V"]]


def test_simulator_rain_absorption_weakens_the_emission_signal():
    """Rain absorption x 0.85: at 10 GHz (which barely sees cloud) the simulator's emission
    signal at 10 mm/h is several K weaker than the observed one, beyond the clear-sky gap."""
    obs = column_tb([0.0, 10.0], "midlat_ocean", convective=False, blend=1.0)
    sim = column_tb([0.0, 10.0], "midlat_ocean", convective=False, blend=0.0) - SIM_OFFSETS
    gap = (sim - obs)[:, IX["10.65V"]]
    assert gap[1] < gap[0] - 3.0
