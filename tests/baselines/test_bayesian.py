"""Bayesian database retrieval: weighted quantiles, OOD robustness, config fields, round trip."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.baselines import bayesian, common, registry


def test_equal_weights_give_interpolated_quantiles():
    values = np.array([[0.0, 1.0, 2.0, 3.0]])
    q = bayesian.weighted_quantiles(values, np.zeros((1, 4)), np.array([0.125, 0.5, 0.875, 0.999]))
    np.testing.assert_allclose(q[0], [0.0, 1.5, 3.0, 3.0])


def test_nearest_neighbour_dominates_and_far_queries_stay_finite():
    values = np.array([[10.0, 0.0, 0.0]])
    q = bayesian.weighted_quantiles(values, np.array([[1e6, 1e6 + 50, 1e6 + 50]]), np.array([0.5]))
    assert q[0, 0] == pytest.approx(10.0)
    assert np.isfinite(q).all()


@pytest.fixture(scope="module")
def obs(bl_data):
    return xr.open_zarr(bl_data / schema.OBS_STORE).isel(scene=slice(0, 30))


def test_fit_predict_and_config_fields(obs):
    base = bayesian.Config(database_size=3000, n_neighbors=16)
    inputs = obs.isel(scene=slice(0, 3)).drop_vars(schema.VAR_PRECIP)
    model = bayesian.fit(base, obs)
    q = model.predict(inputs)[schema.VAR_QUANTILES].values
    assert q.shape == (3, len(common.QUANTILE_LEVELS), 16, 16)
    assert np.all(np.diff(q, axis=1) >= 0) and np.isfinite(q).all()
    assert len(model.x) <= 3000
    for change in ({"n_neighbors": 4}, {"sigma_tb": 0.5}, {"stratify": "none"},
                   {"use_ancillary": False}, {"channels": "drain4"}, {"seed": 3}):
        cfg = bayesian.Config(**{**common.config_to_dict(base), **change})
        other = bayesian.fit(cfg, obs).predict(inputs)[schema.VAR_QUANTILES].values
        assert not np.allclose(other, q), change


def test_run_roundtrip(bl_data, tmp_path):
    cfg = {"database_size": 2000, "n_neighbors": 8}
    run = registry.train("bayesian", cfg, bl_data, "temporal", tmp_path / "bay")
    model = registry.load(run)
    assert run.meta["normalisation"]["mean"] and run.channels == schema.CHANNEL_NAMES
    from tailshift.benchmark.dataset import select_role

    ds = select_role(bl_data, "temporal", "id_test").drop_vars(schema.VAR_PRECIP)
    out = model.predict(ds)
    np.testing.assert_array_equal(out[schema.DIM_SCENE].values, ds[schema.DIM_SCENE].values)
