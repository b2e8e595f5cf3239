"""Training data of the torch baselines: normalisation, in-memory and streamed sources.

:func:`prepare_data` resolves what one torch run reads (in order):

1. per-channel normalisation from the training role only
   (:func:`tailshift.benchmark.normstats.normalisation_stats`: observed scenes when the role has
   them);
2. the training source (config ``loader``): the training role is held in memory when smaller
   than ``cache_mb`` (one read; :class:`SceneSource`), else streamed by
   :class:`tailshift.benchmark.torchdata.SceneStream` (chunk-aligned reads, bounded shuffle
   buffer, ``num_workers`` DataLoader workers; :class:`StreamSource`); shuffling is seeded by
   ``(seed, epoch)``; under DDP every rank takes its own shard and all ranks run the same number
   of steps;
3. the validation source: :class:`SceneSource` over ``id_val`` (in memory, or contiguous blocks
   read by a background thread).

Importing this module does not import torch (only :class:`StreamSource` needs it).
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.baselines import common
from tailshift.benchmark.normstats import normalisation_stats
from tailshift.errors import BadInputError, TailShiftError

#: Standard deviations are floored at this many K (a constant channel must not divide by zero).
MIN_STD = 0.1


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
        ok = np.isfinite(y)
        y = np.where(ok, common.rain_transform(np.where(ok, y, 0), self.transform), np.nan)
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
        blocks = [np.arange(s.start, s.stop)
                  for s in common.iter_batches(self.n, self.block_scenes)]
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
    """Training batches from :class:`tailshift.benchmark.torchdata.SceneStream` (chunk-aligned
    reads, bounded shuffle buffer, DataLoader workers), with the interface of :class:`SceneSource`.

    Used for training roles larger than ``cache_mb`` (or ``loader = "stream"``). Labels are
    transformed here; NaN TBs become 0 (the mean). Under DDP every rank stops after
    ``floor(rank_scenes / batch_size)`` batches (SceneStream caps ranks to equal scene counts;
    worker partial batches can only add batches), so all ranks run the same number of steps.
    """

    def __init__(self, data_dir: Any, split: Any, channels: tuple[str, ...],
                 sources: tuple[str, ...], stats: dict, transform: str, seed: int,
                 num_workers: int, buffer_scenes: int, rank: int, world: int):
        # deferred: torchdata imports torch (heavy), needed only when the training role streams
        from tailshift.benchmark.torchdata import SceneStream

        self.transform = transform
        self.num_workers = num_workers
        self.world = world
        self.stream = SceneStream(data_dir, split, "train", channels=list(channels),
                                  sources=sources, stats=stats, shuffle=True,
                                  buffer_size=buffer_scenes, seed=seed, rank=rank,
                                  world_size=world)
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
        from torch.utils.data import DataLoader  # deferred: heavy optional dependency

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




def marginal_quantiles(src: SceneSource | StreamSource, levels: np.ndarray, max_scenes: int = 256,
                       seed: int = 0) -> np.ndarray:
    """Quantiles of the (transformed) training labels over up to ``max_scenes`` scenes."""
    rng = np.random.default_rng([seed, 7])
    pos = np.sort(rng.choice(src.n, size=min(src.n, max_scenes), replace=False))
    _, y = src.load(pos)
    y = y[np.isfinite(y)]
    if y.size == 0:
        raise TailShiftError("the training labels are all NaN; check the dataset")
    return np.quantile(y.astype(np.float64), levels)


# ------------------------------------------------------------------------------------ one run
@dataclass
class TrainingData:
    """What one torch run reads: its sources and the normalisation they apply.

    Attributes
    ----------
    train : SceneSource or StreamSource
        Training batches.
    val : SceneSource or None
        ``id_val`` batches (None when the split has no such role or it is empty).
    stats : dict
        :func:`tailshift.benchmark.normstats.normalisation_stats` of the training role.
    mean, std : numpy.ndarray
        Normalisation per model channel (K); ``std`` floored at :data:`MIN_STD`.
    norm_sources : tuple[str, ...]
        Sources the normalisation was computed on.
    """

    train: SceneSource | StreamSource
    val: SceneSource | None
    stats: dict
    mean: np.ndarray
    std: np.ndarray
    norm_sources: tuple[str, ...]


def normalisation(data_dir: str | Path, split: Any, channels: tuple[str, ...],
                  sources: tuple[str, ...]) -> tuple[dict, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(stats, mean, std, norm_sources)`` of the training role, in the model's channel order.

    Observed scenes only when the training sources include them (a hybrid run normalises like an
    observed-only one).
    """
    norm_sources = (schema.SOURCE_OBS,) if schema.SOURCE_OBS in sources else sources
    stats = normalisation_stats(data_dir, split, channels=channels, sources=norm_sources)
    by_name = dict(zip(stats["channels"], zip(stats["mean"], stats["std"], strict=True),
                       strict=True))
    mean = np.array([by_name[c][0] for c in channels], np.float32)
    std = np.maximum(np.array([by_name[c][1] for c in channels], np.float32), MIN_STD)
    return stats, mean, std, norm_sources


def training_source(config: Any, data_dir: str | Path, split: Any, sources: tuple[str, ...],
                    channels: tuple[str, ...], stats: dict, mean: np.ndarray, std: np.ndarray,
                    rank: int, world: int) -> SceneSource | StreamSource:
    """The training source the config's ``loader`` asks for (see the module docstring)."""
    train_ds = common.load_role(data_dir, split, "train", channels=channels, sources=sources)
    if train_ds.sizes[schema.DIM_SCENE] == 0:
        raise BadInputError(f"split {split.name!r} has no training scenes in {data_dir}")
    src = SceneSource(train_ds, channels, mean, std, config.transform, config.max_train_scenes,
                      config.cache_mb, seed=config.seed, sim_fraction=config.sim_fraction)
    streams = config.loader == "stream" or (config.loader == "auto" and not src.cached)
    if streams and config.sim_fraction is not None:
        raise BadInputError(
            f"sim_fraction needs the in-memory loader, but loader = {config.loader!r} with "
            + f"{src.n} training scenes and cache_mb = {config.cache_mb} streams; use "
            + "loader = \"auto\" or \"memory\", raise cache_mb or lower max_train_scenes"
        )
    if streams:
        stats_used = dict(stats, mean=[float(v) for v in mean], std=[float(v) for v in std],
                          channels=list(channels))
        return StreamSource(data_dir, split, channels, sources, stats_used, config.transform,
                            config.seed, config.num_workers, config.buffer_scenes, rank, world)
    if config.loader == "memory":
        src.cached = True
    return src


def validation_source(config: Any, data_dir: str | Path, split: Any, sources: tuple[str, ...],
                      channels: tuple[str, ...], mean: np.ndarray,
                      std: np.ndarray) -> SceneSource | None:
    """:class:`SceneSource` over ``id_val`` from the training sources (None when empty)."""
    if "id_val" not in split.roles:
        return None
    val_sources = tuple(s for s in sources if s in split.role("id_val").sources) or None
    val_ds = common.load_role(data_dir, split, "id_val", channels=channels, sources=val_sources)
    if not val_ds.sizes[schema.DIM_SCENE]:
        return None
    return SceneSource(val_ds, channels, mean, std, config.transform, config.max_val_scenes,
                       config.cache_mb, seed=config.seed)


def prepare_data(config: Any, data_dir: str | Path, split: Any, sources: tuple[str, ...],
                 channels: tuple[str, ...], rank: int = 0, world: int = 1,
                 report: common.ProgressFn | None = None) -> TrainingData:
    """Normalisation, training and validation sources of a run, warmed (caches filled)."""
    stats, mean, std, norm_sources = normalisation(data_dir, split, channels, sources)
    train = training_source(config, data_dir, split, sources, channels, stats, mean, std, rank,
                            world)
    val = validation_source(config, data_dir, split, sources, channels, mean, std)
    if report:
        report("load", 0, 1, None)
    train.warm()
    if val is not None:
        val.warm()
    if report:
        report("load", 1, 1, None)
    return TrainingData(train, val, stats, mean, std, norm_sources)
