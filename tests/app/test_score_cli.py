"""``tailshift score`` / ``tailshift export`` end to end on a tiny fake dataset.

Bad input: one CLI test per case (exit code 2, the problem named, no result file), plus one with
several problems listed in a single message.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.app.cli import main
from tests.benchmark.test_predictions import make_pred

SPLIT, ROLE = "temporal", "ood_test"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Enough observed scenes that temporal's id_test and ood_test are both populated."""
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(
        tmp_path_factory.mktemp("scorecli") / "data", n_obs=160, n_sim=4, size=8, seed=5
    )


@pytest.fixture(scope="module")
def ref(data):
    from tailshift.benchmark.dataset import select_role

    return select_role(data, SPLIT, ROLE).load()


@pytest.fixture(scope="module")
def good_nc(ref, tmp_path_factory):
    path = tmp_path_factory.mktemp("preds") / "good.nc"
    make_pred(ref, point=True).to_netcdf(path)
    return path


def run(data, *args):
    return main(["--data", str(data), *map(str, args)])


def score_args(pred, results, name="my-unet", role=ROLE):
    return ["score", pred, "--split", SPLIT, "--role", role, "--name", name, "--results", results]


# --- export -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_export_writes_inputs_without_labels(data, ref, tmp_path, suffix):
    out = tmp_path / f"inputs{suffix}"
    assert run(data, "export", "--split", SPLIT, "--role", ROLE, "--out", out, "--chunk", 7) == 0
    ds = xr.open_dataset(out, engine="zarr" if suffix == ".zarr" else None)
    assert schema.VAR_PRECIP not in ds.variables
    assert list(ds.data_vars) == [schema.VAR_TB]
    np.testing.assert_array_equal(ds.scene.values, ref.scene.values)
    np.testing.assert_allclose(ds[schema.VAR_TB].values, ref[schema.VAR_TB].values)
    for c in (schema.COORD_REGIME, schema.VAR_SURFACE, schema.COORD_WARMING, schema.VAR_TCWV):
        assert c in ds.variables
    assert ds.attrs["split"] == SPLIT and ds.attrs["role"] == ROLE
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp left


def test_export_uses_the_roles_channels(data, tmp_path):
    out = tmp_path / "sensor.nc"
    assert run(data, "export", "--split", "sensor", "--role", "ood_test", "--out", out) == 0
    with xr.open_dataset(out) as ds:
        assert list(ds.channel.values) == list(schema.NO_HIGH_FREQ_CHANNELS)


def test_export_refuses_existing_output_and_train(data, tmp_path, capsys):
    out = tmp_path / "x.nc"
    out.write_text("keep me")
    assert run(data, "export", "--split", SPLIT, "--role", ROLE, "--out", out) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert run(data, "export", "--split", SPLIT, "--role", "train", "--out", tmp_path / "t.nc") == 2
    assert "train role is not exported" in capsys.readouterr().err


# --- validation through the CLI -----------------------------------------------------------


def test_validate_only_good_file(data, good_nc, tmp_path, capsys):
    args = ["score", "--validate-only", good_nc, "--split", SPLIT, "--role", ROLE]
    assert run(data, *args, "--results", tmp_path / "res") == 0
    assert "valid for temporal/ood_test" in capsys.readouterr().out
    assert not (tmp_path / "res").exists()


def _bad(ref, case, tmp_path):
    """Write one broken prediction file; return its path."""
    path = tmp_path / "bad.nc"
    pred = make_pred(ref, point=True)
    q = schema.VAR_QUANTILES
    if case == "missing_path":
        return tmp_path / "does-not-exist.nc"
    if case == "empty_file":
        path.write_bytes(b"")
        return path
    if case == "not_netcdf":
        path.write_text("this is not netcdf")
        return path
    if case == "missing_scenes":
        pred = pred.isel(scene=slice(3, None))
    elif case == "extra_scenes":
        pred = xr.concat([pred, pred.isel(scene=[0]).assign_coords(scene=[777_777])], "scene")
    elif case == "wrong_dims":
        pred = pred.rename({"x": "lon"})
    elif case == "wrong_size":
        pred = pred.isel(y=slice(0, 5))
    elif case == "nan":
        pred[q][0, 0, 0, 0] = np.nan
    elif case == "inf":
        pred[schema.VAR_PRECIP][1, 2, 2] = np.inf
    elif case == "negative":
        pred[schema.VAR_PRECIP][1, 2, 2] = -2.0
    elif case == "crossing":
        pred[q][2, 0, 3, 3] = pred[q][2, 2, 3, 3] + 10.0
    elif case == "mm_per_day":
        pred[q].attrs["units"] = "mm/day"
    elif case == "no_units":
        del pred[schema.VAR_PRECIP].attrs["units"]
    pred.to_netcdf(path)
    return path


BAD_CASES = {
    "missing_path": "does not exist",
    "empty_file": "is empty",
    "not_netcdf": "cannot be read as NetCDF",
    "missing_scenes": "evaluation scenes are missing",
    "extra_scenes": "not in the evaluation set",
    "wrong_dims": "but must have (scene, quantile, y, x)",
    "wrong_size": "the evaluation scenes are y=8, x=8",
    "nan": "non-finite values",
    "inf": "non-finite values",
    "negative": "values below -0.001",
    "crossing": "crosses in 1 pixels",
    "mm_per_day": "divide by 24",
    "no_units": "has no units attribute",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
@pytest.mark.parametrize("validate_only", [False, True])
def test_bad_input_exits_2_and_writes_nothing(data, ref, tmp_path, capsys, case, validate_only):
    pred = _bad(ref, case, tmp_path)
    results = tmp_path / "results"
    args = score_args(pred, results)
    if validate_only:
        args.insert(1, "--validate-only")
    assert run(data, *args) == 2
    err = capsys.readouterr().err
    assert BAD_CASES[case] in err
    assert err.count("\n") == 1  # one message, one line
    assert not results.exists()


def test_several_problems_in_one_message(data, ref, tmp_path, capsys):
    pred = make_pred(ref, point=True).isel(scene=slice(2, None))
    pred[schema.VAR_QUANTILES].attrs["units"] = "mm/day"
    pred[schema.VAR_QUANTILES][0, 0, 0, 0] = np.nan
    pred[schema.VAR_PRECIP][1, 1, 1] = -1.0
    pred = pred.isel(x=slice(0, 6))
    path = tmp_path / "bad.zarr"
    pred.to_zarr(path, zarr_format=2)
    results = tmp_path / "results"
    assert run(data, *score_args(path, results)) == 2
    err = capsys.readouterr().err
    assert "6 problems in predictions" in err  # x=6 for both variables
    for part in ("divide by 24", "are missing", "non-finite", "values below", "x=6"):
        assert part in err, part
    assert not results.exists()


def test_unknown_split_and_role(data, good_nc, tmp_path, capsys):
    assert run(data, "score", good_nc, "--split", "nope", "--role", ROLE, "--name", "x") == 2
    assert "unknown split" in capsys.readouterr().err
    assert run(data, "score", good_nc, "--split", SPLIT, "--role", "train", "--name", "x") == 2
    assert "cannot score role" in capsys.readouterr().err


def test_name_required_unless_validate_only(data, good_nc, capsys):
    assert run(data, "score", good_nc, "--split", SPLIT, "--role", ROLE) == 2
    assert "--name is required" in capsys.readouterr().err


# --- scoring ------------------------------------------------------------------------------


def test_score_writes_result_then_needs_force(data, good_nc, tmp_path, capsys):
    results = tmp_path / "results"
    assert run(data, *score_args(good_nc, results, name="My UNet"), "--description", "d") == 0
    path = results / SPLIT / "my-unet.json"
    result = json.loads(path.read_text())
    block = result["roles"][ROLE]
    assert result["split"]["name"] == SPLIT and block["n_scenes"] > 0
    assert result["submission"]["training_sources"] == ["obs", "sim"]
    assert block["scores"] and all("ci_low" in v for v in block["scores"].values())
    assert 1 <= len(block["examples"]) <= 3
    before = path.read_bytes()
    capsys.readouterr()
    assert run(data, *score_args(good_nc, results, name="My UNet")) == 2
    assert "--force" in capsys.readouterr().err
    assert path.read_bytes() == before
    args = [*score_args(good_nc, results, name="My UNet"), "--force", "--training-sources", "obs"]
    assert run(data, *args) == 0
    assert json.loads(path.read_text())["submission"]["training_sources"] == ["obs"]


def test_score_both_roles_gives_gap(data, tmp_path):
    from tailshift.benchmark.dataset import select_role

    results = tmp_path / "results"
    for role in ("id_test", "ood_test"):
        r = select_role(data, SPLIT, role).load()
        pred = tmp_path / f"{role}.nc"
        make_pred(r).to_netcdf(pred)
        assert run(data, *score_args(pred, results, role=role)) == 0
    result = json.loads((results / SPLIT / "my-unet.json").read_text())
    assert set(result["roles"]) == {"id_test", "ood_test"}
    assert result["gap"]
    some = next(iter(result["gap"]))
    expected = (
        result["roles"]["ood_test"]["scores"][some]["value"]
        - result["roles"]["id_test"]["scores"][some]["value"]
    )
    assert result["gap"][some]["value"] == pytest.approx(expected)


@pytest.mark.slow
def test_score_with_scheduler_option_matches_in_process(data, good_nc, tmp_path):
    from distributed import LocalCluster

    assert run(data, *score_args(good_nc, tmp_path / "local"), "--chunk", "10") == 0
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        args = [*score_args(good_nc, tmp_path / "dist"), "--chunk", "10"]
        assert run(data, *args, "--scheduler", cluster.scheduler_address) == 0
    local = json.loads((tmp_path / "local" / SPLIT / "my-unet.json").read_text())
    dist = json.loads((tmp_path / "dist" / SPLIT / "my-unet.json").read_text())
    assert dist["roles"] == local["roles"]


def test_metrics_option_selects_metrics(data, good_nc, tmp_path):
    assert run(data, *score_args(good_nc, tmp_path), "--metrics", "mae,crps") == 0
    result = json.loads((tmp_path / SPLIT / "my-unet.json").read_text())
    assert set(result["roles"][ROLE]["scores"]) == {"mae", "crps"}
    assert set(result["metrics"]) == {"mae", "crps"}


def test_bad_scheduler_address_exits_2(data, good_nc, tmp_path, capsys):
    args = [*score_args(good_nc, tmp_path / "res"), "--scheduler", "nonsense://nowhere"]
    assert run(data, *args) == 2
    assert "cannot reach the dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()


def test_usage_errors_exit_2(data, good_nc, capsys):
    assert run(data, "score", good_nc, "--role", ROLE, "--name", "x") == 2
    assert "Missing option '--split'" in capsys.readouterr().err
    assert run(data, "export", "--split", SPLIT, "--role", ROLE) == 2


def test_inadmissible_levels_are_scored_exactly_and_marked_unranked(data, ref, tmp_path, capsys):
    """A one-level all-zero file: exact CRPS (that of a point mass at 0, the mean rain rate),
    recorded as not admissible with the rule it breaks, and said on the terminal."""
    n, ny, nx = ref[schema.VAR_PRECIP].shape
    q = xr.DataArray(np.zeros((n, 1, ny, nx), np.float32), dims=(
        schema.DIM_SCENE, schema.DIM_QUANTILE, schema.DIM_Y, schema.DIM_X),
        coords={schema.DIM_SCENE: ref[schema.DIM_SCENE].values, schema.DIM_QUANTILE: [0.001]},
        attrs={"units": "mm h-1"})
    pred = tmp_path / "zero.nc"
    xr.Dataset({schema.VAR_QUANTILES: q}).to_netcdf(pred)
    assert run(data, *score_args(pred, tmp_path / "res", name="zero-one")) == 0
    assert "unranked (ood_test): last quantile level 0.001 < 0.98" in capsys.readouterr().out
    res = json.loads((tmp_path / "res" / SPLIT / "zero-one.json").read_text())
    block = res["roles"][ROLE]
    assert block["forecast"] == {"kind": "quantiles", "levels": [0.001], "admissible": False,
                                 "reason": block["forecast"]["reason"]}
    truth = float(np.nanmean(ref[schema.VAR_PRECIP].values))
    assert block["scores"]["crps"]["value"] == pytest.approx(truth, rel=1e-6)
    assert block["scores"]["coverage_90"]["value"] is None
    assert "coverage_90" in block["undefined"]
