"""PyTorch streaming: exactly-once sharding, determinism, bounded memory, train-only statistics."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from tailshift import schema  # noqa: E402
from tailshift.benchmark.dataset import SplitView, select_role  # noqa: E402
from tailshift.benchmark.normstats import normalisation_stats  # noqa: E402
from tailshift.benchmark.testing import make_fake_dataset  # noqa: E402
from tailshift.benchmark.torchdata import SceneStream, make_loader  # noqa: E402
from tailshift.io import read_manifest, store_checksum, write_manifest, write_store  # noqa: E402

CHUNK = 8


@pytest.fixture(scope="module")
def stream_data(tmp_path_factory):
    """More scenes in smaller chunks than ``fake_data`` so that chunks and buffers matter."""
    return make_fake_dataset(
        tmp_path_factory.mktemp("stream") / "data", n_obs=120, n_sim=24, size=8, seed=3, chunk=CHUNK
    )


@pytest.fixture
def data(stream_data, tmp_path):
    out = tmp_path / "data"
    shutil.copytree(stream_data, out)
    return out


def role_ids(data_dir, split, role):
    return select_role(data_dir, split, role)[schema.DIM_SCENE].values.tolist()


def epoch_ids(loader):
    return [int(i) for batch in loader for i in batch[schema.DIM_SCENE]]


def test_two_workers_see_every_scene_once_in_a_reproducible_order(data):
    expected = sorted(role_ids(data, "temporal", "train"))
    assert len(expected) > 3 * CHUNK
    loader = make_loader(
        data, "temporal", "train", batch_size=5, num_workers=2, seed=7, buffer_size=6
    )
    first = epoch_ids(loader)
    assert sorted(first) == expected and len(first) == len(set(first))
    again = epoch_ids(
        make_loader(data, "temporal", "train", batch_size=5, num_workers=2, seed=7, buffer_size=6)
    )
    assert again == first
    loader.dataset.set_epoch(1)
    other_epoch = epoch_ids(loader)
    assert sorted(other_epoch) == expected and other_epoch != first
    other_seed = epoch_ids(
        make_loader(data, "temporal", "train", batch_size=5, num_workers=2, seed=8, buffer_size=6)
    )
    assert other_seed != first
    assert first != sorted(first)  # it does shuffle


def test_eval_roles_stream_in_id_order_without_shuffle(data):
    loader = make_loader(data, "temporal", "ood_test", batch_size=4)
    ids = epoch_ids(loader)
    assert ids == sorted(role_ids(data, "temporal", "ood_test"))


def test_bounded_memory(data, monkeypatch):
    import tailshift.benchmark.torchdata as td

    reads = []
    real = td.read_unit

    def spy(ds, unit, variables, channels=None):
        reads.append(unit.stop - unit.start)
        return real(ds, unit, variables, channels)

    monkeypatch.setattr(td, "read_unit", spy)
    stream = SceneStream(data, "temporal", "train", buffer_size=4, seed=0)
    n = sum(1 for _ in stream)
    assert n == stream.n_scenes == len(stream)
    assert max(reads) <= CHUNK  # never more than one store chunk per read
    assert len(reads) == len(stream.units)  # each chunk read once per epoch
    assert stream.peak_resident <= 4 + CHUNK
    assert stream.peak_resident < n / 2


def test_samples_are_normalised_tensors(data):
    stream = SceneStream(data, "sensor", "ood_test", shuffle=False)
    sample = next(iter(stream))
    assert sample[schema.VAR_TB].shape == (9, 8, 8) and sample[schema.VAR_TB].dtype == torch.float32
    assert sample[schema.VAR_PRECIP].shape == (8, 8)
    assert sample[schema.DIM_SCENE].dtype == torch.int64
    assert sample[schema.COORD_SOURCE] == "obs" and sample[schema.COORD_REGIME] in schema.REGIMES
    sid = int(sample[schema.DIM_SCENE])
    raw = select_role(data, "sensor", "ood_test").sel(scene=sid)
    stats = normalisation_stats(data, "sensor", schema.CHANNEL_SETS["no_high_freq"])
    mean = np.array(stats["mean"])[:, None, None]
    std = np.array(stats["std"])[:, None, None]
    np.testing.assert_allclose(
        sample[schema.VAR_TB].numpy(), (raw.tb.values - mean) / std, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(sample[schema.VAR_PRECIP].numpy(), raw.surface_precip.values)
    assert float(sample[schema.COORD_WARMING]) == pytest.approx(float(raw.warming))
    # train batches over many scenes are close to standardised
    batch = next(iter(make_loader(data, "temporal", "train", batch_size=32, sources=["obs"])))
    tb = batch[schema.VAR_TB]
    assert abs(float(tb.mean())) < 0.2 and abs(float(tb.std()) - 1) < 0.2


def test_stats_match_numpy_over_obs_train_scenes(data):
    stats = normalisation_stats(data, "temporal", cache=False)
    assert stats["sources"] == ["obs"] and stats["role"] == "train"
    train = select_role(data, "temporal", "train", sources=["obs"])
    tb = train[schema.VAR_TB].values.astype(np.float64)
    np.testing.assert_allclose(stats["mean"], tb.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(stats["std"], tb.std(axis=(0, 2, 3), ddof=1), rtol=1e-8)
    assert stats["n_scenes"] == train.sizes["scene"]
    with_sim = normalisation_stats(data, "temporal", sources=["obs", "sim"], cache=False)
    assert with_sim["n_scenes"] > stats["n_scenes"] and with_sim["mean"] != stats["mean"]


def _shift_tb_of(data_dir, scene_id, delta=50.0):
    path = data_dir / schema.OBS_STORE
    ds = xr.open_zarr(path).load()
    ds[schema.VAR_TB].loc[{"scene": scene_id}] = ds[schema.VAR_TB].sel(scene=scene_id) + delta
    write_store(ds, path, chunk=CHUNK)
    manifest = read_manifest(data_dir)
    manifest["stores"]["obs"]["checksum"] = store_checksum(ds)
    write_manifest(data_dir, manifest)


def test_stats_use_only_the_train_role(data):
    before = normalisation_stats(data, "temporal")
    test_id = role_ids(data, "temporal", "id_test")[0]
    _shift_tb_of(data, test_id)
    after = normalisation_stats(data, "temporal")
    assert after["manifest_checksum"] != before["manifest_checksum"]  # recomputed, not cached
    assert after["mean"] == before["mean"] and after["std"] == before["std"]
    train_id = [i for i in role_ids(data, "temporal", "train") if i < schema.SIM_ID_OFFSET][0]
    _shift_tb_of(data, train_id)
    changed = normalisation_stats(data, "temporal")
    assert changed["mean"] != before["mean"]


def test_stats_cache(data, monkeypatch):
    stats = normalisation_stats(data, "iid", channels="drain4")
    files = list((data / "cache").glob("norm-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == stats
    assert not list((data / "cache").glob(".*tmp*"))  # atomic: no temporary left

    import tailshift.benchmark.normstats as bd

    def boom(*a, **k):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(bd, "SplitView", boom)
    assert normalisation_stats(data, "iid", channels="drain4") == stats
    with pytest.raises(AssertionError):
        normalisation_stats(data, "iid", channels="all")  # other channels: another key


def test_ddp_ranks_are_disjoint_and_equal(data):
    kw = dict(shuffle=True, seed=1, buffer_size=3)
    r0 = SceneStream(data, "temporal", "train", rank=0, world_size=2, **kw)
    r1 = SceneStream(data, "temporal", "train", rank=1, world_size=2, **kw)
    a = [int(s[schema.DIM_SCENE]) for s in r0]
    b = [int(s[schema.DIM_SCENE]) for s in r1]
    assert len(a) == len(b) == len(r0) == len(r1)
    assert not set(a) & set(b)
    assert set(a) | set(b) <= set(role_ids(data, "temporal", "train"))
    assert len(a) + len(b) >= r0.n_scenes - 2 * CHUNK
    # with two workers inside a rank the rank still yields its capped count
    loader = make_loader(
        data, "temporal", "train", batch_size=4, num_workers=2, rank=1, world_size=2, **kw
    )
    ids = epoch_ids(loader)
    assert len(ids) == len(r1) and set(ids) <= set(role_ids(data, "temporal", "train"))


def test_bad_inputs(data):
    from tailshift.errors import BadInputError

    with pytest.raises(BadInputError, match="buffer_size"):
        SceneStream(data, "temporal", "train", buffer_size=0)
    drain = normalisation_stats(data, "temporal", channels="drain4")
    with pytest.raises(BadInputError, match="lack channel"):
        SceneStream(data, "temporal", "train", stats=drain)
    assert SceneStream(data, "temporal", "train", channels="drain4", stats=drain).channels == (
        schema.DRAIN4_CHANNELS
    )
    with pytest.raises(BadInputError, match="does not exist"):
        SceneStream(data, data / "nope.toml", "train")
    with pytest.raises(BadInputError, match="unknown split"):
        make_loader(data, "tempral", "train")
    with pytest.raises(BadInputError, match="has no role"):
        make_loader(data, "iid", "ood_test")
    (data / schema.OBS_STORE / schema.VAR_TB / "0.0.0.0").unlink()
    with pytest.raises(BadInputError, match="truncated"):
        make_loader(data, "temporal", "train")


def test_view_is_not_pickled_into_workers(data):
    import pickle

    stream = SceneStream(data, "temporal", "id_test")
    blob = pickle.dumps(stream)
    assert len(blob) < 200_000
    assert not any(isinstance(v, SplitView) for v in vars(stream).values())
