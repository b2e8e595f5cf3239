"""The dataset generator: layout contract, determinism, bad input, interruption, CLI."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.app.cli import main
from tailshift.benchmark.testing import fake_store
from tailshift.benchmark.world import climate
from tailshift.benchmark.world import generate as gen
from tailshift.errors import BadInputError
from tailshift.io import read_manifest, store_checksum


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return gen.generate(tmp_path_factory.mktemp("world") / "data", "tiny", seed=0, progress=False)


def _open(path, store):
    return xr.open_zarr(path / store, consolidated=True)


@pytest.mark.parametrize(
    ("store", "source"), [(schema.OBS_STORE, "obs"), (schema.SIM_STORE, "sim")]
)
def test_layout_matches_fake_store(tiny, store, source):
    """Same names, dims, dtypes and attributes as benchmark.testing.fake_store (the contract)."""
    p = gen.PRESETS["tiny"]
    with _open(tiny, store) as ds:
        ref = fake_store(4, p.size, source, 0)
        assert set(ds.data_vars) == set(ref.data_vars)
        assert set(ds.coords) == set(ref.coords)
        for name in ref.variables:
            a, b = ds[name], ref[name]
            assert a.dims == b.dims, name
            assert a.dtype.kind == b.dtype.kind, name
            if a.dtype.kind in "fiM":
                assert a.dtype == b.dtype, name
            assert a.attrs == b.attrs, name
        n = p.n_obs if source == "obs" else p.n_sim
        assert ds.sizes == {"scene": n, "channel": 13, "y": p.size, "x": p.size}
        assert ds[schema.VAR_TB].encoding["chunks"][0] == p.chunk
        assert list(ds[schema.DIM_CHANNEL].values) == list(schema.CHANNEL_NAMES)


def test_scene_coordinates(tiny):
    p = gen.PRESETS["tiny"]
    with _open(tiny, schema.OBS_STORE) as obs, _open(tiny, schema.SIM_STORE) as sim:
        obs, sim = obs.load(), sim.load()
    np.testing.assert_array_equal(obs.scene.values, np.arange(p.n_obs))
    np.testing.assert_array_equal(sim.scene.values, np.arange(p.n_sim) + schema.SIM_ID_OFFSET)
    for ds, (lo, hi), src in (
        (obs, (schema.OBSERVED_ERA[0], schema.FUTURE_ERA[1]), "obs"),
        (sim, schema.SIMULATED_ERA, "sim"),
    ):
        years = ds.year.values
        assert years.min() >= lo and years.max() <= hi
        np.testing.assert_array_equal(ds.time.dt.year.values, years)
        assert np.all(np.diff(ds.time.values.astype(np.int64)) >= 0)  # sorted by time
        era = np.where(years > schema.OBSERVED_ERA[1], schema.ERA_FUTURE, schema.ERA_OBSERVED)
        np.testing.assert_array_equal(ds.era.values, era)
        assert set(ds.source.values) == {src}
        for reg, region, surf in zip(
            ds.regime.values, ds.region.values, ds.surface_type.values, strict=True
        ):
            assert re.fullmatch(rf"{reg}-[0-{climate.N_REGIONS - 1}]", region)
            assert surf == schema.REGIME_SURFACE[reg]
        # warming follows the world's path; ancillaries move with it (docs/world.md, Warming path)
        np.testing.assert_allclose(
            ds.warming.values, climate.warming_of_year(years + 0.5), atol=0.03
        )
        assert np.all(ds.tcwv.values > 0) and np.all(ds.freezing_level.values >= 0)
    # held-back future share and balanced regimes
    n_fut = int((obs.era == schema.ERA_FUTURE).sum())
    assert n_fut == round(p.n_obs * p.future_fraction)
    counts = obs.regime.to_series().value_counts()
    assert set(counts.index) == set(schema.REGIMES) and counts.max() - counts.min() <= 2
    snow = obs.time.dt.month.values[obs.regime.values == "snow_land"]
    assert set(snow) <= set(climate.REGIMES["snow_land"].months)


def test_values_are_physical(tiny):
    for store in (schema.OBS_STORE, schema.SIM_STORE):
        with _open(tiny, store) as ds:
            tb = ds.tb.values
            pr = ds.surface_precip.values
        assert np.all(np.isfinite(tb)) and 20.0 < tb.min() and tb.max() < 330.0
        assert np.all(np.isfinite(pr)) and pr.min() >= 0.0
        assert (pr > schema.RAIN_THRESHOLD).mean() > 0.02
    with _open(tiny, schema.OBS_STORE) as ds:
        ds = ds.load()
    # 10.65V over ocean rises with rain (emission): the forward model is really applied
    ocean = ds.sel(scene=ds.surface_type == "ocean")
    tb10 = ocean.tb.sel(channel="10.65V").values
    wet = ocean.surface_precip.values > 5.0
    assert tb10[wet].mean() > tb10[ocean.surface_precip.values == 0].mean() + 10.0


def test_manifest(tiny):
    m = read_manifest(tiny)
    p = gen.PRESETS["tiny"]
    assert m["generator_version"] == gen.GENERATOR_VERSION
    assert (m["seed"], m["preset"], m["size"]) == (0, "tiny", p.size)
    assert m["sim_blend"] == p.sim_blend
    for source, store, n in (
        ("obs", schema.OBS_STORE, p.n_obs),
        ("sim", schema.SIM_STORE, p.n_sim),
    ):
        entry = m["stores"][source]
        assert entry["path"] == store and entry["n_scenes"] == n
        with _open(tiny, store) as ds:
            assert store_checksum(ds) == entry["checksum"]
    for regime in schema.REGIMES:
        rates = m["true_scaling"][regime]
        assert {"a_mean", "a_ext_strat", "a_ext_conv"} <= set(rates)
        assert rates["a_ext_conv"] == climate.REGIMES[regime].a_ext_conv
    assert m["warming_path"]["by_year"]["2100"] == pytest.approx(2.8)
    assert "dataset_checksum" in m
    assert not [f for f in os.listdir(tiny.parent) if ".tmp-" in f]


@pytest.mark.slow
def test_same_seed_same_checksums_with_two_workers(tiny, tmp_path):
    """Content depends on the seed only: workers=2 (CLI) reproduces workers=1 exactly."""
    out = tmp_path / "again"
    rc = main(["data", "generate", "--preset", "tiny", "--out", str(out), "--workers", "2"])
    assert rc == 0
    a, b = read_manifest(tiny), read_manifest(out)
    assert a["stores"] == b["stores"]
    assert a["dataset_checksum"] == b["dataset_checksum"]
    assert (tiny / schema.MANIFEST).read_bytes() == (out / schema.MANIFEST).read_bytes()


def test_other_seed_other_data(tiny, tmp_path):
    out = gen.generate(tmp_path / "s1", "tiny", seed=1, progress=False)
    assert read_manifest(out)["dataset_checksum"] != read_manifest(tiny)["dataset_checksum"]


def test_cli_default_out_is_global_data(tmp_path):
    data = tmp_path / "d"
    assert main(["--data", str(data), "data", "generate", "--preset", "tiny", "--seed", "3"]) == 0
    assert read_manifest(data)["seed"] == 3


# --- bad input: one-line error, exit 2, nothing written ---------------------------------------


def test_unknown_preset(tmp_path, capsys):
    with pytest.raises(BadInputError, match="unknown preset"):
        gen.generate(tmp_path / "x", "huge", progress=False)
    assert main(["data", "generate", "--preset", "huge", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown preset") and "\n" not in err
    assert os.listdir(tmp_path) == []


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["data", "generate", "--preset", "tiny", "--out", str(out)]) == 2
    assert os.listdir(out) == ["keep.txt"]
    assert sorted(os.listdir(tmp_path)) == ["data"]


def test_unwritable_parent(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    if os.geteuid() == 0:  # root ignores permission bits: simulate a read-only parent
        import tailshift.atomic

        real = os.access
        monkeypatch.setattr(
            tailshift.atomic.os,
            "access",
            lambda p, mode: False if os.fspath(p) == os.fspath(parent) else real(p, mode),
        )
    else:
        parent.chmod(0o500)
    try:
        assert main(["data", "generate", "--preset", "tiny", "--out", str(parent / "d")]) == 2
        assert os.listdir(parent) == []
    finally:
        parent.chmod(0o700)


def test_parent_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["data", "generate", "--preset", "tiny", "--out", str(f / "d")]) == 2
    assert main(["data", "generate", "--preset", "tiny", "--out", str(f), "--force"]) == 2
    assert f.read_text() == "x"


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--workers", "0"]])
def test_bad_numbers(tmp_path, args):
    assert main(["data", "generate", "--preset", "tiny", "--out", str(tmp_path / "d"), *args]) == 2
    assert os.listdir(tmp_path) == []


# --- interruption --------------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch, exc):
    real = gen._make_batch
    calls = {"n": 0}

    def flaky(task):
        calls["n"] += 1
        if calls["n"] == 3:
            raise exc
        return real(task)

    monkeypatch.setattr(gen, "_make_batch", flaky)
    out = tmp_path / "data"
    with pytest.raises(type(exc)):
        gen.generate(out, "tiny", progress=False)
    assert os.listdir(tmp_path) == []


def test_interrupted_force_keeps_the_old_dataset(tiny, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "data"
    shutil.copytree(tiny, out)
    before = (out / schema.MANIFEST).read_text()

    def boom(task):
        raise RuntimeError("disk full")

    monkeypatch.setattr(gen, "_make_batch", boom)
    with pytest.raises(RuntimeError):
        gen.generate(out, "tiny", seed=5, force=True, progress=False)
    assert (out / schema.MANIFEST).read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["data"]
    assert json.loads(before)["seed"] == 0


def test_presets_are_as_documented():
    tiny, quick, std = (gen.PRESETS[k] for k in ("tiny", "quick", "standard"))
    assert (tiny.size, quick.size, std.size) == (32, 64, 64)
    assert std.n_obs >= 20_000 and std.n_sim >= 20_000
    assert quick.n_obs >= 1000 and tiny.n_obs <= 200
    for p in (tiny, quick, std):
        assert 0 < p.future_fraction < 1 and 0 <= p.sim_blend <= 1 and p.chunk > 0
