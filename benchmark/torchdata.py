"""PyTorch streaming of a split role: an ``IterableDataset`` with bounded memory.

The only module of ``benchmark`` that imports torch (``import benchmark`` stays torch-free).

Design
------
- **Chunk-aligned reads.** The role's scenes are grouped by the stores' on-disk chunks along
  ``scene`` (:func:`tailshift.benchmark.readplan.read_plan`); a unit is read with one contiguous slice, so
  every chunk is decompressed once per epoch.
- **Bounded memory.** At most ``buffer_size`` scenes wait in the shuffle buffer, plus the scenes
  of the unit being read (at most one store chunk). The whole store is never loaded;
  :attr:`SceneStream.peak_resident` records the largest number of scenes held (in-process).
- **Deterministic shuffling.** Units are permuted with a generator seeded by ``(seed, epoch)``;
  scenes pass through a shuffle buffer seeded by ``(seed, epoch, rank, worker)``. The same seed,
  epoch, worker count and world size give the same order; call :meth:`SceneStream.set_epoch`
  each epoch (as with ``DistributedSampler``).
- **Sharding.** Units are dealt round-robin to DDP ranks (``torch.distributed`` rank/world size
  when initialised) and then to ``DataLoader`` workers, so each scene is yielded exactly once per
  epoch over all ranks and workers. With several ranks each rank is capped to the smallest rank's
  scene count (a few scenes skipped per epoch, different ones each epoch) so that no rank waits
  forever in a collective.
- **Normalisation.** ``tb`` is standardised per channel, ``(tb - mean_c) / std_c``, with
  statistics from the *train role only* (:func:`tailshift.benchmark.normstats.normalisation_stats`,
  observations by default), cached under ``<data_dir>/cache/``. ``surface_precip`` is returned
  unchanged in mm h-1. NaN pixels are passed through as NaN.

Each item is a dict: ``tb`` float32 (C, H, W) normalised, ``surface_precip`` float32 (H, W),
``scene`` int64, ``warming`` float32 (K), ``source`` str, ``regime`` str.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from tailshift import schema
from tailshift.benchmark.dataset import SplitView
from tailshift.benchmark.dataset import resolve_role_channels as _resolve_channels
from tailshift.benchmark.normstats import normalisation_stats
from tailshift.benchmark.readplan import ReadUnit, read_plan, read_unit
from tailshift.errors import BadInputError

__all__ = ["SceneStream", "make_loader", "normalisation_stats"]


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class SceneStream(IterableDataset):
    """Stream the scenes of one role of a split (see the module docstring).

    Parameters
    ----------
    data_dir : path
        Dataset directory.
    split : splits.Split or str
        Split (object, name or path).
    role : str
        Role to stream.
    channels : str or sequence of str, optional
        Channel set or names within the role's channels (default: all of the role's channels).
    sources : sequence of str, optional
        Restrict to these sources (for ``train`` within the split's ``train_sources``).
    stats : dict, optional
        Normalisation statistics (from :func:`normalisation_stats`); computed from the train role
        if omitted and ``normalise`` is true.
    normalise : bool
        Standardise ``tb`` per channel.
    shuffle : bool
        Shuffle units and scenes (default True).
    buffer_size : int
        Shuffle buffer size in scenes (memory bound; larger mixes better).
    seed : int
        Base seed of the shuffling.
    rank, world_size : int, optional
        DDP rank and world size (default: from ``torch.distributed`` if initialised, else 0/1).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        split: Any,
        role: str,
        channels: str | Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        stats: dict | None = None,
        normalise: bool = True,
        shuffle: bool = True,
        buffer_size: int = 64,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        super().__init__()

        if buffer_size < 1:
            raise BadInputError(
                f"buffer_size must be >= 1, got {buffer_size}; pass a positive size"
            )
        view = SplitView(data_dir, split)
        self.data_dir = Path(data_dir)
        self.split = view.split
        self.role = role
        first = view.datasets[view.sources[0]]
        self.channels = _resolve_channels(self.split, role, channels, first)
        self.units: list[ReadUnit] = read_plan(view, role, sources)
        # per-unit metadata (small, 1-D): warming and regime of each scene
        self._meta: list[tuple[np.ndarray, np.ndarray]] = []
        row_of = {int(s): i for i, s in enumerate(view.coords[schema.DIM_SCENE].tolist())}
        for u in self.units:
            rows = np.array([row_of[int(s)] for s in u.scene_ids], dtype=np.int64)
            self._meta.append(
                (
                    view.coords[schema.COORD_WARMING][rows].astype(np.float32),
                    view.coords[schema.COORD_REGIME][rows].astype(str),
                )
            )
        self.normalise = normalise
        if normalise and stats is None:
            stats = normalisation_stats(self.data_dir, self.split, self.channels, view=view)
        self.stats = stats
        if normalise:
            missing = [c for c in self.channels if c not in stats.get("channels", [])]
            if missing:
                raise BadInputError(
                    f"normalisation statistics lack channel(s) {missing}; compute them with "
                    + "normalisation_stats(data_dir, split, channels) for these channels"
                )
            idx = [stats["channels"].index(c) for c in self.channels]
            self._mean = np.asarray(stats["mean"], dtype=np.float32)[idx][:, None, None]
            self._std = np.asarray(stats["std"], dtype=np.float32)[idx][:, None, None]
        self.shuffle = shuffle
        self.buffer_size = int(buffer_size)
        self.seed = int(seed)
        self.epoch = 0
        if rank is None or world_size is None:
            rank, world_size = _dist_rank_world()
        self.rank, self.world_size = int(rank), int(world_size)
        self.peak_resident = 0

    # --- sharding -------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (changes the shuffle order deterministically)."""
        self.epoch = int(epoch)

    @property
    def n_scenes(self) -> int:
        """Scenes of the role over all ranks."""
        return sum(len(u.positions) for u in self.units)

    def _unit_order(self) -> np.ndarray:
        order = np.arange(len(self.units))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(order)
        return order

    def _rank_units(self, rank: int) -> np.ndarray:
        return self._unit_order()[rank :: self.world_size]

    def _rank_cap(self) -> int:
        counts = [
            sum(len(self.units[i].positions) for i in self._rank_units(r))
            for r in range(self.world_size)
        ]
        return min(counts)

    def __len__(self) -> int:
        """Scenes this rank yields per epoch (over all its workers)."""
        if self.world_size > 1:
            return self._rank_cap()
        return self.n_scenes

    def _worker_plan(self, worker: int, n_workers: int) -> tuple[np.ndarray, int]:
        mine = self._rank_units(self.rank)
        per_worker = [mine[w::n_workers] for w in range(n_workers)]
        if self.world_size == 1:
            return per_worker[worker], -1
        left = self._rank_cap()
        caps = []
        for units in per_worker:
            n = sum(len(self.units[i].positions) for i in units)
            caps.append(min(n, left))
            left -= caps[-1]
        return per_worker[worker], caps[worker]

    # --- iteration ------------------------------------------------------------------------
    def _sample(self, tb: np.ndarray, rain: np.ndarray, sid: int, warming, regime, source) -> dict:
        if self.normalise:
            tb = (tb - self._mean) / self._std
        return {
            schema.VAR_TB: torch.from_numpy(np.ascontiguousarray(tb, dtype=np.float32)),
            schema.VAR_PRECIP: torch.from_numpy(np.ascontiguousarray(rain, dtype=np.float32)),
            schema.DIM_SCENE: torch.tensor(sid, dtype=torch.int64),
            schema.COORD_WARMING: torch.tensor(float(warming), dtype=torch.float32),
            schema.COORD_SOURCE: source,
            schema.COORD_REGIME: str(regime),
        }

    def __iter__(self) -> Iterator[dict]:
        import xarray as xr

        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        units, cap = self._worker_plan(worker, n_workers)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker, 1])
        stores: dict[str, xr.Dataset] = {}
        buffer: list[dict] = []
        emitted = 0
        for i in units:
            unit = self.units[i]
            if unit.store not in stores:
                stores[unit.store] = xr.open_zarr(unit.store, chunks=None, consolidated=None)
            arrays = read_unit(
                stores[unit.store], unit, [schema.VAR_TB, schema.VAR_PRECIP], self.channels
            )
            warming, regime = self._meta[i]
            n = len(unit.positions)
            self.peak_resident = max(self.peak_resident, len(buffer) + n)
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            for k in order:
                sample = self._sample(
                    arrays[schema.VAR_TB][k],
                    arrays[schema.VAR_PRECIP][k],
                    unit.scene_ids[k],
                    warming[k],
                    regime[k],
                    unit.source,
                )
                if not self.shuffle:
                    if emitted == cap:
                        return
                    emitted += 1
                    yield sample
                    continue
                buffer.append(sample)
                if len(buffer) >= self.buffer_size:
                    j = int(rng.integers(len(buffer)))
                    buffer[j], buffer[-1] = buffer[-1], buffer[j]
                    if emitted == cap:
                        return
                    emitted += 1
                    yield buffer.pop()
            del arrays
        while buffer:
            j = int(rng.integers(len(buffer)))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            if emitted == cap:
                return
            emitted += 1
            yield buffer.pop()


def make_loader(
    data_dir: str | os.PathLike,
    split: Any,
    role: str,
    batch_size: int = 16,
    num_workers: int = 0,
    seed: int = 0,
    shuffle: bool | None = None,
    buffer_size: int = 64,
    channels: str | Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    stats: dict | None = None,
    normalise: bool = True,
    rank: int | None = None,
    world_size: int | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A ``DataLoader`` over :class:`SceneStream` (batches of dicts of stacked tensors).

    ``shuffle`` defaults to True for ``train`` and False otherwise (evaluation in scene-id order
    within each chunk). ``loader.dataset.set_epoch(e)`` changes the order each epoch.
    """
    if shuffle is None:
        shuffle = role == "train"
    ds = SceneStream(
        data_dir,
        split,
        role,
        channels=channels,
        sources=sources,
        stats=stats,
        normalise=normalise,
        shuffle=shuffle,
        buffer_size=buffer_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
    )
    return DataLoader(
        ds,
        batch_size=batch_size,
        num_workers=num_workers,
        drop_last=drop_last,
        persistent_workers=False,
    )
