"""Prediction validation: one test per bad-input case, plus all problems in one message."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.benchmark import predictions as P
from tailshift.benchmark.testing import fake_store
from tailshift.errors import BadInputError

LEVELS = (0.1, 0.5, 0.9)


@pytest.fixture(scope="module")
def ref() -> xr.Dataset:
    return fake_store(12, 8, schema.SOURCE_OBS, seed=3)


def make_pred(ref, *, quantiles=True, samples=False, point=False, order=None, units="mm h-1"):
    """A valid prediction dataset built from the reference (perfect median, spread around it)."""
    y = ref[schema.VAR_PRECIP].values
    ids = ref[schema.DIM_SCENE].values
    if order is not None:
        y, ids = y[order], ids[order]
    data = {}
    if quantiles:
        q = np.stack([y * (0.5 + lv) for lv in LEVELS], axis=1).astype(np.float32)
        data[schema.VAR_QUANTILES] = (P.PRED_DIMS[schema.VAR_QUANTILES], q, {"units": units})
    if samples:
        s = np.stack([y * f for f in (0.8, 1.0, 1.2, 1.4)], axis=1).astype(np.float32)
        data[schema.VAR_SAMPLES] = (P.PRED_DIMS[schema.VAR_SAMPLES], s, {"units": units})
    if point:
        data[schema.VAR_PRECIP] = (P.PRED_DIMS[schema.VAR_PRECIP], y.copy(), {"units": units})
    coords = {schema.DIM_SCENE: ids}
    if quantiles:
        coords[schema.DIM_QUANTILE] = list(LEVELS)
    return xr.Dataset(data, coords=coords)


def problems(pred, ref, **kw):
    return P.validate_predictions(
        pred, ref[schema.DIM_SCENE].values, ref.sizes["y"], ref.sizes["x"], **kw
    )


@pytest.mark.parametrize(
    "kinds",
    [
        {"quantiles": True},
        {"quantiles": False, "samples": True},
        {"quantiles": False, "point": True},
        {"quantiles": True, "samples": True, "point": True},
    ],
)
def test_valid_predictions_have_no_problem(ref, kinds):
    assert problems(make_pred(ref, **kinds), ref) == []


def test_any_order_and_unit_alias_accepted(ref):
    order = np.random.default_rng(0).permutation(ref.sizes["scene"])
    pred = make_pred(ref, order=order, units="mm/h")
    assert problems(pred, ref, chunk=5) == []
    aligned = P.check_predictions(pred, ref)
    np.testing.assert_array_equal(aligned.scene.values, ref.scene.values)
    np.testing.assert_allclose(
        aligned[schema.VAR_QUANTILES].sel(quantile=0.5).values, ref[schema.VAR_PRECIP].values
    )


def test_dims_in_other_order_are_transposed(ref):
    pred = make_pred(ref).transpose("y", "x", "quantile", "scene")
    assert problems(pred, ref) == []
    out = P.check_predictions(pred, ref)
    assert out[schema.VAR_QUANTILES].dims == P.PRED_DIMS[schema.VAR_QUANTILES]


def test_string_scene_ids_matching_integers_are_accepted(ref):
    pred = make_pred(ref).assign_coords(scene=ref.scene.values.astype(str))
    assert problems(pred, ref) == []


def test_missing_scenes(ref):
    pred = make_pred(ref).isel(scene=slice(2, None))
    (msg,) = problems(pred, ref)
    assert msg.startswith("2 of 12 evaluation scenes are missing")
    assert str(ref.scene.values[0]) in msg


def test_extra_scenes(ref):
    pred = make_pred(ref)
    extra = pred.isel(scene=[0]).assign_coords(scene=[999_999])
    (msg,) = problems(xr.concat([pred, extra], dim="scene"), ref)
    assert msg.startswith("1 scenes are not in the evaluation set") and "999999" in msg


def test_duplicate_scenes(ref):
    pred = make_pred(ref)
    dup = xr.concat([pred, pred.isel(scene=[3])], dim="scene")
    (msg,) = problems(dup, ref)
    assert "appear more than once" in msg


def test_no_prediction_variable(ref):
    pred = make_pred(ref).rename({schema.VAR_QUANTILES: "rain"})
    msgs = problems(pred, ref)
    assert len(msgs) == 1 and msgs[0].startswith("no prediction variable") and "rain" in msgs[0]


def test_wrong_dims(ref):
    pred = make_pred(ref).rename({"y": "lat"})
    msgs = problems(pred, ref)
    assert any("has dims (scene, quantile, lat, x) but must have" in m for m in msgs)


def test_wrong_sizes(ref):
    pred = make_pred(ref).isel(x=slice(0, 6))
    (msg,) = problems(pred, ref)
    assert "has y=8, x=6 but the evaluation scenes are y=8, x=8" in msg


def test_nan_and_inf(ref):
    pred = make_pred(ref)
    pred[schema.VAR_QUANTILES][1, 0, 0, 0] = np.nan
    pred[schema.VAR_QUANTILES][5, 2, 3, 3] = np.inf
    (msg,) = problems(pred, ref, chunk=3)
    assert "2 non-finite values (NaN/inf) in 2 scenes" in msg
    assert f"e.g. scene {ref.scene.values[1]}" in msg


def test_negative_rain(ref):
    pred = make_pred(ref, quantiles=False, point=True)
    pred[schema.VAR_PRECIP][4, 1, 1] = -0.5
    (msg,) = problems(pred, ref)
    assert "1 values below -0.001 mm h-1" in msg and "min -0.5" in msg


def test_negative_round_off_is_tolerated_and_clipped(ref):
    pred = make_pred(ref, quantiles=False, point=True)
    pred[schema.VAR_PRECIP][4, 1, 1] = -1e-4
    assert problems(pred, ref) == []
    assert P.clean_block(schema.VAR_PRECIP, pred[schema.VAR_PRECIP].values).min() == 0.0


def test_crossing_quantiles(ref):
    pred = make_pred(ref)
    pred[schema.VAR_QUANTILES][2, 0, 0, 0] = 50.0  # q0.1 far above q0.5
    (msg,) = problems(pred, ref)
    assert msg.startswith(f"{schema.VAR_QUANTILES} crosses in 1 pixels of 1 scenes")


def test_crossing_within_tolerance_is_sorted(ref):
    pred = make_pred(ref)
    q = pred[schema.VAR_QUANTILES]
    q[2, 0, 0, 0] = q[2, 1, 0, 0] + 5e-4
    assert problems(pred, ref) == []
    cleaned = P.clean_block(schema.VAR_QUANTILES, q.values)
    assert np.all(np.diff(cleaned, axis=1) >= 0)


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        (None, "has no units attribute"),
        ("mm/day", "divide by 24"),
        ("kg m-2 s-1", "multiply by 3600"),
        ("furlongs", "rain rates must be in mm/h"),
    ],
)
def test_units(ref, units, expected):
    pred = make_pred(ref)
    if units is None:
        del pred[schema.VAR_QUANTILES].attrs["units"]
    else:
        pred[schema.VAR_QUANTILES].attrs["units"] = units
    (msg,) = problems(pred, ref)
    assert expected in msg


@pytest.mark.parametrize(
    ("levels", "expected"),
    [((10, 50, 90), "inside (0, 1)"), ((0.5, 0.1, 0.9), "strictly increasing")],
)
def test_bad_quantile_levels(ref, levels, expected):
    pred = make_pred(ref).assign_coords(quantile=list(levels))
    msgs = problems(pred, ref)
    assert any(expected in m for m in msgs)


def test_missing_scene_coordinate(ref):
    pred = make_pred(ref).drop_vars("scene")
    msgs = problems(pred, ref)
    assert any(m.startswith("no 'scene' coordinate") for m in msgs)


def test_non_numeric_values(ref):
    pred = make_pred(ref, quantiles=False, point=True)
    pred[schema.VAR_PRECIP] = pred[schema.VAR_PRECIP].astype(str)
    pred[schema.VAR_PRECIP].attrs["units"] = "mm h-1"
    msgs = problems(pred, ref)
    assert any("not a number" in m for m in msgs)


def test_path_does_not_exist(tmp_path, ref):
    with pytest.raises(BadInputError, match="does not exist"):
        P.load_predictions(tmp_path / "nope.nc", ref)


def test_empty_file(tmp_path, ref):
    path = tmp_path / "empty.nc"
    path.write_bytes(b"")
    with pytest.raises(BadInputError, match="is empty"):
        P.load_predictions(path, ref)


def test_empty_directory(tmp_path, ref):
    (tmp_path / "p.zarr").mkdir()
    with pytest.raises(BadInputError, match="is empty"):
        P.load_predictions(tmp_path / "p.zarr", ref)


def test_non_netcdf_file(tmp_path, ref):
    path = tmp_path / "preds.nc"
    path.write_text("scene,rain\n1,2\n")
    with pytest.raises(BadInputError, match="cannot be read as NetCDF"):
        P.load_predictions(path, ref)


def test_foreign_directory_is_not_zarr(tmp_path, ref):
    (tmp_path / "p.zarr").mkdir()
    (tmp_path / "p.zarr" / "readme.txt").write_text("hi")
    with pytest.raises(BadInputError, match="cannot be read as a Zarr store"):
        P.load_predictions(tmp_path / "p.zarr", ref)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_load_round_trip_aligns_by_id(tmp_path, ref, suffix):
    order = np.random.default_rng(1).permutation(ref.sizes["scene"])
    pred = make_pred(ref, order=order, point=True)
    path = tmp_path / f"p{suffix}"
    pred.to_netcdf(path) if suffix == ".nc" else pred.to_zarr(path, zarr_format=2)
    out = P.load_predictions(path, ref, chunk=4)
    np.testing.assert_array_equal(out.scene.values, ref.scene.values)
    np.testing.assert_allclose(out[schema.VAR_PRECIP].values, ref[schema.VAR_PRECIP].values)


def test_every_problem_in_one_message(tmp_path, ref):
    pred = make_pred(ref, point=True).isel(scene=slice(1, None))
    pred = xr.concat([pred, pred.isel(scene=[0]).assign_coords(scene=[424242])], dim="scene")
    pred[schema.VAR_QUANTILES].attrs["units"] = "mm/day"
    pred[schema.VAR_QUANTILES][0, 2, 0, 0] = np.nan
    pred[schema.VAR_QUANTILES][1, 2, 0, 1] = -3.0
    pred[schema.VAR_QUANTILES][2, 0, 1, 1] = 99.0
    pred[schema.VAR_PRECIP][3, 0, 0] = np.inf
    path = tmp_path / "bad.nc"
    pred.to_netcdf(path)
    with pytest.raises(BadInputError) as info:
        P.load_predictions(path, ref, chunk=2)
    msg = str(info.value)
    assert msg.startswith(f"7 problems in predictions {path}")
    for part in (
        "divide by 24",
        "1 of 12 evaluation scenes are missing",
        "1 scenes are not in the evaluation set",
        f"{schema.VAR_QUANTILES} has 1 non-finite",
        f"{schema.VAR_PRECIP} has 1 non-finite",
        "values below -0.001",
        "crosses in",
    ):
        assert part in msg, part
    assert "\n" not in msg


def test_validation_memory_does_not_grow_with_scenes():
    """Peak traced memory of the value checks is set by the block size, not the scene count."""
    import tracemalloc

    def peak(n):
        r = fake_store(n, 16, schema.SOURCE_OBS, seed=0)
        pred = make_pred(r)
        # keep the data out of the measurement: a lazily-indexed view reads blocks on demand
        pred = xr.Dataset(
            {k: v.variable.to_base_variable().chunk({"scene": 4}) for k, v in pred.items()},
            coords=pred.coords,
        )
        tracemalloc.start()
        assert problems(pred, r, chunk=4) == []
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(16), peak(128)
    assert large < 2.0 * small + 256 * 2**10
