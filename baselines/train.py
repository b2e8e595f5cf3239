"""The torch training loop of the neural baselines (the quantile U-Net).

``python -m tailshift.baselines.train unet --split temporal [--data DIR] [--out DIR] [--config FILE]
[--device cpu|cuda|auto] [--resume] [--force]`` -- also under ``torchrun --nproc_per_node=N``
(DistributedDataParallel; gloo on CPU, nccl on CUDA).

What it does, in order:

1. resolve the split, the training sources (config ``sources`` within ``split.train_sources``)
   and the channels; per-channel normalisation from the training role only
   (:func:`tailshift.benchmark.dataset.normalisation_stats`: observed scenes when the role has them);
2. data (config ``loader``): the training role is held in memory when smaller than
   ``cache_mb`` (one read; :class:`SceneSource`), else streamed by
   :class:`tailshift.benchmark.torchdata.SceneStream` (chunk-aligned reads, bounded shuffle buffer,
   ``num_workers`` DataLoader workers; :class:`StreamSource`); shuffling is seeded by
   ``(seed, epoch)``; under DDP every rank takes its own shard and all ranks run the same number
   of steps. Validation uses :class:`SceneSource` (in memory, or contiguous blocks read by a
   background thread);
3. AdamW, pinball loss over :data:`tailshift.baselines.common.QUANTILE_LEVELS` (optionally in the GPROF-NN
   transformed space), gradient clipping, mixed precision (fp16 autocast + gradient scaling on
   CUDA, optional bf16 autocast on CPU);
4. after every epoch: the mean loss on ``id_val`` (all-reduced over ranks), a checkpoint
   (model, optimiser, scaler, best weights, early-stopping counters, history) in the run's
   staging directory; early stopping after ``patience`` epochs without improvement;
   ``--resume`` continues from the last checkpoint and gives the same weights as an
   uninterrupted run on the same device;
5. the best weights go to ``model.pt`` (state_dict, read back with ``weights_only=True``) and the
   run directory is renamed into place (:mod:`tailshift.baselines.rundir`).

Determinism: the same seed, data, device and world size give the same weights (torch seeded,
shuffling from ``numpy.random.default_rng([seed, epoch])``, deterministic algorithms requested).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.baselines import common
from tailshift.baselines.rundir import (
    CHECKPOINT,
    HISTORY_JSON,
    MODEL_PT,
    RunDir,
    base_meta,
    finish_run,
    load_state_dict,
    now_iso,
    save_json,
    save_state_dict,
    staging_path,
    start_run,
)
from tailshift.errors import BadInputError, TailShiftError


class Interrupted(KeyboardInterrupt):
    """Raised by the test hook ``_stop_after`` to simulate an interrupted run."""


def dropped_channels(channels: tuple[str, ...], keep: Any) -> list[int]:
    """Positions in ``channels`` of the channels that channel dropout masks: those not in ``keep``
    (a channel-set name or list, :func:`tailshift.schema.resolve_channels`)."""
    kept = set(schema.resolve_channels(keep))
    return [i for i, c in enumerate(channels) if c not in kept]


def _strided(positions: np.ndarray, k: int) -> np.ndarray:
    """``k`` of ``positions``, evenly strided (all of them when ``k`` >= their number)."""
    if k >= len(positions):
        return positions
    if k <= 0:
        return positions[:0]
    return positions[np.unique(np.linspace(0, len(positions) - 1, k).round().astype(int))]


def mixed_index(sources: np.ndarray, sim_fraction: float, max_scenes: int = 0) -> np.ndarray:
    """Scene positions with a share ``sim_fraction`` of simulator scenes (hybrid training).

    ``sources`` is the per-scene source label of the role. The total is ``max_scenes`` (0 = as
    many as the sources allow); when one source runs short the total shrinks so the ratio holds
    (e.g. 9 858 observed scenes at ``sim_fraction = 0.5`` allow 19 716 scenes in all).
    """
    obs = np.flatnonzero(sources == schema.SOURCE_OBS)
    sim = np.flatnonzero(sources == schema.SOURCE_SIM)
    f = float(sim_fraction)
    if (f > 0 and not len(sim)) or (f < 1 and not len(obs)):
        raise BadInputError(
            f"sim_fraction = {f} needs both sources in the training role, which has {len(obs)} "
            + f"observed and {len(sim)} simulator scenes; add the missing one to 'sources'"
        )
    total = max_scenes or len(obs) + len(sim)
    caps = [total]
    if f > 0:
        caps.append(int(len(sim) / f))
    if f < 1:
        caps.append(int(len(obs) / (1 - f)))
    total = min(caps)
    n_sim = int(round(f * total))
    return np.sort(np.concatenate([_strided(obs, total - n_sim), _strided(sim, n_sim)]))


# ------------------------------------------------------------------------------------- data
class SceneSource:
    """Normalised inputs and transformed labels of one role, batched per epoch.

    Parameters
    ----------
    ds : xarray.Dataset
        The role (lazy).
    channels : tuple[str, ...]
        Model channels, in order.
    mean, std : numpy.ndarray
        Normalisation per channel (K).
    transform : str
        Rain transform of the labels.
    max_scenes : int
        Keep at most this many scenes, evenly strided (0 = all).
    sim_fraction : float, optional
        Hybrid-training mixing ratio: the share of the kept scenes that are simulator scenes
        (the rest observed; each part evenly strided). ``None`` keeps the role's own proportions.
        When a source has too few scenes, the total shrinks so that the ratio holds.
    cache_mb : int
        Load everything once when the role is smaller than this many MiB.
    block_scenes : int
        Scenes per streamed block.
    """

    def __init__(self, ds: Any, channels: tuple[str, ...], mean: np.ndarray, std: np.ndarray,
                 transform: str, max_scenes: int = 0, cache_mb: int = 2048, block_scenes: int = 256,
                 seed: int = 0, sim_fraction: float | None = None):
        self.ds = ds
        self.channels = channels
        self.mean = mean.astype(np.float32)[None, :, None, None]
        self.std = std.astype(np.float32)[None, :, None, None]
        self.transform = transform
        self.seed = seed
        n = ds.sizes[schema.DIM_SCENE]
        self.index = np.arange(n)
        if sim_fraction is not None:
            self.index = mixed_index(np.asarray(ds[schema.COORD_SOURCE].values).astype(str),
                                     sim_fraction, max_scenes)
        elif max_scenes and n > max_scenes:
            self.index = _strided(np.arange(n), max_scenes)
        self.n = len(self.index)
        ny, nx = ds.sizes[schema.DIM_Y], ds.sizes[schema.DIM_X]
        self.bytes_per_scene = 4 * (len(channels) + 1) * ny * nx
        self.cached = self.n * self.bytes_per_scene <= cache_mb * 2**20
        self.block_scenes = max(1, block_scenes)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def load(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read scenes at ``positions`` (into :attr:`index`; ascending) -> (x, y)."""
        if self._cache is not None:
            return self._cache[0][positions], self._cache[1][positions]
        part = self.ds.isel({schema.DIM_SCENE: self.index[positions]})
        tb = common.tb_array(part, self.channels)
        x = np.nan_to_num((tb - self.mean) / self.std, nan=0.0, posinf=0.0, neginf=0.0)
        y = common.labels_array(part)
        y = np.where(np.isfinite(y), common.rain_transform(np.where(np.isfinite(y), y, 0), self.transform), np.nan)
        return x.astype(np.float32), y.astype(np.float32)

    def warm(self) -> None:
        """Fill the in-memory cache (when :attr:`cached`)."""
        if self.cached and self._cache is None and self.n:
            xs, ys = [], []
            for sl in common.iter_batches(self.n, self.block_scenes):
                x, y = self.load(np.arange(sl.start, sl.stop))
                xs.append(x)
                ys.append(y)
            self._cache = (np.concatenate(xs), np.concatenate(ys))

    def _groups(self, epoch: int, rank: int, world: int, shuffle: bool) -> list[list[np.ndarray]]:
        """Per rank: a list of position groups (each group is read at once)."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.cached:
            perm = rng.permutation(self.n) if shuffle else np.arange(self.n)
            per = self.n // world if shuffle else math.ceil(self.n / world)
            return [[perm[r * per:(r + 1) * per]] for r in range(world)]
        blocks = [np.arange(s.start, s.stop) for s in common.iter_batches(self.n, self.block_scenes)]
        order = rng.permutation(len(blocks)) if shuffle else np.arange(len(blocks))
        out = []
        for r in range(world):
            mine = [blocks[b] for b in order[r::world]]
            out.append([rng.permutation(b) if shuffle else b for b in mine])
        return out

    def n_batches(self, batch_size: int, world: int = 1) -> int:
        """Training batches per epoch and rank (the same for every epoch)."""
        groups = self._groups(0, 0, world, True)
        return min(sum(math.ceil(len(g) / batch_size) for g in gs) for gs in groups)

    def batches(self, epoch: int, batch_size: int, rank: int = 0, world: int = 1,
                shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(x, y)`` batches of this rank for ``epoch``.

        With ``shuffle`` (training) every rank yields the same number of batches (DDP needs it);
        without, ranks cover disjoint parts of all scenes (validation).
        """
        groups = self._groups(epoch, rank, world, shuffle)
        if shuffle:
            steps = min(sum(math.ceil(len(g) / batch_size) for g in gs) for gs in groups)
        else:
            steps = sum(math.ceil(len(g) / batch_size) for g in groups[rank])
        mine = groups[rank]
        done = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            def read(g):
                order = np.argsort(g)
                x, y = self.load(g[order])
                inv = np.empty_like(order)
                inv[order] = np.arange(len(order))
                return x[inv], y[inv]

            future = pool.submit(read, mine[0]) if mine and len(mine[0]) else None
            for i in range(len(mine)):
                if future is None or done >= steps:
                    break
                x, y = future.result()
                future = pool.submit(read, mine[i + 1]) if i + 1 < len(mine) else None
                for sl in common.iter_batches(len(x), batch_size):
                    if done >= steps:
                        break
                    yield x[sl], y[sl]
                    done += 1


class StreamSource:
    """Training batches from :class:`tailshift.benchmark.torchdata.SceneStream` (chunk-aligned reads,
    bounded shuffle buffer, DataLoader workers), with the same interface as :class:`SceneSource`.

    Used for training roles larger than ``cache_mb`` (or ``loader = "stream"``). Labels are
    transformed here; NaN TBs become 0 (the mean). Under DDP every rank stops after
    ``floor(rank_scenes / batch_size)`` batches (SceneStream caps ranks to equal scene counts;
    worker partial batches can only add batches), so all ranks run the same number of steps.
    """

    def __init__(self, data_dir: Any, split: Any, channels: tuple[str, ...], sources: tuple[str, ...],
                 stats: dict, transform: str, seed: int, num_workers: int, buffer_scenes: int,
                 rank: int, world: int):
        from tailshift.benchmark.torchdata import SceneStream

        self.transform = transform
        self.num_workers = num_workers
        self.world = world
        self.stream = SceneStream(data_dir, split, "train", channels=list(channels), sources=sources,
                                  stats=stats, shuffle=True, buffer_size=buffer_scenes, seed=seed,
                                  rank=rank, world_size=world)
        self.n = self.stream.n_scenes
        self.cached = False

    def warm(self) -> None:
        """Nothing to preload (streamed)."""

    def n_batches(self, batch_size: int, world: int = 1) -> int:
        per_rank = len(self.stream)
        if world > 1:
            return max(1, per_rank // batch_size)
        return math.ceil(per_rank / batch_size)

    def _convert(self, item: dict) -> tuple[np.ndarray, np.ndarray]:
        x = np.nan_to_num(item[schema.VAR_TB].numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        y = item[schema.VAR_PRECIP].numpy()
        ok = np.isfinite(y)
        y = np.where(ok, common.rain_transform(np.where(ok, y, 0.0), self.transform), np.nan)
        return x.astype(np.float32), y.astype(np.float32)

    def batches(self, epoch: int, batch_size: int, rank: int = 0, world: int = 1,
                shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from torch.utils.data import DataLoader

        self.stream.set_epoch(epoch)
        loader = DataLoader(self.stream, batch_size=batch_size, num_workers=self.num_workers)
        steps = self.n_batches(batch_size, world)
        for i, item in enumerate(loader):
            if i >= steps:
                break
            yield self._convert(item)

    def load(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A sample of ``len(positions)`` scenes (the first ones of epoch 0), for statistics."""
        xs, ys, got = [], [], 0
        for x, y in self.batches(0, 16):
            xs.append(x)
            ys.append(y)
            got += len(x)
            if got >= len(positions):
                break
        return np.concatenate(xs)[: len(positions)], np.concatenate(ys)[: len(positions)]


# ------------------------------------------------------------------------------ distributed
def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def resolve_device(device: str, local_rank: int = 0) -> str:
    """``cpu`` / ``cuda`` / ``cuda:N`` / ``auto`` -> a torch device string; CUDA must exist."""
    import torch

    device = device or "cpu"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInputError(f"--device {device} asked for, but CUDA is not available; use --device cpu")
        if device == "cuda":
            device = f"cuda:{local_rank}"
    elif device != "cpu":
        raise BadInputError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    return device


def _amp(config: Any, device: str) -> tuple[bool, Any]:
    import torch

    mode = config.amp
    if mode == "auto":
        mode = "fp16" if device.startswith("cuda") else "off"
    if mode == "off":
        return False, None
    if mode == "fp16" and not device.startswith("cuda"):
        raise BadInputError("amp = 'fp16' needs CUDA; use amp = 'bf16' or 'off' on CPU")
    return True, torch.float16 if mode == "fp16" else torch.bfloat16


def seed_everything(seed: int, device: str) -> None:
    """Seed torch (CPU and CUDA) and request deterministic algorithms."""
    import torch

    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


# ------------------------------------------------------------------------------------- loop
def fit_torch(baseline: str, config: Any, data_dir: str | Path, split: Any, out_dir: str | Path,
              device: str = "cpu", progress: common.ProgressFn | None = None, force: bool = False,
              resume: bool = False, _stop_after: int | None = None) -> RunDir:
    """Train a torch baseline (see the module docstring); returns the finished :class:`RunDir`."""
    import torch
    import torch.distributed as dist

    from tailshift.baselines.losses import make_loss
    from tailshift.baselines.registry import get
    from tailshift.benchmark.dataset import normalisation_stats

    module = get(baseline).load_module()
    split = common.resolve_split(split)
    sources = common.training_sources(tuple(config.sources), split)
    channels = config.channel_names
    common.check_training_channels(split, channels)
    rank, world, local = _dist_info()
    device = resolve_device(device, local)
    use_amp, amp_dtype = _amp(config, device)  # checked before anything is written
    distributed = world > 1
    if distributed and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    out_dir = Path(out_dir)
    try:
        if rank == 0:
            stage = start_run(out_dir, force=force, resume=resume)
        if distributed:
            dist.barrier()
        stage = staging_path(out_dir)
        report = progress if rank == 0 else None
        started, t_start = now_iso(), time.perf_counter()

        norm_sources = (schema.SOURCE_OBS,) if schema.SOURCE_OBS in sources else sources
        stats = normalisation_stats(data_dir, split, channels=channels, sources=norm_sources)
        by_name = dict(zip(stats["channels"], zip(stats["mean"], stats["std"], strict=True), strict=True))
        mean = np.array([by_name[c][0] for c in channels], np.float32)
        std = np.maximum(np.array([by_name[c][1] for c in channels], np.float32), 0.1)

        train_ds = common.load_role(data_dir, split, "train", channels=channels, sources=sources)
        if train_ds.sizes[schema.DIM_SCENE] == 0:
            raise BadInputError(f"split {split.name!r} has no training scenes in {data_dir}")
        train_src: SceneSource | StreamSource = SceneSource(
            train_ds, channels, mean, std, config.transform, config.max_train_scenes,
            config.cache_mb, seed=config.seed, sim_fraction=config.sim_fraction)
        streams = config.loader == "stream" or (config.loader == "auto" and not train_src.cached)
        if streams and config.sim_fraction is not None:
            raise BadInputError(
                f"sim_fraction needs the in-memory loader, but loader = {config.loader!r} with "
                + f"{train_src.n} training scenes and cache_mb = {config.cache_mb} streams; use "
                + "loader = \"auto\" or \"memory\", raise cache_mb or lower max_train_scenes"
            )
        if streams:
            stats_used = dict(stats, mean=[float(v) for v in mean], std=[float(v) for v in std],
                              channels=list(channels))
            train_src = StreamSource(data_dir, split, channels, sources, stats_used, config.transform,
                                     config.seed, config.num_workers, config.buffer_scenes, rank, world)
        elif config.loader == "memory":
            train_src.cached = True
        val_src = None
        if "id_val" in split.roles:
            val_sources = tuple(s for s in sources if s in split.role("id_val").sources) or None
            val_ds = common.load_role(data_dir, split, "id_val", channels=channels, sources=val_sources)
            if val_ds.sizes[schema.DIM_SCENE]:
                val_src = SceneSource(val_ds, channels, mean, std, config.transform,
                                      config.max_val_scenes, config.cache_mb, seed=config.seed)
        if report:
            report("load", 0, 1, None)
        train_src.warm()
        if val_src is not None:
            val_src.warm()
        if report:
            report("load", 1, 1, None)

        if getattr(config, "threads", 0) and not device.startswith("cuda"):
            torch.set_num_threads(config.threads)
        seed_everything(config.seed, device)
        levels = common.QUANTILE_LEVELS
        net = module.build_network(config, len(channels), len(levels))
        head = getattr(net, "head", None)
        if head is not None and hasattr(head, "init_quantiles") and not resume:
            head.init_quantiles(marginal_quantiles(train_src, levels, seed=config.seed))
        net = net.to(device)
        model = net
        if distributed:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(net, device_ids=[device] if device.startswith("cuda") else None)
        optim = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        dev_type = "cuda" if device.startswith("cuda") else "cpu"
        scaler = torch.amp.GradScaler(dev_type, enabled=use_amp and amp_dtype == torch.float16)
        loss_fn = make_loss(config.loss, config.transform, config.loss_threshold, config.loss_weight)
        tau = torch.as_tensor(levels, dtype=torch.float32, device=device)
        config_dict = common.config_to_dict(config)
        p_drop = float(config.channel_dropout)
        drop_idx = torch.as_tensor(dropped_channels(channels, config.dropout_keep),
                                   dtype=torch.long, device=device) if p_drop > 0 else None

        state = {"epoch": 0, "best_val": math.inf, "best_epoch": -1, "bad_epochs": 0}
        history: list[dict[str, float]] = []
        best_state: dict[str, Any] | None = None
        if resume:
            ck = load_state_dict(stage / CHECKPOINT)
            if ck.get("config") != config_dict:
                raise BadInputError(
                    f"the checkpoint in {stage} was written with another config; resume with the " +
                    "same --config or drop --resume"
                )
            net.load_state_dict(ck["model"])
            optim.load_state_dict(ck["optimizer"])
            if ck.get("scaler"):
                scaler.load_state_dict(ck["scaler"])
            best_state = ck["best_model"]
            history = list(ck["history"])
            state = {k: ck[k] for k in state}
            torch.set_rng_state(ck["torch_rng"])

        for epoch in range(state["epoch"], config.max_epochs):
            if state["bad_epochs"] >= config.patience:
                break
            model.train()
            t0 = time.perf_counter()
            total, count, scenes = 0.0, 0, 0
            n_batches = train_src.n_batches(config.batch_size, world)
            drop_rng = np.random.default_rng([config.seed, epoch, rank, 1])  # resumable
            for i, (x, y) in enumerate(train_src.batches(epoch, config.batch_size, rank, world)):
                xt = torch.from_numpy(x).to(device, non_blocking=True)
                if drop_idx is not None:  # channel dropout: the scene sees the training mean (0)
                    keep = torch.from_numpy(drop_rng.random(len(x)) >= p_drop).to(device, xt.dtype)
                    scale = torch.ones((len(x), xt.shape[1], 1, 1), dtype=xt.dtype, device=device)
                    scale[:, drop_idx] = keep.view(-1, 1, 1, 1)
                    xt = xt * scale  # not in place: on CPU xt shares memory with the loader's array
                yt = torch.from_numpy(y).to(device, non_blocking=True)
                with torch.autocast(device_type=dev_type, dtype=amp_dtype, enabled=use_amp):
                    pred = model(xt)
                loss = loss_fn(pred.float(), yt, tau)
                optim.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip:
                    scaler.unscale_(optim)
                    torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
                scaler.step(optim)
                scaler.update()
                total += float(loss.detach()) * len(x)
                count += len(x)
                scenes += len(x)
                if report:
                    report("batch", i + 1, n_batches, {"loss": float(loss.detach())})
            train_seconds = time.perf_counter() - t0
            sums = torch.tensor([total, count], dtype=torch.float64)
            if distributed:
                dist.all_reduce(sums)
            train_loss = float(sums[0] / max(float(sums[1]), 1.0))
            val_loss = evaluate_loss(model, val_src, tau, loss_fn, device, dev_type, use_amp,
                                     amp_dtype, config.batch_size, rank, world, distributed)
            score = val_loss if val_src is not None else train_loss
            if score < state["best_val"]:
                state.update(best_val=score, best_epoch=epoch, bad_epochs=0)
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch + 1
            row = {"epoch": epoch, "train_loss": train_loss,
                   "val_loss": val_loss if val_src is not None else float("nan"),
                   "seconds": train_seconds,
                   "train_scenes_per_s": scenes * world / max(train_seconds, 1e-9)}
            history.append(row)
            if rank == 0:
                save_state_dict(stage / CHECKPOINT, {
                    "config": config_dict, "model": net.state_dict(), "optimizer": optim.state_dict(),
                    "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                    "best_model": best_state, "history": history, "torch_rng": torch.get_rng_state(),
                    **state,
                })
            if report:
                report("epoch", epoch + 1, config.max_epochs, row)
            if _stop_after is not None and state["epoch"] >= _stop_after:
                if distributed:
                    dist.barrier()
                raise Interrupted(f"stopped after {_stop_after} epoch(s) (test hook)")

        if distributed:
            dist.barrier()
        if rank == 0:
            save_state_dict(stage / MODEL_PT, best_state)
            save_json(stage / HISTORY_JSON, history)
            meta = base_meta(baseline, config_dict, split, data_dir, sources, channels, levels)
            meta["normalisation"] = {"mean": mean.tolist(), "std": std.tolist(),
                                     "sources": list(norm_sources)}
            meta["transform"] = config.transform
            speeds = [h["train_scenes_per_s"] for h in history]
            meta["timing"] = {
                "started": started, "finished": now_iso(),
                "seconds": time.perf_counter() - t_start,
                "epochs_run": len(history), "best_epoch": state["best_epoch"],
                "train_scenes_per_s": float(np.median(speeds)) if speeds else None,
                "n_train_scenes": train_src.n, "n_val_scenes": val_src.n if val_src else 0,
                "loader": type(train_src).__name__ + (" (in memory)" if train_src.cached else ""),
                "device": device, "world_size": world, "amp": str(amp_dtype) if use_amp else "off",
            }
            meta["extra"] = {"n_parameters": module.n_parameters(net), "history": history,
                             "early_stopping_on": "id_val" if val_src is not None else "train"}
            finish_run(stage, out_dir, meta, force=force)
        if distributed:
            dist.barrier()
        return RunDir(out_dir)
    except BaseException:
        stage = staging_path(out_dir)
        if rank == 0 and stage.is_dir() and not (stage / CHECKPOINT).is_file():
            import shutil

            shutil.rmtree(stage, ignore_errors=True)  # nothing to resume from: leave nothing
        raise
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def marginal_quantiles(src: SceneSource, levels: np.ndarray, max_scenes: int = 256,
                       seed: int = 0) -> np.ndarray:
    """Quantiles of the (transformed) training labels over up to ``max_scenes`` scenes."""
    rng = np.random.default_rng([seed, 7])
    pos = np.sort(rng.choice(src.n, size=min(src.n, max_scenes), replace=False))
    _, y = src.load(pos)
    y = y[np.isfinite(y)]
    if y.size == 0:
        raise TailShiftError("the training labels are all NaN; check the dataset")
    return np.quantile(y.astype(np.float64), levels)


def evaluate_loss(model: Any, src: SceneSource | None, tau: Any, loss_fn: Any, device: str,
                  dev_type: str, use_amp: bool, amp_dtype: Any, batch_size: int, rank: int = 0,
                  world: int = 1, distributed: bool = False) -> float:
    """Mean loss over a role (NaN when there is none), reduced over ranks."""
    import torch
    import torch.distributed as dist

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
    sums = torch.tensor([total, count], dtype=torch.float64)
    if distributed:
        dist.all_reduce(sums)
    return float(sums[0] / max(float(sums[1]), 1.0))


# -------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m tailshift.baselines.train BASELINE --split NAME ...`` (also under torchrun)."""
    from tailshift.app.common import default_data_dir
    from tailshift.baselines import registry

    p = argparse.ArgumentParser(prog="python -m tailshift.baselines.train", description=__doc__.splitlines()[0])
    p.add_argument("baseline", choices=sorted(registry.REGISTRY))
    p.add_argument("--split", required=True)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    data = args.data if args.data is not None else default_data_dir()
    rank = int(os.environ.get("RANK", "0"))

    def report(stage, done, total, metrics):
        if stage == "epoch" and metrics:
            print(f"epoch {done}/{total}: train {metrics['train_loss']:.4f} " +
                  f"val {metrics['val_loss']:.4f} ({metrics['train_scenes_per_s']:.1f} scenes/s)",
                  flush=True)

    try:
        run = registry.train(args.baseline, args.config, data, args.split, args.out, device=args.device,
                             progress=report if rank == 0 else None, force=args.force, resume=args.resume)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TailShiftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if rank == 0:
        print(f"wrote {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
