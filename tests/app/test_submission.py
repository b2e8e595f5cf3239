"""Submission: the three model forms, batch-wise checks, timeouts, atomic output, submit + CLI."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.app.models import ModelFailure, load_model, load_models
from tailshift.app.running import run_predictions
from tailshift.app.submission import submit
from tailshift.errors import BadInputError

MODEL_PY = '''
import time
import numpy as np
import xarray as xr

LEVELS = np.array([0.1, 0.5, 0.9])


class Model:
    training_sources = ("obs",)

    def __init__(self, mode="ok"):
        self.mode = mode
        self.calls = 0

    def predict(self, inputs):
        self.calls += 1
        n, ny, nx = inputs.sizes["scene"], inputs.sizes["y"], inputs.sizes["x"]
        assert "surface_precip" not in inputs, "labels leaked"
        if self.mode == "raise" and self.calls == 2:
            raise RuntimeError("boom")
        if self.mode == "slow":
            time.sleep(5)
        if self.mode == "shape":
            ny = ny - 1
        if self.mode == "ood_fail" and int(inputs["scene"].max()) > 60:
            raise ValueError("cannot do the future")
        q = np.broadcast_to(np.array([0.0, 0.5, 2.0])[None, :, None, None], (n, 3, ny, nx))
        return xr.Dataset(
            {"surface_precip_quantiles": (("scene", "quantile", "y", "x"), q.astype("float32"),
                                          {"units": "mm h-1"})},
            coords={"scene": inputs["scene"].values, "quantile": LEVELS},
        )


def build():
    return Model()


def build_raise():
    return Model("raise")


def build_slow():
    return Model("slow")


def build_shape():
    return Model("shape")


def build_ood_fail():
    return Model("ood_fail")


def build_sim():
    m = Model()
    m.training_sources = ("sim",)
    return m


def retrieval_fn():
    def fn(inputs):
        tb = inputs["tb"].sel(channel="89.0V")
        return xr.Dataset({"surface_precip": (("scene", "y", "x"),
                           np.maximum(260.0 - tb.values, 0.0) / 10, {"units": "mm/h"})},
                          coords={"scene": inputs["scene"].values})
    return fn


class Ensemble:
    def predict(self, inputs):
        n, ny, nx = inputs.sizes["scene"], inputs.sizes["y"], inputs.sizes["x"]
        rng = np.random.default_rng(int(inputs["scene"].values[0]))
        samples = rng.gamma(0.5, 1.0, (ny, 4, nx, n)).astype("float32")  # any dim order
        return xr.Dataset({"surface_precip_samples": (("y", "member", "x", "scene"), samples,
                                                      {"units": "mm h-1"})},
                          coords={"scene": inputs["scene"].values[::-1][::-1]})


def build_samples():
    return Ensemble()


def not_a_model():
    return 42
'''


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("sub") / "data", n_obs=120, n_sim=40, size=16)


@pytest.fixture(scope="module")
def model_py(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "my_model.py"
    path.write_text(MODEL_PY)
    return path


@pytest.fixture(scope="module")
def clim_run(data, tmp_path_factory):
    from tailshift.baselines import registry

    return registry.train("climatology", None, data, "temporal", tmp_path_factory.mktemp("runs") / "clim")


def _leftovers(directory, out):
    return [p for p in directory.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_python_entry_point_predictions(data, model_py, tmp_path, suffix):
    m = load_model(f"{model_py}:build")
    assert m.kind == "python" and m.training_sources == ("obs",) and m.code_hash
    out = tmp_path / f"pred{suffix}"
    seen = []
    run_predictions(m, data, "temporal", "ood_test", out, batch_size=8,
                    progress=lambda s, d, t: seen.append((d, t)))
    from tailshift.benchmark.dataset import select_role
    from tailshift.benchmark.predictions import load_predictions

    ref = select_role(data, "temporal", "ood_test")
    pred = load_predictions(out, ref)
    assert pred.sizes[schema.DIM_SCENE] == ref.sizes[schema.DIM_SCENE]
    assert seen[-1][0] == seen[-1][1] == -(-ref.sizes[schema.DIM_SCENE] // 8)
    assert m.model.calls == seen[-1][1]
    assert _leftovers(tmp_path, out) == []


def test_satrain_style_callable_is_adapted(data, model_py, tmp_path):
    m = load_model(f"{model_py}:retrieval_fn")
    out = run_predictions(m, data, "temporal", "id_test", tmp_path / "p.zarr")
    ds = xr.open_zarr(out)
    assert schema.VAR_PRECIP in ds and schema.VAR_QUANTILES not in ds


def test_generative_samples_in_any_dim_order(data, model_py, tmp_path):
    out = run_predictions(load_model(f"{model_py}:build_samples"), data, "temporal", "id_test",
                          tmp_path / "s.zarr", batch_size=4)
    v = xr.open_zarr(out)[schema.VAR_SAMPLES]
    assert v.dims == (schema.DIM_SCENE, schema.DIM_MEMBER, schema.DIM_Y, schema.DIM_X)
    assert v.sizes[schema.DIM_MEMBER] == 4


def test_model_that_raises_names_the_batch(data, model_py, tmp_path):
    out = tmp_path / "p.zarr"
    with pytest.raises(ModelFailure, match=r"RuntimeError on batch 1 \(scenes \d+\.\.\d+\): boom"):
        run_predictions(load_model(f"{model_py}:build_raise"), data, "temporal", "ood_test", out, batch_size=8)
    assert not out.exists() and _leftovers(tmp_path, out) == []


def test_wrong_shape_names_the_batch(data, model_py, tmp_path):
    out = tmp_path / "p.nc"
    with pytest.raises(BadInputError, match=r"wrong output shape on batch 0 .*y=15"):
        run_predictions(load_model(f"{model_py}:build_shape"), data, "temporal", "ood_test", out)
    assert not out.exists()
    assert [p for p in tmp_path.iterdir()] == []


def test_timeout(data, model_py, tmp_path):
    import time

    out = tmp_path / "p.zarr"
    t0 = time.perf_counter()
    with pytest.raises(ModelFailure, match=r"longer than --timeout 0.3 s on batch 0"):
        run_predictions(load_model(f"{model_py}:build_slow"), data, "temporal", "ood_test", out, timeout=0.3)
    assert time.perf_counter() - t0 < 4 and not out.exists()


def test_bad_specs(model_py, tmp_path):
    with pytest.raises(BadInputError, match="no predict"):
        load_model(f"{model_py}:not_a_model")
    with pytest.raises(BadInputError, match="no callable"):
        load_model(f"{model_py}:missing")
    with pytest.raises(BadInputError, match="cannot tell"):
        load_model(str(tmp_path / "nothing"))
    with pytest.raises(BadInputError, match="neither a run directory"):
        load_model(tmp_path)
    prog = tmp_path / "m.pt"
    prog.write_bytes(b"")
    with pytest.raises(BadInputError, match="sidecar"):
        load_model(prog)


def _program_module():
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 3, 1)

        def forward(self, x):
            out = self.conv(x)
            return torch.cumsum(torch.nn.functional.softplus(out), dim=1)

    torch.manual_seed(0)
    return Tiny().eval()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kind", ["torchscript", "exported"])
def test_program_with_sidecar(data, tmp_path, kind):
    torch = pytest.importorskip("torch")
    mod = _program_module()
    if kind == "torchscript":
        path = tmp_path / "model.pt"
        torch.jit.script(mod).save(str(path))
        extra = ""
    else:
        path = tmp_path / "model.pt2"
        ep = torch.export.export(mod, (torch.zeros(2, 4, 16, 16),))
        torch.export.save(ep, str(path))
        extra = "batch_size = 2\n"
    (tmp_path / "model.toml").write_text(textwrap.dedent(f'''
        channels = "drain4"
        quantile_levels = [0.1, 0.5, 0.9]
        mean = [250.0, 250.0, 250.0, 250.0]
        std = [5.0, 5.0, 5.0, 5.0]
        training_sources = ["obs"]
        {extra}'''))
    m = load_model(path)
    assert m.kind == "program"
    out = run_predictions(m, data, "temporal", "id_test", tmp_path / "p.zarr", batch_size=5)
    q = xr.open_zarr(out)[schema.VAR_QUANTILES]
    assert q.sizes[schema.DIM_QUANTILE] == 3 and float(q.min()) >= 0
    (tmp_path / "model.toml").write_text('channels = "drain4"\nquantile_levels = [0.5, 0.1]\n')
    with pytest.raises(BadInputError, match="strictly increasing"):
        load_model(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_program_device(data, tmp_path):
    """``device`` places a program model; without CUDA, asking for it is a clear error."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.jit.script(_program_module()).save(str(path))
    (tmp_path / "model.toml").write_text('channels = "drain4"\nquantile_levels = [0.1, 0.5, 0.9]\n')
    with pytest.raises(BadInputError, match="unknown device"):
        load_model(path, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BadInputError, match="CUDA is not available"):
            load_model(path, device="cuda")
        return
    cpu = run_predictions(load_model(path), data, "temporal", "id_test", tmp_path / "c.zarr")
    gpu = run_predictions(load_model(path, device="cuda"), data, "temporal", "id_test", tmp_path / "g.zarr")
    a, b = (xr.open_zarr(p)[schema.VAR_QUANTILES].values for p in (cpu, gpu))
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_submit_run_writes_all_roles(data, clim_run, tmp_path):
    paths = submit(clim_run.path, "Clim ref", data_dir=data, results_dir=tmp_path / "res")
    assert [p.name for p in paths] == ["clim-ref.json"]
    res = json.loads(paths[0].read_text())
    assert set(res["roles"]) == {"id_test", "ood_test", "all_test"}
    # all_test = both test roles scored together: scene counts add, warming spans both roles
    roles = res["roles"]
    assert roles["all_test"]["n_scenes"] == roles["id_test"]["n_scenes"] + roles["ood_test"]["n_scenes"]
    assert roles["all_test"]["n_pixels"] == roles["id_test"]["n_pixels"] + roles["ood_test"]["n_pixels"]
    for m in ("crps", "mae"):  # pixel means: the pooled value lies between the two roles'
        lo, hi = sorted(roles[r]["scores"][m]["value"] for r in ("id_test", "ood_test"))
        assert lo - 1e-12 <= roles["all_test"]["scores"][m]["value"] <= hi + 1e-12
    sub = res["submission"]
    assert sub["baseline"] == "climatology" and sub["training_sources"] == ["obs"]
    assert res["split"]["name"] == "temporal"
    with pytest.raises(BadInputError, match="already holds"):
        submit(clim_run.path, "Clim ref", data_dir=data, results_dir=tmp_path / "res")
    # a directory of runs: each run for its own split
    paths = submit(clim_run.path.parent, "Clim dir", data_dir=data, results_dir=tmp_path / "res")
    assert paths[0].parent.name == "temporal"


def test_submit_refuses_wrong_split_and_sources(data, clim_run, model_py, tmp_path):
    with pytest.raises(BadInputError, match="trained for split 'temporal'"):
        submit(clim_run.path, "x", splits=["iid"], data_dir=data, results_dir=tmp_path)
    with pytest.raises(BadInputError, match="pass --split"):
        submit(f"{model_py}:build", "x", data_dir=data, results_dir=tmp_path)
    from tailshift.splits.loader import SPLITS_DIR

    text = (SPLITS_DIR / "temporal.toml").read_text()
    text = text.replace('train_sources = ["obs", "sim"]', 'train_sources = ["obs"]')
    start = text.index('[[roles.train.select]]\nsource = "sim"')
    text = text[:start] + text[text.index("[roles.id_val]"):]
    obs_only = tmp_path / "obs_only.toml"
    obs_only.write_text(text.replace('name = "temporal"', 'name = "temporal_obs"'))
    with pytest.raises(BadInputError, match="allows only"):
        submit(f"{model_py}:build_sim", "x", splits=[str(obs_only)], data_dir=data, results_dir=tmp_path)
    assert not any(tmp_path.rglob("*.json"))


def test_submit_is_all_or_nothing(data, model_py, tmp_path):
    with pytest.raises(ModelFailure, match="cannot do the future"):
        submit(f"{model_py}:build_ood_fail", "partial", splits=["temporal"], data_dir=data,
               results_dir=tmp_path / "res")
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").rglob("*.json"))


def test_submit_python_model_two_splits(data, model_py, tmp_path):
    paths = submit(f"{model_py}:build", "My retrieval", splits=["temporal", "iid"], data_dir=data,
                   results_dir=tmp_path / "res")
    assert sorted(p.parent.name for p in paths) == ["iid", "temporal"]


def test_cli_train_predict_submit(data, tmp_path):
    from tailshift.app.cli import main

    run = tmp_path / "runs" / "clim"
    assert main(["--data", str(data), "train", "climatology", "--split", "temporal", "--out", str(run),
                 "--quick"]) == 0
    assert (run / "run.json").is_file()
    assert main(["--data", str(data), "train", "climatology", "--split", "temporal", "--out", str(run)]) == 2
    assert main(["--data", str(data), "train", "nope", "--split", "temporal"]) == 2
    pred = tmp_path / "p.zarr"
    assert main(["--data", str(data), "predict", str(run), "--split", "temporal", "--role", "id_test",
                 "--out", str(pred)]) == 0
    assert pred.is_dir()
    assert main(["--data", str(data), "predict", str(run), "--split", "iid", "--role", "id_test",
                 "--out", str(tmp_path / "q.zarr")]) == 2
    assert main(["--data", str(data), "predict", str(run), "--split", "temporal", "--role", "id_test",
                 "--out", str(tmp_path / "r.zarr"), "--device", "tpu"]) == 2
    assert not (tmp_path / "r.zarr").exists()
    assert main(["--data", str(data), "submit", str(run), "--name", "Clim CLI", "--results",
                 str(tmp_path / "res")]) == 0
    assert (tmp_path / "res" / "temporal" / "clim-cli.json").is_file()
    assert load_models(run)[0].splits == ("temporal",)


def test_combine_test_roles_needs_both_roles_with_the_same_channels():
    from tailshift.app.submission import combine_test_roles

    class Stats:
        def merge(self, other):
            raise AssertionError("must not merge")

    blocks = {"id_test": {"channels": ["a", "b"]}, "ood_test": {"channels": ["a"]}}
    assert combine_test_roles(blocks, {"id_test": Stats(), "ood_test": Stats()}) is None
    assert combine_test_roles({"id_test": blocks["id_test"]}, {"id_test": Stats()}) is None
