"""Quantile U-Net and its training loop: monotone head, shapes, determinism, resume, config fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tailshift import schema  # noqa: E402
from tailshift.baselines import common, registry, unet  # noqa: E402
from tailshift.baselines.rundir import MODEL_PT, load_state_dict, staging_path  # noqa: E402
from tailshift.baselines.train import Interrupted, fit_torch  # noqa: E402
from tailshift.errors import BadInputError  # noqa: E402

from .conftest import TINY_UNET  # noqa: E402


def _cfg(**kw):
    return common.load_config(unet.Config, {**TINY_UNET, **kw})


def test_head_never_crosses_and_odd_sizes_work():
    torch.manual_seed(0)
    net = unet.build_network(_cfg(depth=2), 3, 35)
    net.eval()
    x = torch.randn(2, 3, 15, 13) * 5
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 35, 15, 13)
    assert torch.all(out[:, 1:] >= out[:, :-1])


def test_head_starts_from_the_climatology():
    torch.manual_seed(0)
    net = unet.build_network(_cfg(depth=2), 3, 5)
    target = np.array([-6.9, -6.9, -2.0, 0.5, 4.0])
    net.head.init_quantiles(target)
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 16, 16)).numpy()
    np.testing.assert_allclose(np.median(out, axis=(0, 2, 3)), np.maximum.accumulate(target + [0, 1e-3, 0, 0, 0]),
                               atol=0.6)
    assert np.all(np.diff(out, axis=1) > 0)


def test_width_and_depth_change_the_network():
    a = unet.n_parameters(unet.build_network(_cfg(width=4, depth=2), 13, 35))
    b = unet.n_parameters(unet.build_network(_cfg(width=8, depth=2), 13, 35))
    c = unet.n_parameters(unet.build_network(_cfg(width=4, depth=3), 13, 35))
    assert a < b and a < c


def test_run_metadata_and_predict(unet_run, bl_data):
    meta = unet_run.meta
    assert meta["baseline"] == "unet" and meta["split"]["name"] == "temporal"
    assert meta["training_sources"] == ["obs"]
    assert len(meta["quantile_levels"]) == len(common.QUANTILE_LEVELS)
    assert meta["normalisation"]["sources"] == ["obs"] and len(meta["normalisation"]["mean"]) == 13
    assert meta["timing"]["epochs_run"] == 1 and meta["timing"]["train_scenes_per_s"] > 0
    assert meta["config"]["threads"] == 1 and torch.get_num_threads() == 1
    assert meta["dataset"]["checksum"]
    assert not (unet_run.path / "checkpoint.pt").exists()
    state = load_state_dict(unet_run.file(MODEL_PT))
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    from tailshift.benchmark.dataset import select_role

    model = registry.load(unet_run)
    ds = select_role(bl_data, "temporal", "ood_test").isel(scene=slice(0, 3))
    q = model.predict(ds.drop_vars(schema.VAR_PRECIP))[schema.VAR_QUANTILES].values
    assert q.shape == (3, 35, 16, 16) and q.min() >= 0 and np.all(np.diff(q, axis=1) >= 0)
    # sensor-style input without the high-frequency channels: imputed, still valid
    sub = ds.sel({schema.DIM_CHANNEL: list(schema.NO_HIGH_FREQ_CHANNELS)}).drop_vars(schema.VAR_PRECIP)
    q2 = model.predict(sub)[schema.VAR_QUANTILES].values
    assert np.isfinite(q2).all() and set(model.imputed_channels) == set(schema.CHANNEL_NAMES) - set(
        schema.NO_HIGH_FREQ_CHANNELS)


def _weights(run):
    return load_state_dict(run.file(MODEL_PT))


@pytest.mark.slow
def test_deterministic_given_seed(bl_data, tmp_path):
    a = registry.train("unet", _cfg(max_epochs=2), bl_data, "temporal", tmp_path / "a")
    b = registry.train("unet", _cfg(max_epochs=2), bl_data, "temporal", tmp_path / "b")
    c = registry.train("unet", _cfg(max_epochs=2, seed=1), bl_data, "temporal", tmp_path / "c")
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    hist = json.loads((a.path / "history.json").read_text())
    assert len(hist) == 2 and all(np.isfinite(h["val_loss"]) for h in hist)


def test_resume_matches_uninterrupted_run(bl_data, tmp_path):
    cfg = _cfg(max_epochs=2, patience=5)
    full = registry.train("unet", cfg, bl_data, "temporal", tmp_path / "full")
    out = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        fit_torch("unet", cfg, bl_data, "temporal", out, unet.build_network, unet.n_parameters,
                  _stop_after=1)
    assert not out.exists() and (staging_path(out) / "checkpoint.pt").is_file()
    with pytest.raises(BadInputError, match="another config"):
        registry.train("unet", _cfg(max_epochs=2, patience=5, lr=0.5), bl_data, "temporal", out, resume=True)
    resumed = registry.train("unet", cfg, bl_data, "temporal", out, resume=True)
    wf, wr = _weights(full), _weights(resumed)
    assert all(torch.allclose(wf[k].float(), wr[k].float(), atol=1e-6) for k in wf)
    assert resumed.meta["timing"]["epochs_run"] == 2


@pytest.mark.slow
def test_config_fields_change_the_output(bl_data, tmp_path):
    from tailshift.benchmark.dataset import select_role

    ds = select_role(bl_data, "temporal", "id_test").drop_vars(schema.VAR_PRECIP)

    def predict(name, **kw):
        run = registry.train("unet", _cfg(**kw), bl_data, "temporal", tmp_path / name)
        return registry.load(run).predict(ds)[schema.VAR_QUANTILES].values, run

    base, _ = predict("base")
    for i, change in enumerate(({"transform": "none"}, {"channels": "drain4"}, {"lr": 0.01},
                                {"batch_size": 2}, {"weight_decay": 0.5}, {"grad_clip": 1e-4},
                                {"max_train_scenes": 6}, {"amp": "bf16"}, {"loader": "stream"},
                                {"loader": "stream", "buffer_scenes": 2},
                                {"loss": "pinball", "seed": 2})):
        other, run = predict(f"r{i}", **change)
        assert not np.allclose(other, base), change
    assert run.meta["config"]["seed"] == 2
    _, drain = predict("drain", channels="drain4")
    assert drain.channels == schema.DRAIN4_CHANNELS


def test_early_stopping_stops(bl_data, tmp_path, monkeypatch):
    import tailshift.baselines.train as tr

    losses = iter([1.0, 0.5, 0.7, 0.9, 0.4, 0.3])  # best at epoch 1, then 2 bad epochs
    monkeypatch.setattr(tr, "evaluate_loss", lambda *a, **k: next(losses))
    run = registry.train("unet", _cfg(max_epochs=6, patience=2), bl_data, "temporal", tmp_path / "es")
    t = run.meta["timing"]
    assert t["epochs_run"] == 4 and t["best_epoch"] == 1


def test_bad_inputs(bl_data, tmp_path, obs_only_split):
    with pytest.raises(BadInputError, match="allows training on"):
        registry.train("unet", _cfg(sources=("sim",)), bl_data, obs_only_split, tmp_path / "x")
    with pytest.raises(BadInputError, match="CUDA"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        registry.train("unet", _cfg(), bl_data, "temporal", tmp_path / "y", device="cuda")
    with pytest.raises(BadInputError, match="fp16"):
        registry.train("unet", _cfg(amp="fp16"), bl_data, "temporal", tmp_path / "z")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
def test_streaming_loader_is_deterministic(bl_data, tmp_path):
    a = registry.train("unet", _cfg(loader="stream", buffer_scenes=8), bl_data, "temporal", tmp_path / "a")
    b = registry.train("unet", _cfg(loader="stream", buffer_scenes=8), bl_data, "temporal", tmp_path / "b")
    assert a.meta["timing"]["loader"] == "StreamSource"
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["memory", "stream"])
def test_ddp_torchrun_two_processes(bl_data, tmp_path, loader):
    import os
    import subprocess
    import sys

    cfg = tmp_path / "tiny.toml"
    cfg.write_text('baseline = "unet"\nwidth = 4\ndepth = 2\nmax_epochs = 2\nbatch_size = 2\n'
                   + f'loader = "{loader}"\n')
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "tailshift.baselines.torchrun", "unet", "--split", "temporal", "--data", str(bl_data),
           "--out", str(out), "--config", str(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "run.json").read_text())
    assert meta["timing"]["world_size"] == 2 and meta["timing"]["epochs_run"] == 2
    assert meta["timing"]["loader"].startswith("StreamSource" if loader == "stream" else "SceneSource")
    assert (out / MODEL_PT).is_file()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on a GPU machine)")
def test_cuda_training_with_amp_and_inference_match_cpu(bl_data, tmp_path):
    """On a GPU: fp16 autocast + GradScaler train, and CUDA inference equals CPU inference."""
    run = registry.train("unet", _cfg(amp="fp16", threads=0), bl_data, "temporal", tmp_path / "g",
                         device="cuda")
    meta = run.meta
    assert meta["timing"]["device"].startswith("cuda") and meta["timing"]["amp"] != "off"
    assert all(np.isfinite(h["train_loss"]) for h in meta["extra"]["history"])
    import xarray as xr

    inputs = xr.open_zarr(bl_data / schema.OBS_STORE).isel(scene=slice(0, 8)).drop_vars(schema.VAR_PRECIP)
    cpu = registry.load(run).predict(inputs)[schema.VAR_QUANTILES].values
    gpu = registry.load(run, device="cuda").predict(inputs)[schema.VAR_QUANTILES].values
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("loss", ["twcrps", "tail_pinball"])
def test_trains_with_a_tail_loss(bl_data, tmp_path, loss):
    run = registry.train("unet", _cfg(loss=loss, loss_weight=0.5, loss_threshold=2.0), bl_data,
                         "temporal", tmp_path / loss)
    assert run.config["loss"] == loss and run.config["loss_weight"] == 0.5
    assert all(np.isfinite(h["train_loss"]) for h in run.meta["extra"]["history"])
    plain = registry.train("unet", _cfg(), bl_data, "temporal", tmp_path / "plain")
    assert run.meta["extra"]["history"][0]["train_loss"] != plain.meta["extra"]["history"][0]["train_loss"]


def test_mixed_index_keeps_the_ratio():
    from tailshift.baselines.loaders import mixed_index

    src = np.array(["obs"] * 30 + ["sim"] * 100)
    idx = mixed_index(src, 0.5, 40)
    assert len(idx) == 40 and (src[idx] == "sim").sum() == 20 and len(np.unique(idx)) == 40
    idx = mixed_index(src, 0.5, 0)  # obs runs short: 30 obs + 30 sim
    assert (src[idx] == "obs").sum() == 30 and (src[idx] == "sim").sum() == 30
    assert set(src[mixed_index(src, 0.0, 10)]) == {"obs"}
    assert set(src[mixed_index(src, 1.0, 10)]) == {"sim"}
    with pytest.raises(BadInputError, match="needs both sources"):
        mixed_index(np.array(["obs"] * 5), 0.5)


def test_hybrid_training_with_a_mixing_ratio(bl_data, tmp_path):
    run = registry.train("unet", _cfg(sources=("obs", "sim"), sim_fraction=0.25, max_train_scenes=16),
                         bl_data, "temporal", tmp_path / "h")
    assert run.meta["timing"]["n_train_scenes"] == 16 and run.config["sim_fraction"] == 0.25
    assert run.training_sources == ("obs", "sim")
    with pytest.raises(BadInputError, match="set sources"):
        _cfg(sim_fraction=0.5)
    with pytest.raises(BadInputError, match=r"in \[0, 1\]"):
        _cfg(sources=("obs", "sim"), sim_fraction=1.5)
    with pytest.raises(BadInputError, match="in-memory loader"):
        registry.train("unet", _cfg(sources=("obs", "sim"), sim_fraction=0.5, cache_mb=0), bl_data,
                       "temporal", tmp_path / "s")


def test_channel_dropout(bl_data, tmp_path, monkeypatch):
    from tailshift.baselines import train as train_mod

    assert train_mod.dropped_channels(schema.CHANNEL_NAMES, "no_high_freq") == [
        i for i, c in enumerate(schema.CHANNEL_NAMES) if c not in schema.CHANNEL_SETS["no_high_freq"]]
    with pytest.raises(BadInputError, match=r"\[0, 1\)"):
        _cfg(channel_dropout=1.0)
    with pytest.raises(BadInputError, match="keeps every model channel"):
        _cfg(channel_dropout=0.5, dropout_keep="all")
    seen = []
    real = unet.build_network

    def spy_build(*a, **k):
        net = real(*a, **k)
        net.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].detach().clone()))
        return net

    monkeypatch.setattr(unet, "build_network", spy_build)
    run = registry.train("unet", _cfg(channel_dropout=0.5, batch_size=8), bl_data, "temporal", tmp_path / "d")
    assert run.config["channel_dropout"] == 0.5
    drop = train_mod.dropped_channels(run.channels, "no_high_freq")
    kept = [i for i in range(len(run.channels)) if i not in drop]
    train_batches = [b for b in seen if b.shape[0] == 8]  # full batches (a few are validation)
    zero = torch.cat([(b[:, drop].abs().amax(dim=(1, 2, 3)) == 0) for b in train_batches])
    assert 0 < zero.float().mean() < 1  # some scenes lost the channels, some kept them
    for b in train_batches:  # the other channels are never touched
        assert bool(torch.all(b[:, kept].abs().amax(dim=(1, 2, 3)) > 0))
