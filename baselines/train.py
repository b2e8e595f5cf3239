"""The torch training loop of the neural baselines (the quantile U-Net).

:func:`fit_torch` is called by a model module's ``train`` (:func:`tailshift.baselines.unet.train`),
which hands it the module's network builder. From the command line, also under
``torchrun --nproc_per_node=N`` (DistributedDataParallel; gloo on CPU, nccl on CUDA), it runs
through :mod:`tailshift.baselines.torchrun`.

What it does, in order:

1. resolve the split, the training sources (config ``sources`` within ``split.train_sources``),
   the channels and the device (:mod:`tailshift.baselines.device`);
2. data (:func:`tailshift.baselines.loaders.prepare_data`): normalisation from the training role
   only, the training role in memory or streamed, validation on ``id_val``; shuffling is seeded
   by ``(seed, epoch)``; under DDP every rank takes its own shard and all ranks run the same
   number of steps;
3. AdamW, pinball loss over :data:`tailshift.baselines.common.QUANTILE_LEVELS` (optionally in
   the GPROF-NN transformed space; :mod:`tailshift.baselines.losses`), gradient clipping, mixed
   precision (fp16 autocast + gradient scaling on CUDA, optional bf16 autocast on CPU), channel
   dropout;
4. after every epoch: the mean loss on ``id_val`` (all-reduced over ranks), a checkpoint in the
   run's staging directory (:mod:`tailshift.baselines.checkpoint`); early stopping after
   ``patience`` epochs without improvement; ``--resume`` continues from the last checkpoint and
   gives the same weights as an uninterrupted run on the same device;
5. the best weights go to ``model.pt`` (state_dict, read back with ``weights_only=True``),
   ``run.json`` (:mod:`tailshift.baselines.runmeta`) is written and the run directory is renamed
   into place (:mod:`tailshift.baselines.rundir`).

Determinism: the same seed, data, device and world size give the same weights (torch seeded,
shuffling from ``numpy.random.default_rng([seed, epoch])``, deterministic algorithms requested).

torch is imported inside the functions (a heavy dependency, deferred so that importing the model
modules stays cheap).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.baselines import common
from tailshift.baselines.checkpoint import TrainState, restore_checkpoint, save_checkpoint
from tailshift.baselines.device import (
    all_reduce_mean,
    amp_settings,
    barrier,
    device_type,
    dist_info,
    init_distributed,
    leave_distributed,
    resolve_device,
    seed_everything,
)
from tailshift.baselines.loaders import (
    SceneSource,
    StreamSource,
    TrainingData,
    marginal_quantiles,
    prepare_data,
)
from tailshift.baselines.losses import make_loss
from tailshift.baselines.rundir import (
    CHECKPOINT,
    HISTORY_JSON,
    MODEL_PT,
    RunDir,
    dataset_info,
    finish_run,
    now_iso,
    save_json,
    save_state_dict,
    staging_path,
    start_run,
)
from tailshift.baselines.runmeta import torch_run_meta

__all__ = ["Interrupted", "dropped_channels", "evaluate_loss", "fit_torch"]

#: ``build_network(config, n_channels, n_levels) -> torch.nn.Module`` of a model module.
NetworkBuilder = Callable[[Any, int, int], Any]


class Interrupted(KeyboardInterrupt):
    """Raised by the test hook ``_stop_after`` to simulate an interrupted run."""


def dropped_channels(channels: tuple[str, ...], keep: Any) -> list[int]:
    """Positions in ``channels`` of the channels that channel dropout masks: those not in ``keep``
    (a channel-set name or list, :func:`tailshift.schema.resolve_channels`)."""
    kept = set(schema.resolve_channels(keep))
    return [i for i, c in enumerate(channels) if c not in kept]


@dataclass
class Trainer:
    """The torch objects of one run: what a training step and the checkpoints use."""

    net: Any  # the network itself (weights, checkpoints, gradient clipping)
    model: Any  # ``net`` or its DistributedDataParallel wrapper (forward passes)
    optim: Any
    scaler: Any  # torch.amp.GradScaler (enabled with fp16 autocast only)
    loss_fn: Callable
    tau: Any  # the quantile levels, a float32 tensor on the device
    device: str
    use_amp: bool
    amp_dtype: Any
    grad_clip: float
    p_drop: float  # channel dropout probability per scene
    drop_idx: Any  # channel positions channel dropout masks (None when off)

    @property
    def dev_type(self) -> str:
        return device_type(self.device)


def build_trainer(config: Any, build_network: NetworkBuilder, channels: tuple[str, ...],
                  data: TrainingData, device: str, use_amp: bool, amp_dtype: Any,
                  distributed: bool, resume: bool) -> Trainer:
    """Seed torch, build the network (its head started from the training marginals unless
    resuming), the optimiser, the gradient scaler and the loss."""
    import torch  # deferred: heavy optional dependency

    if getattr(config, "threads", 0) and not device.startswith("cuda"):
        torch.set_num_threads(config.threads)
    seed_everything(config.seed, device)
    levels = common.QUANTILE_LEVELS
    net = build_network(config, len(channels), len(levels))
    head = getattr(net, "head", None)
    if head is not None and hasattr(head, "init_quantiles") and not resume:
        head.init_quantiles(marginal_quantiles(data.train, levels, seed=config.seed))
    net = net.to(device)
    model = net
    if distributed:
        from torch.nn.parallel import DistributedDataParallel  # deferred: with torch

        model = DistributedDataParallel(
            net, device_ids=[device] if device.startswith("cuda") else None
        )
    optim = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device_type(device),
                                  enabled=use_amp and amp_dtype == torch.float16)
    loss_fn = make_loss(config.loss, config.transform, config.loss_threshold, config.loss_weight)
    tau = torch.as_tensor(levels, dtype=torch.float32, device=device)
    p_drop = float(config.channel_dropout)
    drop_idx = torch.as_tensor(dropped_channels(channels, config.dropout_keep),
                               dtype=torch.long, device=device) if p_drop > 0 else None
    return Trainer(net, model, optim, scaler, loss_fn, tau, device, use_amp, amp_dtype,
                   config.grad_clip, p_drop, drop_idx)


def train_step(tr: Trainer, x: np.ndarray, y: np.ndarray, drop_rng: np.random.Generator) -> float:
    """One optimiser step on a batch; returns its loss."""
    import torch  # deferred: heavy optional dependency

    xt = torch.from_numpy(x).to(tr.device, non_blocking=True)
    if tr.drop_idx is not None:  # channel dropout: the scene sees the training mean (0)
        keep = torch.from_numpy(drop_rng.random(len(x)) >= tr.p_drop).to(tr.device, xt.dtype)
        scale = torch.ones((len(x), xt.shape[1], 1, 1), dtype=xt.dtype, device=tr.device)
        scale[:, tr.drop_idx] = keep.view(-1, 1, 1, 1)
        xt = xt * scale  # not in place: on CPU xt shares memory with the loader's array
    yt = torch.from_numpy(y).to(tr.device, non_blocking=True)
    with torch.autocast(device_type=tr.dev_type, dtype=tr.amp_dtype, enabled=tr.use_amp):
        pred = tr.model(xt)
    loss = tr.loss_fn(pred.float(), yt, tr.tau)
    tr.optim.zero_grad(set_to_none=True)
    tr.scaler.scale(loss).backward()
    if tr.grad_clip:
        tr.scaler.unscale_(tr.optim)
        torch.nn.utils.clip_grad_norm_(tr.net.parameters(), tr.grad_clip)
    tr.scaler.step(tr.optim)
    tr.scaler.update()
    return float(loss.detach())


def train_epoch(tr: Trainer, src: SceneSource | StreamSource, config: Any, epoch: int, rank: int,
                world: int, distributed: bool,
                report: common.ProgressFn | None) -> tuple[float, int, float]:
    """One epoch over this rank's batches -> (mean loss over ranks, scenes, seconds)."""
    tr.model.train()
    t0 = time.perf_counter()
    total, count = 0.0, 0
    n_batches = src.n_batches(config.batch_size, world)
    drop_rng = np.random.default_rng([config.seed, epoch, rank, 1])  # resumable
    for i, (x, y) in enumerate(src.batches(epoch, config.batch_size, rank, world)):
        loss = train_step(tr, x, y, drop_rng)
        total += loss * len(x)
        count += len(x)
        if report:
            report("batch", i + 1, n_batches, {"loss": loss})
    seconds = time.perf_counter() - t0
    return all_reduce_mean(total, count, distributed), count, seconds


def evaluate_loss(model: Any, src: SceneSource | None, tau: Any, loss_fn: Any, device: str,
                  dev_type: str, use_amp: bool, amp_dtype: Any, batch_size: int, rank: int = 0,
                  world: int = 1, distributed: bool = False) -> float:
    """Mean loss over a role (NaN when there is none), reduced over ranks."""
    import torch  # deferred: heavy optional dependency

    if src is None:
        return float("nan")
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for x, y in src.batches(0, batch_size, rank, world, shuffle=False):
            xt = torch.from_numpy(x).to(device)
            yt = torch.from_numpy(y).to(device)
            with torch.autocast(device_type=dev_type, dtype=amp_dtype, enabled=use_amp):
                pred = model.module(xt) if distributed else model(xt)
            total += float(loss_fn(pred.float(), yt, tau)) * len(x)
            count += len(x)
    return all_reduce_mean(total, count, distributed)


def run_epochs(tr: Trainer, data: TrainingData, config: Any, config_dict: dict[str, Any],
               state: TrainState, stage: Path, rank: int, world: int, distributed: bool,
               report: common.ProgressFn | None, stop_after: int | None = None) -> None:
    """Train from ``state.epoch`` until ``max_epochs`` or early stopping, checkpointing each
    epoch (rank 0); ``stop_after`` (test hook) raises :class:`Interrupted` after that epoch."""
    for epoch in range(state.epoch, config.max_epochs):
        if state.bad_epochs >= config.patience:
            break
        train_loss, scenes, seconds = train_epoch(tr, data.train, config, epoch, rank, world,
                                                  distributed, report)
        val_loss = evaluate_loss(tr.model, data.val, tr.tau, tr.loss_fn, tr.device, tr.dev_type,
                                 tr.use_amp, tr.amp_dtype, config.batch_size, rank, world,
                                 distributed)
        state.record(epoch, val_loss if data.val is not None else train_loss, tr.net)
        row = {"epoch": epoch, "train_loss": train_loss,
               "val_loss": val_loss if data.val is not None else float("nan"),
               "seconds": seconds,
               "train_scenes_per_s": scenes * world / max(seconds, 1e-9)}
        state.history.append(row)
        if rank == 0:
            save_checkpoint(stage, config_dict, tr.net, tr.optim, tr.scaler, state)
        if report:
            report("epoch", epoch + 1, config.max_epochs, row)
        if stop_after is not None and state.epoch >= stop_after:
            barrier(distributed)
            raise Interrupted(f"stopped after {stop_after} epoch(s) (test hook)")


def fit_torch(baseline: str, config: Any, data_dir: str | Path, split: Any, out_dir: str | Path,
              build_network: NetworkBuilder, n_parameters: Callable[[Any], int],
              device: str = "cpu", progress: common.ProgressFn | None = None, force: bool = False,
              resume: bool = False, _stop_after: int | None = None) -> RunDir:
    """Train a torch baseline (see the module docstring); returns the finished :class:`RunDir`.

    ``build_network(config, n_channels, n_levels)`` and ``n_parameters(net)`` come from the
    model module that calls this (:mod:`tailshift.baselines.unet`).
    """
    split = common.resolve_split(split)
    sources = common.training_sources(tuple(config.sources), split)
    channels = config.channel_names
    common.check_training_channels(split, channels)
    rank, world, local = dist_info()
    device = resolve_device(device, local)
    use_amp, amp_dtype = amp_settings(config, device)  # checked before anything is written
    distributed = world > 1
    if distributed:
        init_distributed(device)
    out_dir = Path(out_dir)
    try:
        if rank == 0:
            start_run(out_dir, force=force, resume=resume)
        barrier(distributed)
        stage = staging_path(out_dir)
        report = progress if rank == 0 else None
        started, t_start = now_iso(), time.perf_counter()
        data = prepare_data(config, data_dir, split, sources, channels, rank, world, report)
        tr = build_trainer(config, build_network, channels, data, device, use_amp, amp_dtype,
                           distributed, resume)
        config_dict = common.config_to_dict(config)
        state = TrainState()
        if resume:
            state = restore_checkpoint(stage, config_dict, tr.net, tr.optim, tr.scaler)
        run_epochs(tr, data, config, config_dict, state, stage, rank, world, distributed, report,
                   _stop_after)
        barrier(distributed)
        if rank == 0:
            save_state_dict(stage / MODEL_PT, state.best_model)
            save_json(stage / HISTORY_JSON, state.history)
            meta = torch_run_meta(
                baseline, config, config_dict, split, dataset_info(data_dir), sources, channels,
                common.QUANTILE_LEVELS, data, state, started, t_start, device, world,
                str(amp_dtype) if use_amp else "off", n_parameters(tr.net),
            )
            finish_run(stage, out_dir, meta, force=force)
        barrier(distributed)
        return RunDir(out_dir)
    except BaseException:
        stage = staging_path(out_dir)
        if rank == 0 and stage.is_dir() and not (stage / CHECKPOINT).is_file():
            shutil.rmtree(stage, ignore_errors=True)  # nothing to resume from: leave nothing
        raise
    finally:
        leave_distributed(distributed)
