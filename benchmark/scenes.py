"""Per-scene metadata the score card needs (scene ids, warming, region-year block, year and
group labels), read from a reference dataset or the stores with O(scenes) memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.benchmark.blocks import DEFAULT_CHUNK


def _mode_per_scene(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(values.shape[0], -1).astype(str)
    out = []
    for row in flat:
        labels, counts = np.unique(row, return_counts=True)
        out.append(labels[np.argmax(counts)])  # np.unique sorts: ties -> smallest label
    return np.asarray(out)


def scene_meta(ref, group_dims: Sequence[str], pixel_ref=None) -> dict[str, Any]:
    """Per-scene arrays the card needs, read from a (lazy) reference dataset.

    Returns ``{"scene", "warming", "block", "year", "groups": {dim: (s,)}}`` (``year`` None
    without a year coordinate); 1-D coordinates only are
    read here (O(n_scenes) memory); per-pixel group variables (taken from ``pixel_ref`` if
    given, else ``ref``) are reduced block by block.
    """
    import dask

    pixel_ref = ref if pixel_ref is None else pixel_ref

    names = [schema.DIM_SCENE]
    for c in (schema.COORD_WARMING, schema.COORD_REGION, schema.COORD_YEAR, *group_dims):
        if c in ref.variables and ref[c].dims == (schema.DIM_SCENE,):
            names.append(c)
    values = dask.compute(*[ref[n].data for n in names])
    v = {n: np.asarray(a) for n, a in zip(names, values, strict=True)}
    ids = v[schema.DIM_SCENE]
    n = ids.size
    warming = v.get(schema.COORD_WARMING, np.full(n, np.nan)).astype(np.float64)
    if schema.COORD_REGION in v and schema.COORD_YEAR in v:
        block = np.char.add(
            np.char.add(v[schema.COORD_REGION].astype(str), "-"), v[schema.COORD_YEAR].astype(str)
        )
    elif schema.COORD_YEAR in v:
        block = v[schema.COORD_YEAR].astype(str)
    else:
        block = ids.astype(str)
    groups = {}
    for dim in group_dims:
        if dim in v:
            groups[dim] = v[dim].astype(str)
        elif dim in pixel_ref.variables and pixel_ref[dim].dims[:1] == (schema.DIM_SCENE,):
            parts = []
            for start in range(0, n, DEFAULT_CHUNK):
                block_values = np.asarray(pixel_ref[dim][start : start + DEFAULT_CHUNK])
                parts.append(_mode_per_scene(block_values))
            groups[dim] = np.concatenate(parts) if parts else np.array([], dtype=str)
    year = v[schema.COORD_YEAR].astype(np.int64) if schema.COORD_YEAR in v else None
    return {"scene": ids, "warming": warming, "block": block.astype(str), "year": year,
            "groups": groups}


def store_scene_coords(view, role: str, names: Sequence[str]):
    """The role's 1-D scene coordinates ``names`` as a small numpy-backed Dataset (by scene id).

    Read straight from the stores (whole 1-D arrays, then the role's positions), without a dask
    graph: a few bytes per scene instead of the graph overhead of one task per store chunk.
    """
    import xarray as xr

    parts = []
    for source, pos in view.positions(role).items():
        ds = xr.open_zarr(view.datasets[source].attrs["store"], consolidated=None, chunks=None)
        cols = {
            c: (schema.DIM_SCENE, np.asarray(ds[c].values)[pos])
            for c in names
            if c in ds.variables and ds[c].dims == (schema.DIM_SCENE,)
        }
        ids = np.asarray(ds[schema.DIM_SCENE].values)[pos]
        parts.append(xr.Dataset(coords={schema.DIM_SCENE: ids, **cols}))
        ds.close()
    out = parts[0] if len(parts) == 1 else xr.concat(parts, dim=schema.DIM_SCENE)
    return out.sortby(schema.DIM_SCENE)
