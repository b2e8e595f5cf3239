"""Chunk-aligned reading of a split role: group its scenes by the stores' chunks along ``scene``.

A :class:`ReadUnit` is the scenes of one role inside one store chunk, read with one contiguous
slice (:func:`read_unit`), so every chunk is decompressed once per pass. The streaming dataset
(``tailshift.benchmark.torchdata``) and the normalisation statistics read this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from tailshift import schema
from tailshift.benchmark.dataset import SplitView
from tailshift.benchmark.stores import reading


@dataclass(frozen=True)
class ReadUnit:
    """Scenes of one role inside one store chunk: read together with a single slice.

    ``positions`` are ascending store positions within ``[start, stop)``; ``scene_ids`` match.
    """

    source: str
    store: str
    start: int
    stop: int
    positions: tuple[int, ...]
    scene_ids: tuple[int, ...]


def read_plan(view: SplitView, role: str, sources: Sequence[str] | None = None) -> list[ReadUnit]:
    """Group the role's scenes by the stores' on-disk chunks along ``scene`` (source order)."""
    units = []
    for s, pos in view.positions(role, sources).items():
        ds = view.datasets[s]
        chunks = ds[schema.VAR_TB].chunks
        sizes = chunks[0] if chunks else (ds.sizes[schema.DIM_SCENE],)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        which = np.searchsorted(bounds, pos, side="right") - 1
        ids = ds[schema.DIM_SCENE].values
        for k in np.unique(which):
            p = pos[which == k]
            units.append(
                ReadUnit(
                    s,
                    ds.attrs["store"],
                    int(bounds[k]),
                    int(bounds[k + 1]),
                    tuple(p.tolist()),
                    tuple(ids[p].tolist()),
                )
            )
    return units


def read_unit(
    ds: xr.Dataset, unit: ReadUnit, variables: Sequence[str], channels: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Read ``variables`` of one :class:`ReadUnit` into numpy (one contiguous slice per chunk)."""
    sub = ds.isel({schema.DIM_SCENE: slice(unit.start, unit.stop)})
    if channels is not None:
        sub = sub.sel({schema.DIM_CHANNEL: list(channels)})
    local = np.asarray(unit.positions) - unit.start
    out = {}
    with reading(unit.store):
        for v in variables:
            out[v] = np.asarray(sub[v].values)[local]
    return out
