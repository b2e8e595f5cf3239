"""The evaluation runner: Python API on xarray objects, streaming, distributed == in-process."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.benchmark import blocks as B
from tailshift.benchmark import evaluate as E
from tailshift.benchmark import planning
from tailshift.errors import BadInputError
from tests.benchmark.test_predictions import make_pred

SPLIT, ROLE = "temporal", "ood_test"
FAST = {"n_boot": 20, "n_boot_tail": 50}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(
        tmp_path_factory.mktemp("evaluate") / "data", n_obs=160, n_sim=4, size=8, seed=5
    )


@pytest.fixture(scope="module")
def ref(data):
    from tailshift.benchmark.dataset import select_role

    return select_role(data, SPLIT, ROLE).load()


@pytest.fixture(scope="module")
def pred_nc(ref, tmp_path_factory):
    path = tmp_path_factory.mktemp("evalpred") / "p.nc"
    order = np.random.default_rng(2).permutation(ref.sizes["scene"])
    make_pred(ref, order=order, point=True).to_netcdf(path)
    return path


def noisy(pred: xr.Dataset, scale: float, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    out = pred.copy(deep=True)
    for v in out.data_vars:
        factor = np.exp(rng.normal(0.0, scale, out[v].shape[0]))  # per-scene multiplicative error
        shape = (-1,) + (1,) * (out[v].ndim - 1)
        out[v].values = (out[v].values * factor.reshape(shape)).astype(np.float32)
    return out


# --- pieces ---------------------------------------------------------------------------------


def test_point_estimate_rules():
    q = np.stack([np.full((2, 3, 3), v, np.float32) for v in (1.0, 2.0, 4.0)], axis=1)
    np.testing.assert_allclose(B.point_estimate(None, q, (0.1, 0.5, 0.9), None), 2.0)
    np.testing.assert_allclose(B.point_estimate(None, q, (0.25, 0.75, 0.9), None), 1.5)
    s = np.stack([np.full((2, 3, 3), v, np.float32) for v in (1.0, 2.0, 6.0)], axis=1)
    np.testing.assert_allclose(B.point_estimate(None, None, None, s), 3.0)
    p = np.zeros((2, 3, 3), np.float32)
    assert B.point_estimate(p, q, (0.1, 0.5, 0.9), s) is p


def test_fold_is_a_left_fold_in_order():
    class Sym:
        def __init__(self, x):
            self.x = x

        def merge(self, other):
            return Sym(f"({self.x} {other.x})")

    assert B.fold(Sym(str(i)) for i in range(4)).x == "(((0 1) 2) 3)"
    with pytest.raises(Exception, match="no scene"):
        B.fold([])


def test_top_examples_deterministic():
    cands = [{"_max": m, "scene": s} for m, s in [(5.0, 9), (7.0, 3), (5.0, 2), (1.0, 1)]]
    assert [e["scene"] for e in B.top_examples(cands)] == [3, 2, 9]


# --- evaluate() on xarray objects -----------------------------------------------------------


def test_evaluate_on_xarray(ref):
    perfect = make_pred(ref, point=True)
    out = E.evaluate(perfect, ref, config=FAST)
    assert out["n_scenes"] == ref.sizes["scene"]
    assert out["n_pixels"] == ref[schema.VAR_PRECIP].size
    mae = out["scores"]["mae"]
    assert mae["value"] == pytest.approx(0.0, abs=1e-6)
    bad = E.evaluate(noisy(perfect, 0.5), ref, config=FAST)
    assert bad["scores"]["mae"]["value"] > 0.05
    assert bad["scores"]["crps"]["value"] > out["scores"]["crps"]["value"]
    for s in bad["scores"].values():
        assert set(s) == {"value", "ci_low", "ci_high"}
    lo, hi = bad["scores"]["mae"]["ci_low"], bad["scores"]["mae"]["ci_high"]
    assert lo < bad["scores"]["mae"]["value"] < hi
    assert set(bad["groups"]) >= {"regime", "surface_type"}
    assert "mae" in bad["worst_group"]


def test_evaluate_independent_of_order_and_chunking(ref):
    pred = noisy(make_pred(ref), 0.3)
    a = E.evaluate(pred, ref, config=FAST, chunk=64)
    perm = np.random.default_rng(4).permutation(ref.sizes["scene"])
    b = E.evaluate(pred.isel(scene=perm), ref.isel(scene=perm[::-1]), config=FAST, chunk=7)
    for name, s in a["scores"].items():
        va, vb = s["value"], b["scores"][name]["value"]
        if va is None or isinstance(va, bool):
            assert va == vb, name
        else:
            assert vb == pytest.approx(va, rel=1e-9, abs=1e-12), name
    assert a["examples"] == b["examples"]


def test_evaluate_metrics_selection_and_unknown(ref):
    out = E.evaluate(make_pred(ref), ref, metrics=["mae", "crps"], config=FAST)
    assert set(out["scores"]) == {"mae", "crps"}
    with pytest.raises(BadInputError, match="unknown metric"):
        E.evaluate(make_pred(ref), ref, metrics=["nope"])


def test_evaluate_rejects_invalid_predictions(ref):
    pred = make_pred(ref).isel(scene=slice(1, None))
    pred[schema.VAR_QUANTILES].attrs["units"] = "mm/day"
    with pytest.raises(BadInputError) as info:
        E.evaluate(pred, ref)
    assert "2 problems" in str(info.value)


def test_evaluate_samples_only_and_point_only(ref):
    s = E.evaluate(make_pred(ref, quantiles=False, samples=True), ref, config=FAST)
    assert "crps" in s["scores"] and s["examples"][0]["q99"] is not None
    p = E.evaluate(make_pred(ref, quantiles=False, point=True), ref, config=FAST)
    assert "mae" in p["scores"] and "crps" not in p["scores"]
    assert p["examples"][0]["q99"] is None


def test_examples_are_the_wettest_scenes(ref):
    out = E.evaluate(make_pred(ref), ref, config=FAST, chunk=5)
    maxima = ref[schema.VAR_PRECIP].max(("y", "x")).to_series().sort_values(ascending=False)
    assert [e["scene"] for e in out["examples"]] == list(maxima.index[:3])
    ex = out["examples"][0]
    expected = np.round(ref[schema.VAR_PRECIP].sel(scene=ex["scene"]).values.astype(float), 2)
    np.testing.assert_allclose(ex["reference"], expected)
    np.testing.assert_allclose(ex["median"], expected, atol=0.011)  # perfect median
    assert set(ex) == {"scene", "reference", "median", "q99"}


# --- score_role: files, in-process and distributed ------------------------------------------


def test_score_role_matches_evaluate(data, ref, pred_nc):
    a = E.score_role(pred_nc, data, SPLIT, ROLE, config=FAST, chunk=9)
    b = E.evaluate(xr.open_dataset(pred_nc), ref, config=FAST, chunk=9)
    assert a["scores"] == b["scores"] and a["examples"] == b["examples"]
    assert a["channels"] == list(schema.CHANNEL_NAMES)


def test_score_role_zarr_and_progress(data, ref, tmp_path):
    path = tmp_path / "p.zarr"
    make_pred(ref).to_zarr(path, zarr_format=2)
    calls = []
    out = E.score_role(
        path, data, SPLIT, ROLE, config=FAST, chunk=20, progress=lambda *a: calls.append(a)
    )
    n = ref.sizes["scene"]
    assert calls[-1] == (n, n) and len(calls) == -(-n // 20)
    assert out["n_scenes"] == n


@pytest.mark.slow
def test_distributed_equals_in_process(data, pred_nc):
    from distributed import Client, LocalCluster

    local = E.score_role(pred_nc, data, SPLIT, ROLE, config=FAST, chunk=10)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        remote = E.score_role(
            pred_nc, data, SPLIT, ROLE, scheduler=cluster.scheduler_address, config=FAST, chunk=10
        )
        with Client(cluster, set_as_default=False) as client:
            via_client = E.score_role(
                pred_nc, data, SPLIT, ROLE, scheduler=client, config=FAST, chunk=10
            )
    assert remote == local
    assert via_client == local


def test_unreachable_scheduler_is_bad_input(data, pred_nc, monkeypatch):
    monkeypatch.setattr(planning, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(BadInputError, match="cannot reach the dask scheduler"):
        E.score_role(pred_nc, data, SPLIT, ROLE, scheduler="tcp://127.0.0.1:1", config=FAST)


@pytest.mark.slow
def test_memory_does_not_grow_with_scenes(tmp_path):
    """Peak traced allocations while scoring 4x more scenes grow by far less than the data.

    Only O(n_scenes) scalars (ids, labels, warming) may grow; the fields are read block by block.
    """
    import gc
    import tracemalloc

    from tailshift.benchmark.dataset import select_role
    from tailshift.benchmark.testing import make_fake_dataset

    peaks, sizes = [], []
    for n in (40, 160):
        d = make_fake_dataset(tmp_path / f"d{n}", n_obs=n, n_sim=2, size=32, seed=1)
        r = select_role(d, SPLIT, ROLE).load()
        path = tmp_path / f"p{n}.nc"
        levels = (np.arange(32) + 0.5) / 32  # many levels: predictions dominate the data read
        y = r[schema.VAR_PRECIP].values[:, None]
        q = (y * (0.5 + levels)[None, :, None, None]).astype(np.float32)
        pred = xr.Dataset(
            {schema.VAR_QUANTILES: (("scene", "quantile", "y", "x"), q, {"units": "mm h-1"})},
            coords={"scene": r.scene.values, "quantile": levels},
        )
        pred.to_netcdf(path)
        sizes.append(pred[schema.VAR_QUANTILES].nbytes)  # one float32 copy of all quantiles
        del r, pred
        runs = []
        for _ in range(2 if n == 40 else 1):  # the first run warms caches and lazy imports
            gc.collect()
            tracemalloc.start()
            E.score_role(path, d, SPLIT, ROLE, config={"n_boot": 2, "n_boot_tail": 2}, chunk=8)
            runs.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        peaks.append(min(runs))
    # 4x the scenes; had the scorer held all predictions, the peak would grow by >= the
    # difference of one full copy (float64 validation doubles it)
    assert peaks[1] - peaks[0] < 0.25 * (sizes[1] - sizes[0]), (peaks, sizes)


def test_unknown_metric_fails_before_reading_predictions(data, tmp_path):
    with pytest.raises(BadInputError, match="unknown metric"):
        E.score_role(tmp_path / "missing.nc", data, SPLIT, ROLE, metrics=["nope"])
    with pytest.raises(BadInputError, match="unknown scoring option"):
        E.score_role(tmp_path / "missing.nc", data, SPLIT, ROLE, config={"n_bootz": 3})
