"""Quantile levels, rain transform, config loading, prediction assembly."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.baselines import common, registry
from tailshift.errors import BadInputError


def test_levels_are_strictly_increasing_inside_unit_interval():
    q = common.QUANTILE_LEVELS
    assert np.all(np.diff(q) > 0) and q[0] > 0 and q[-1] < 1
    assert common.MIDPOINT_MASK.sum() == common.N_MIDPOINT_LEVELS
    for t in common.TAIL_LEVELS:
        assert np.any(np.isclose(q, t))


def test_point_estimate_is_a_quadrature_of_the_mean():
    from scipy import stats

    w = common.level_weights()
    assert w.sum() == pytest.approx(1.0) and np.all(w > 0)
    mid = common.QUANTILE_LEVELS[common.MIDPOINT_MASK]
    np.testing.assert_allclose(common.level_weights(mid), 1 / 32)
    # U(0, 10): mean 5
    q = (10 * common.QUANTILE_LEVELS)[None, :]
    assert common.point_estimate(q)[0] == pytest.approx(5.0, rel=0.01)
    # a rain-like mixture: 85 % dry, log-normal wet part; the tail levels carry much of the mean
    dist = stats.lognorm(s=1.2, scale=1.0)
    tau = common.QUANTILE_LEVELS
    q = np.where(tau <= 0.85, 0.0, dist.ppf(np.clip((tau - 0.85) / 0.15, 0, 1)))[None, :]
    true = 0.15 * dist.mean()
    assert common.point_estimate(q)[0] == pytest.approx(true, rel=0.15)
    assert common.point_estimate(q)[0] > q[0, common.MIDPOINT_MASK].mean() * 1.2


def test_gprof_transform_roundtrip_and_continuity():
    r = np.array([0.0, 1e-4, 0.01, 0.5, 0.999, 1.0, 1.001, 20.0, 250.0])
    t = common.rain_transform(r, "gprof_nn")
    back = common.rain_inverse(t, "gprof_nn")
    np.testing.assert_allclose(back[2:], r[2:], rtol=1e-9)
    assert back[0] == pytest.approx(common.RAIN_FLOOR)
    assert np.all(np.diff(t) >= 0)
    assert common.rain_transform(np.array([1.0 - 1e-9]), "gprof_nn")[0] == pytest.approx(
        0.0, abs=1e-8
    )
    np.testing.assert_array_equal(common.rain_inverse(np.array([-1.0, 2.0]), "none"), [0.0, 2.0])


def test_unknown_config_key_is_bad_input():
    with pytest.raises(BadInputError, match="unknown config key"):
        registry.load_config("unet", {"widht": 8})


def test_config_type_and_value_errors():
    with pytest.raises(BadInputError, match="must be of type int"):
        registry.load_config("unet", {"width": "wide"})
    with pytest.raises(BadInputError, match="transform"):
        registry.load_config("unet", {"transform": "sqrt"})
    with pytest.raises(BadInputError, match="not 'unet'"):
        registry.load_config("unet", {"baseline": "gbm"})
    with pytest.raises(BadInputError, match="unknown baseline"):
        registry.get("random_forest")


def test_every_shipped_config_loads():
    files = sorted(registry.CONFIG_DIR.glob("*.toml"))
    names = {f.name for f in files}
    for spec in registry.REGISTRY.values():
        assert spec.default_config in names and spec.quick_config in names
    assert "unet_drain4.toml" in names
    for f in files:
        import tomllib

        baseline = tomllib.loads(f.read_text())["baseline"]
        cfg = registry.load_config(baseline, f)
        assert type(cfg).BASELINE == baseline
    drain = registry.load_config("unet", registry.CONFIG_DIR / "unet_drain4.toml")
    assert drain.channel_names == schema.DRAIN4_CHANNELS


def test_to_predictions_clips_and_sorts():
    inputs = xr.Dataset(coords={schema.DIM_SCENE: [5, 7]})
    q = np.zeros((2, len(common.QUANTILE_LEVELS), 3, 3), np.float32)
    q[:, 0] = -1.0
    q[:, 1] = 2.0
    q[:, 2] = 1.0  # crosses level 1
    out = common.to_predictions(inputs, q)
    v = out[schema.VAR_QUANTILES].values
    assert v.min() >= 0 and np.all(np.diff(v, axis=1) >= 0)
    assert out[schema.VAR_QUANTILES].attrs["units"] == schema.UNITS_PRECIP
    assert list(out[schema.DIM_SCENE].values) == [5, 7]
    assert schema.VAR_PRECIP in out


def test_tb_array_imputes_missing_channels(bl_data):
    ds = xr.open_zarr(bl_data / schema.OBS_STORE).isel(scene=slice(0, 2))
    sub = ds.sel({schema.DIM_CHANNEL: ["89.0V"]})
    fill = np.array([1.0, 2.0], np.float32)
    arr = common.tb_array(sub, ("89.0V", "89.0H"), fill=fill)
    assert arr.shape == (2, 2, 16, 16)
    assert np.all(arr[:, 1] == 2.0)
    np.testing.assert_array_equal(arr[:, 0], sub[schema.VAR_TB].values[:, 0])
    with pytest.raises(BadInputError, match="lack"):
        common.tb_array(sub, ("89.0V", "89.0H"))


def test_training_sources_checked_against_split(obs_only_split):
    from tailshift.splits import load_split

    split = load_split(obs_only_split)
    assert common.training_sources(("obs",), split) == ("obs",)
    assert common.training_sources((), split) == ("obs",)
    with pytest.raises(BadInputError, match="allows training on"):
        common.training_sources(("obs", "sim"), split)


def test_to_predictions_floors_below_the_label_floor_and_stays_monotone():
    import numpy as np
    import xarray as xr

    from tailshift import schema
    from tailshift.baselines.common import QUANTILE_LEVELS, to_predictions
    from tailshift.benchmark.world.grid import REFERENCE_FLOOR

    n_q = len(QUANTILE_LEVELS)
    q = np.tile(np.linspace(1e-4, 5.0, n_q, dtype=np.float32)[None, :, None, None], (2, 1, 3, 3))
    q[0, :, 0, 0] = 1e-3  # a log-space head's "dry": tiny but positive at every level
    inputs = xr.Dataset(coords={schema.DIM_SCENE: [10, 11]})
    out = to_predictions(inputs, q)
    qq = out[schema.VAR_QUANTILES].values
    assert np.all(qq[0, :, 0, 0] == 0.0) and out[schema.VAR_PRECIP].values[0, 0, 0] == 0.0
    assert np.all((qq == 0) | (qq >= REFERENCE_FLOOR))
    assert np.all(np.diff(qq, axis=1) >= 0)
    assert qq[1, -1, 2, 2] == np.float32(5.0)
