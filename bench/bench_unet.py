"""Throughput of the quantile U-Net on CPU: training, data loading, inference, submit.

Run with ``bash scripts/bench.sh -k unet`` (pytest-benchmark). Each benchmark stores its
throughput in scenes/s in ``extra_info`` (``scenes_per_s``) so the JSON output can be compared
between machines. Data: a fake 64 x 64 x 13 dataset (:func:`tailshift.benchmark.testing.make_fake_dataset`),
the size of the quick and standard worlds' scenes.

* ``test_train_step``: one AdamW step of the default-config U-Net (width 16, depth 3) on a batch
  of 16 scenes -- the model's training throughput;
* ``test_loader_stream`` / ``test_loader_cached``: :class:`tailshift.baselines.loaders.SceneSource` delivering
  normalised, transformed batches from Zarr (streamed blocks) and from memory -- the loader's
  throughput, to compare with the model's (the loader should not be the bottleneck);
* ``test_predict``: ``UNetModel.predict`` on 32 scenes;
* ``test_run_predictions``: the whole submit path (read role, predict, check, append to Zarr,
  validate) over a role.

Device: ``TAILSHIFT_BENCH_DEVICE=cuda bash scripts/bench.sh -k unet`` runs the model benchmarks on
a GPU (``cpu`` by default). On CUDA the train step is also measured with fp16 autocast + GradScaler
and at width 32 / batch 64, and every timed call ends with ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tailshift import schema  # noqa: E402
from tailshift.baselines import common, registry, unet  # noqa: E402
from tailshift.baselines.loaders import SceneSource  # noqa: E402

SIZE = 64
BATCH = 16


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("bench") / "data", n_obs=160, n_sim=16,
                             size=SIZE, chunk=32)


@pytest.fixture(scope="module")
def obs(data):
    import xarray as xr

    return xr.open_zarr(data / schema.OBS_STORE)


def _source(obs, cache_mb):
    mean = np.full(13, 250.0, np.float32)
    std = np.full(13, 5.0, np.float32)
    return SceneSource(obs, schema.CHANNEL_NAMES, mean, std, "gprof_nn", cache_mb=cache_mb,
                       block_scenes=32)


DEVICE = os.environ.get("TAILSHIFT_BENCH_DEVICE", "cpu")
CUDA = DEVICE.startswith("cuda")
if CUDA and not torch.cuda.is_available():
    raise RuntimeError(f"TAILSHIFT_BENCH_DEVICE={DEVICE} but CUDA is not available; unset it")

#: (width, batch, amp) of the train-step benchmark: the default config on any device; on CUDA
#: also fp16 autocast and the 1.9 M-parameter width-32 net at a GPU-sized batch.
STEP_CASES = [(16, BATCH, False)] + (
    [(16, BATCH, True), (16, 64, True), (32, 64, False), (32, 64, True)] if CUDA else []
)


def _sync():
    if CUDA:
        torch.cuda.synchronize()


@pytest.mark.parametrize("width,batch,amp", STEP_CASES, ids=lambda v: str(v))
def test_train_step(benchmark, width, batch, amp):
    config = dataclasses.replace(registry.load_config("unet"), width=width)
    torch.manual_seed(0)
    net = unet.build_network(config, 13, len(common.QUANTILE_LEVELS)).to(DEVICE)
    from tailshift.baselines.losses import pinball_loss

    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    x = torch.randn(batch, 13, SIZE, SIZE, device=DEVICE)
    y = torch.rand(batch, SIZE, SIZE, device=DEVICE)
    tau = torch.as_tensor(common.QUANTILE_LEVELS, dtype=torch.float32, device=DEVICE)
    net.train()

    def step():
        opt.zero_grad()
        with torch.autocast(device_type="cuda" if CUDA else "cpu", dtype=torch.float16, enabled=amp):
            loss = pinball_loss(net(x), y, tau)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        _sync()

    rounds = 20 if CUDA else 5
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=3 if CUDA else 1)
    benchmark.extra_info["scenes_per_s"] = batch / benchmark.stats.stats.mean
    benchmark.extra_info["n_parameters"] = unet.n_parameters(net)
    benchmark.extra_info["device"] = DEVICE


@pytest.mark.parametrize("mode", ["stream", "cached"])
def test_loader(benchmark, obs, mode):
    src = _source(obs, cache_mb=0 if mode == "stream" else 1024)
    src.warm()

    def epoch():
        return sum(len(x) for x, _ in src.batches(0, BATCH))

    n = benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)
    benchmark.extra_info["scenes_per_s"] = n / benchmark.stats.stats.mean


def test_predict(benchmark, obs):
    config = registry.load_config("unet")
    torch.manual_seed(0)
    net = unet.build_network(config, 13, len(common.QUANTILE_LEVELS)).to(DEVICE)
    model = unet.UNetModel(net, schema.CHANNEL_NAMES, np.full(13, 250.0), np.full(13, 5.0),
                           "gprof_nn", batch_size=BATCH, device=DEVICE)
    inputs = obs.isel(scene=slice(0, 32)).drop_vars(schema.VAR_PRECIP).load()
    benchmark.pedantic(model.predict, args=(inputs,), rounds=3, warmup_rounds=1)
    benchmark.extra_info["scenes_per_s"] = 32 / benchmark.stats.stats.mean
    benchmark.extra_info["device"] = DEVICE


def test_run_predictions(benchmark, data, tmp_path):
    from tailshift.app.running import run_predictions
    from tailshift.benchmark.dataset import role_sizes

    run = registry.train("unet", {"width": 16, "depth": 3, "max_epochs": 1, "max_train_scenes": 16},
                         data, "temporal", tmp_path / "run")
    model = registry.load(run, device=DEVICE)
    n = role_sizes(data, "temporal")["ood_test"]["n_scenes"]
    counter = iter(range(1000))

    def go():
        return run_predictions(model, data, "temporal", "ood_test", tmp_path / f"p{next(counter)}.zarr",
                               batch_size=BATCH)

    benchmark.pedantic(go, rounds=2, warmup_rounds=0)
    benchmark.extra_info["scenes_per_s"] = n / benchmark.stats.stats.mean
    benchmark.extra_info["n_scenes"] = n
    benchmark.extra_info["device"] = DEVICE
