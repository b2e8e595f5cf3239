"""Climatology: histogram quantiles, fallbacks, run round trip."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.baselines import climatology, common, registry


def test_histogram_quantiles_match_numpy():
    rng = np.random.default_rng(0)
    r = np.where(rng.random(200_000) < 0.3, rng.lognormal(0, 1.2, 200_000), 0.0)
    edges = climatology._edges(100)
    q = climatology.histogram_quantiles(climatology.histogram(r, edges), edges, common.QUANTILE_LEVELS)
    ref = np.quantile(r, common.QUANTILE_LEVELS)
    wet = ref > 0.05
    np.testing.assert_allclose(q[wet], ref[wet], rtol=0.03)
    assert np.all(q[ref == 0] == 0)


def _inputs(regimes, surfaces, size=4):
    n = len(regimes)
    return xr.Dataset(
        {schema.VAR_TB: ((schema.DIM_SCENE, schema.DIM_CHANNEL, schema.DIM_Y, schema.DIM_X),
                         np.zeros((n, 1, size, size), np.float32))},
        coords={schema.DIM_SCENE: np.arange(n), schema.DIM_CHANNEL: ["89.0V"],
                schema.COORD_REGIME: (schema.DIM_SCENE, np.array(regimes)),
                schema.VAR_SURFACE: (schema.DIM_SCENE, np.array(surfaces))},
    )


def test_fallback_regime_surface_global():
    L = len(common.QUANTILE_LEVELS)
    tables = {"regime": (np.array(["midlat_ocean"]), np.full((1, L), 1.0, np.float32)),
              "surface_type": (np.array(["ocean", "land"]),
                               np.stack([np.full(L, 2.0), np.full(L, 3.0)]).astype(np.float32))}
    model = climatology.ClimatologyModel("regime", tables, np.full(L, 4.0))
    out = model.predict(_inputs(["midlat_ocean", "tropical_ocean", "tropical_land", "snow_land"],
                                ["ocean", "ocean", "land", "snow"]))
    got = out[schema.VAR_QUANTILES].values[:, 0, 0, 0]
    np.testing.assert_array_equal(got, [1.0, 2.0, 3.0, 4.0])
    # group_by changes the output (docs/design.md, Conventions)
    by_surface = climatology.ClimatologyModel("surface_type", tables, np.full(L, 4.0))
    got = by_surface.predict(_inputs(["midlat_ocean"], ["ocean"]))[schema.VAR_QUANTILES].values
    assert got[0, 0, 0, 0] == 2.0
    flat = climatology.ClimatologyModel("none", tables, np.full(L, 4.0))
    assert flat.predict(_inputs(["midlat_ocean"], ["ocean"]))[schema.VAR_QUANTILES].values[0, 0, 0, 0] == 4.0


def test_run_roundtrip(clim_run, bl_data):
    from tailshift.benchmark.dataset import select_role

    assert clim_run.baseline == "climatology" and clim_run.split_name == "temporal"
    assert clim_run.training_sources == ("obs",)
    model = registry.load(clim_run)
    ds = select_role(bl_data, "temporal", "ood_test").isel(scene=slice(0, 5))
    out = model.predict(ds.drop_vars(schema.VAR_PRECIP))
    q = out[schema.VAR_QUANTILES]
    assert q.shape == (5, len(common.QUANTILE_LEVELS), 16, 16)
    assert np.all(np.diff(q.values, axis=1) >= 0)
    train = select_role(bl_data, "temporal", "train", sources=("obs",))
    # the global climatology is the pooled training distribution
    ref = np.quantile(train[schema.VAR_PRECIP].values, 0.99)
    assert model.global_q[list(common.QUANTILE_LEVELS).index(0.99)] == pytest.approx(ref, rel=0.05)


def test_max_scenes_changes_the_fit(bl_data):
    ds = xr.open_zarr(bl_data / schema.OBS_STORE)
    a = climatology.fit(climatology.Config(), ds)
    b = climatology.fit(climatology.Config(max_scenes=5), ds)
    c = climatology.fit(climatology.Config(bins_per_decade=5), ds)
    assert not np.allclose(a.global_q, b.global_q)
    assert not np.allclose(a.global_q, c.global_q)
