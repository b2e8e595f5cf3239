"""Quantile gradient boosting: exact tree export, monotone output, config fields, round trip."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.baselines import common, gbm, registry
from tailshift.errors import BadInputError

TINY = {"levels": [0.109375, 0.515625, 0.953125], "max_iter": 4, "max_leaf_nodes": 7,
        "max_pixels": 2000, "min_samples_leaf": 5}


def test_tree_export_reproduces_sklearn():
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 4))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = np.nan_to_num(np.exp(x[:, 0])) + rng.random(800)
    est = HistGradientBoostingRegressor(loss="quantile", quantile=0.8, max_iter=10).fit(x, y)
    trees, base = gbm.export_trees(est)
    np.testing.assert_allclose(gbm.predict_trees(trees, base, x), est.predict(x), atol=1e-9)
    np.testing.assert_allclose(gbm.predict_trees_numpy(trees, base, x), est.predict(x), atol=1e-9)


def test_config_validation():
    with pytest.raises(BadInputError, match="levels"):
        gbm.Config(levels=(0.3,))
    with pytest.raises(BadInputError, match="windows"):
        gbm.Config(windows=(4,))


def test_features_follow_config(bl_data):
    ds = xr.open_zarr(bl_data / schema.OBS_STORE).isel(scene=slice(0, 2))
    full = gbm.features(ds, gbm.Config(), None)
    assert full.shape == (2 * 16 * 16, len(gbm.feature_names(gbm.Config())))
    assert full.shape[1] == 13 * 3 + 1 + 3
    small = gbm.features(ds, gbm.Config(windows=(), use_ancillary=False, channels="drain4"), None)
    assert small.shape[1] == 4 + 1


def test_fit_predict_roundtrip(bl_data, tmp_path):
    run = registry.train("gbm", dict(TINY), bl_data, "temporal", tmp_path / "gbm")
    model = registry.load(run)
    from tailshift.benchmark.dataset import select_role

    ds = select_role(bl_data, "temporal", "id_test").drop_vars(schema.VAR_PRECIP)
    q = model.predict(ds)[schema.VAR_QUANTILES].values
    assert q.shape[1] == len(common.QUANTILE_LEVELS)
    assert np.all(np.diff(q, axis=1) >= 0) and q.min() >= 0
    ds_train = select_role(bl_data, "temporal", "train", sources=("obs",))
    refit = gbm.fit(gbm.Config(**{**TINY, "levels": tuple(TINY["levels"])}), ds_train)
    np.testing.assert_allclose(refit.predict(ds)[schema.VAR_QUANTILES].values, q, rtol=1e-5)
    changed = gbm.fit(gbm.Config(**{**TINY, "levels": tuple(TINY["levels"]), "max_iter": 8}), ds_train)
    assert not np.allclose(changed.predict(ds)[schema.VAR_QUANTILES].values, q)
