"""Dataset access: lazy opening with structure and checksum checks, role selection, role sizes."""

from __future__ import annotations

import json
import shutil

import dask.array
import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.benchmark.dataset import SplitView, role_sizes, select_role
from tailshift.benchmark.normstats import normalisation_stats
from tailshift.benchmark.readplan import read_plan
from tailshift.benchmark.stores import open_dataset
from tailshift.errors import BadInputError
from tailshift.io import read_manifest, store_checksum, write_manifest, write_store
from tailshift.splits import load_split


@pytest.fixture
def data(fake_data, tmp_path):
    """A private copy of the shared fake dataset (tests here modify it)."""
    out = tmp_path / "data"
    shutil.copytree(fake_data, out)
    return out


def rewrite_store(data_dir, source, change):
    """Apply ``change(ds) -> ds`` to a store and rewrite it with a consistent manifest."""
    path = data_dir / (schema.OBS_STORE if source == "obs" else schema.SIM_STORE)
    ds = xr.open_zarr(path).load()
    ds = change(ds)
    write_store(ds, path, chunk=16)
    manifest = read_manifest(data_dir)
    manifest["stores"][source].update(checksum=store_checksum(ds), n_scenes=ds.sizes["scene"])
    write_manifest(data_dir, manifest)


def assert_one_line(exc, *words):
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_open_is_lazy_and_checked(fake_data):
    ds = open_dataset(fake_data, "obs")
    assert isinstance(ds[schema.VAR_TB].data, dask.array.Array)
    assert ds.sizes[schema.DIM_SCENE] == read_manifest(fake_data)["stores"]["obs"]["n_scenes"]
    assert ds.attrs["manifest_checksum"] == read_manifest(fake_data)["dataset_checksum"]
    sim = open_dataset(fake_data, "sim", verify=True)
    assert (sim[schema.DIM_SCENE].values >= schema.SIM_ID_OFFSET).all()


def test_missing_directory_and_manifest(tmp_path, data):
    with pytest.raises(BadInputError) as exc:
        open_dataset(tmp_path / "nothing", "obs")
    assert_one_line(exc, "does not exist", "tailshift data generate")
    (data / schema.MANIFEST).unlink()
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "obs")
    assert_one_line(exc, "manifest.json")


def test_unknown_source(fake_data):
    with pytest.raises(BadInputError, match="unknown source"):
        open_dataset(fake_data, "reanalysis")


def test_missing_chunk_file_is_a_truncated_store(data):
    (data / "obs.zarr" / schema.VAR_TB / "2.0.0.0").unlink()
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "obs")
    assert_one_line(exc, "truncated", "tb/2.0.0.0", "regenerate")
    open_dataset(data, "sim")  # the other store is fine


def test_truncated_chunk_file(data):
    chunk = data / "sim.zarr" / schema.VAR_PRECIP / "1.0.0"
    chunk.write_bytes(chunk.read_bytes()[:-100])
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "sim")
    assert_one_line(exc, "corrupt", "surface_precip/1.0.0", "header")


def test_missing_store(data):
    shutil.rmtree(data / "sim.zarr")
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "sim")
    assert_one_line(exc, "sim.zarr", "does not exist")
    with pytest.raises(BadInputError):
        select_role(data, "temporal", "ood_test")  # the split uses sim too


def test_corrupt_chunk_content_is_bad_input_when_read(data):
    chunk = data / "obs.zarr" / schema.VAR_TB / "0.0.0.0"
    raw = bytearray(chunk.read_bytes())
    raw[4:8] = (10**9).to_bytes(4, "little")  # uncompressed size in the Blosc header
    chunk.write_bytes(bytes(raw))
    ds = open_dataset(data, "obs")  # file sizes are still consistent
    assert ds.sizes["scene"] == 60
    with pytest.raises(BadInputError) as exc:
        normalisation_stats(data, "iid", cache=False)
    assert_one_line(exc, "cannot read", "corrupt")


def test_manifest_scene_count_mismatch(data):
    manifest = read_manifest(data)
    manifest["stores"]["obs"]["n_scenes"] = 61
    write_manifest(data, manifest)
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "obs")
    assert_one_line(exc, "60 scenes", "says 61")


def test_manifest_store_checksum_mismatch(data):
    manifest = read_manifest(data)
    manifest["stores"]["obs"]["checksum"] = "0" * 64
    write_manifest(data, manifest)  # self-consistent manifest, wrong store checksum
    open_dataset(data, "obs")  # not verified: opens
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "obs", verify=True)
    assert_one_line(exc, "does not match the checksum", "regenerate")


def test_hand_edited_manifest(data):
    path = data / schema.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["stores"]["sim"]["checksum"] = "f" * 64  # dataset_checksum left stale
    path.write_text(json.dumps(manifest))
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "obs")
    assert_one_line(exc, "manifest was edited")


def test_missing_variable(data):
    rewrite_store(data, "obs", lambda ds: ds.drop_vars(schema.VAR_PRECIP))
    with pytest.raises(BadInputError) as exc:
        open_dataset(data, "obs")
    assert_one_line(exc, "lacks", "surface_precip")


def test_missing_coordinate(data):
    rewrite_store(data, "obs", lambda ds: ds.drop_vars(schema.COORD_ERA))
    with pytest.raises(BadInputError, match="'era'"):
        open_dataset(data, "obs")


def test_select_role_matches_masks_sorted_and_disjoint(fake_data):
    view = SplitView(fake_data, "temporal")
    seen = set()
    for role in view.split.roles:
        ds = select_role(fake_data, view.split, role, view=view)
        ids = ds[schema.DIM_SCENE].values
        assert np.all(np.diff(ids) > 0)
        expected = np.sort(view.coords[schema.DIM_SCENE][view.masks[role]])
        assert np.array_equal(ids, expected)
        assert not seen & set(ids.tolist())
        seen |= set(ids.tolist())
        assert ds.attrs["split_hash"] == view.split.hash and ds.attrs["role"] == role
        assert isinstance(ds[schema.VAR_TB].data, dask.array.Array)
    ood = select_role(fake_data, "temporal", "ood_test")
    assert (ood[schema.COORD_YEAR].values >= 2051).all()
    assert set(ood[schema.COORD_SOURCE].values) == {"obs"}
    train = select_role(fake_data, "temporal", "train")
    assert set(train[schema.COORD_SOURCE].values) == {"obs", "sim"}
    assert (
        train[schema.COORD_ERA].values[train[schema.COORD_SOURCE].values == "obs"] == "observed"
    ).all()
    # the data really is the data of those scenes
    obs = open_dataset(fake_data, "obs")
    sid = int(ood[schema.DIM_SCENE].values[0])
    np.testing.assert_array_equal(
        ood[schema.VAR_PRECIP].sel(scene=sid).values, obs[schema.VAR_PRECIP].sel(scene=sid).values
    )


def test_select_role_sources_and_channels(fake_data, tmp_path):
    obs_only = select_role(fake_data, "temporal", "train", sources=["obs"])
    assert set(obs_only[schema.COORD_SOURCE].values) == {"obs"}
    drain = select_role(fake_data, "temporal", "id_test", channels="drain4")
    assert tuple(drain[schema.DIM_CHANNEL].values) == schema.DRAIN4_CHANNELS
    assert drain.sizes[schema.DIM_CHANNEL] == 4
    sensor = select_role(fake_data, "sensor", "ood_test")
    assert tuple(sensor[schema.DIM_CHANNEL].values) == schema.CHANNEL_SETS["no_high_freq"]
    with pytest.raises(BadInputError, match="provides only"):
        select_role(fake_data, "sensor", "ood_test", channels=["166.5V"])
    with pytest.raises(BadInputError, match="unknown source"):
        select_role(fake_data, "temporal", "train", sources=["era5"])
    text = (
        load_split("iid")
        .path.read_text()
        .replace('train_sources = ["obs", "sim"]', 'train_sources = ["obs"]')
    )
    text = text.replace('[[roles.train.select]]\nsource = "sim"\nyears = [1998, 2025]\n', "")
    path = tmp_path / "obsonly.toml"
    path.write_text(text)
    with pytest.raises(BadInputError, match="does not allow training on"):
        select_role(fake_data, path, "train", sources=["sim"])
    with pytest.raises(BadInputError, match="has no role"):
        select_role(fake_data, "iid", "ood_test")


def _records(train, quantile, sources):
    """Reference records per regime: ``quantile`` of train scene maxima from ``sources``."""
    keep = np.isin(train[schema.COORD_SOURCE].values.astype(str), sources)
    tmax = train[schema.VAR_PRECIP].max(("y", "x")).values[keep]
    regimes = train[schema.COORD_REGIME].values.astype(str)[keep]
    return {r: float(np.quantile(tmax[regimes == r], quantile)) for r in np.unique(regimes)}


@pytest.mark.parametrize("variant", ["split_file", "strict_max_all_sources"])
def test_record_breaking_on_data(fake_data, tmp_path, variant):
    split = load_split("extremes")
    quantile, sources = split.record_quantile, split.record_sources
    assert (quantile, sources) == (0.95, ("obs",))
    if variant == "strict_max_all_sources":  # no [record] table: the strict maximum, all sources
        text = split.path.read_text().replace('[record]\nquantile = 0.95\nsources = ["obs"]\n', "")
        path = tmp_path / "strict.toml"
        path.write_text(text)
        split = load_split(path)
        quantile, sources = 1.0, ("obs", "sim")
        assert (split.record_quantile, split.record_sources) == (1.0, None)
    view = SplitView(fake_data, split)
    train = select_role(fake_data, view.split, "train", view=view).compute()
    record = _records(train, quantile, sources)
    n = 0
    for role in ("id_test", "ood_val", "ood_test"):
        ds = select_role(fake_data, view.split, role, view=view)
        smax = ds[schema.VAR_PRECIP].max(("y", "x")).values
        for m, r in zip(smax, ds[schema.COORD_REGIME].values, strict=True):
            assert m > record[str(r)]
        if role != "id_test":
            n += ds.sizes["scene"]
    assert n > 0
    # and every future observed scene left out is not record-breaking
    obs = open_dataset(fake_data, "obs")
    fut = obs.isel(scene=np.flatnonzero(obs[schema.COORD_YEAR].values >= 2026))
    fmax = fut[schema.VAR_PRECIP].max(("y", "x")).values
    breaks = np.array(
        [m > record[str(r)] for m, r in zip(fmax, fut[schema.COORD_REGIME].values, strict=True)]
    )
    assert breaks.sum() == n


def test_record_table_is_checked(tmp_path):
    base = load_split("extremes").path.read_text()
    for bad, word in (("quantile = 1.5", "record.quantile"), ('sources = ["era5"]', "record.sources")):
        text = base.replace("quantile = 0.95" if "quantile" in bad else 'sources = ["obs"]', bad)
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(BadInputError, match=word):
            load_split(path)


def test_held_back_era_checked_on_data(data):
    def mark_future(ds):
        era = ds[schema.COORD_ERA].values.copy()
        years = ds[schema.COORD_YEAR].values
        era[np.flatnonzero(years <= 2025)] = schema.ERA_FUTURE  # data says: held back
        return ds.assign_coords({schema.COORD_ERA: (schema.DIM_SCENE, era)})

    rewrite_store(data, "obs", mark_future)
    with pytest.raises(BadInputError) as exc:
        select_role(data, "iid", "id_test")
    assert_one_line(exc, "held-back", "train")


def test_duplicate_ids_across_stores(data):
    rewrite_store(
        data,
        "sim",
        lambda ds: ds.assign_coords(scene=ds[schema.DIM_SCENE].values - schema.SIM_ID_OFFSET),
    )
    with pytest.raises(BadInputError, match="not unique across"):
        role_sizes(data, "temporal")


def test_role_sizes(fake_data):
    sizes = role_sizes(fake_data, "temporal")
    assert list(sizes) == list(schema.ROLES)
    for role, info in sizes.items():
        ds = select_role(fake_data, "temporal", role)
        assert info["n_scenes"] == ds.sizes["scene"]
        assert sum(info["sources"].values()) == info["n_scenes"]
        assert sum(info["regimes"].values()) == info["n_scenes"]
        if info["n_scenes"]:
            assert info["years"] == [int(ds.year.min()), int(ds.year.max())]
    assert sizes["ood_test"]["years"][0] >= 2051
    assert sizes["train"]["sources"]["sim"] == 40
    assert sizes["id_test"]["channels"] == 13
    assert role_sizes(fake_data, "sensor")["ood_test"]["channels"] == 9


def test_read_plan_is_chunk_aligned(fake_data):
    view = SplitView(fake_data, "temporal")
    units = read_plan(view, "train")
    assert sum(len(u.positions) for u in units) == int(view.masks["train"].sum())
    for u in units:
        assert u.stop - u.start <= 16 and u.start % 16 == 0
        assert all(u.start <= p < u.stop for p in u.positions)


def test_import_dataset_has_no_torch():
    import subprocess
    import sys

    code = "import sys, benchmark, benchmark.dataset; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_store_checksum_does_not_depend_on_the_chunk(fake_data):
    """Writers hash with their own chunk size (the world uses 4x its Zarr chunk); verify must agree."""
    ds = open_dataset(fake_data, "obs")
    whole = store_checksum(ds)
    assert store_checksum(ds, chunk=7) == whole == store_checksum(ds, chunk=16)
    assert whole == read_manifest(fake_data)["stores"]["obs"]["checksum"]
