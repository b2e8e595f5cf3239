"""Planning a role into :class:`BlockTask` s and running them in-process or on a dask cluster,
merged by the same left fold in both modes (bitwise-identical results; see
:mod:`tailshift.benchmark.evaluate`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.benchmark.blocks import BlockResult, Progress, fold, score_block
from tailshift.benchmark.predictions import (
    PRED_DIMS,
    clean_block,
    open_predictions,
    prediction_vars,
    quantile_levels,
)
from tailshift.errors import BadInputError, TailShiftError

CONNECT_TIMEOUT = "20s"
#: Quantile levels shown as example fields.


def _read_pred_arrays(pred, sel) -> dict[str, np.ndarray]:
    """Read and clean the prediction variables of one block (``sel``: slice or positions)."""
    out = {}
    for var in prediction_vars(pred):
        da = pred[var].transpose(*PRED_DIMS[var])
        if isinstance(sel, slice):
            raw = da.isel({schema.DIM_SCENE: sel}).values
        else:
            sel = np.asarray(sel)
            order = np.argsort(sel, kind="stable")
            part = np.asarray(da.isel({schema.DIM_SCENE: sel[order]}).values)
            raw = np.empty_like(part)
            raw[order] = part
        out[var] = clean_block(var, raw)
    return out


def _block_kwargs(arrays: Mapping[str, np.ndarray], levels) -> dict[str, Any]:
    return {
        "point": arrays.get(schema.VAR_PRECIP),
        "quantiles": arrays.get(schema.VAR_QUANTILES),
        "samples": arrays.get(schema.VAR_SAMPLES),
        "levels": levels,
    }


@dataclass(frozen=True)
class BlockTask:
    """Everything one worker needs to score one block of scenes (small; pickled to workers).

    ``parts``: ``(store_path, ascending store positions)`` per source, whose concatenation gives
    the block's scenes in the order ``order`` maps back to ``scene``.
    """
    pred_path: str
    pred_positions: np.ndarray
    parts: tuple[tuple[str, np.ndarray], ...]
    order: np.ndarray
    scene: np.ndarray
    warming: np.ndarray
    block: np.ndarray
    groups: dict[str, np.ndarray]
    levels: tuple[float, ...] | None
    year: np.ndarray | None = None


def run_block(task: BlockTask, cfg) -> BlockResult:
    """Read one block (reference labels from the stores, predictions from the file) and score it.

    Runs in-process or on a dask worker; opens files itself, so nothing large is shipped.
    """
    import xarray as xr


    labels = []
    for store, positions in task.parts:
        ds = xr.open_zarr(store, consolidated=None, chunks=None)
        da = ds[schema.VAR_PRECIP].transpose(schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X)
        labels.append(np.asarray(da.isel({schema.DIM_SCENE: positions}).values))
    reference = np.concatenate(labels, axis=0)[task.order]
    pred = open_predictions(task.pred_path)
    try:
        arrays = _read_pred_arrays(pred, task.pred_positions)
    finally:
        pred.close()
    return score_block(
        cfg,
        reference,
        scene=task.scene,
        warming=task.warming,
        block=task.block,
        year=task.year,
        groups=task.groups,
        **_block_kwargs(arrays, task.levels),
    )


def merge_pair(a: BlockResult, b: BlockResult) -> BlockResult:
    """``a.merge(b)`` as a plain function (a dask task)."""
    return a.merge(b)


def plan_blocks(view, role: str, pred, pred_path: str | Path, meta: Mapping, chunk: int):
    """Cut the role into :class:`BlockTask` s of ``chunk`` scenes, ascending scene id."""
    import pandas as pd

    sources, positions, ids = [], [], []
    role_pos = view.positions(role)
    for source, pos in role_pos.items():
        sources.append(np.full(pos.size, source, dtype=object))
        positions.append(np.asarray(pos))
        ids.append(np.asarray(view.datasets[source][schema.DIM_SCENE].values)[pos])
    if not ids:
        return []
    src = np.concatenate(sources)
    pos = np.concatenate(positions)
    sid = np.concatenate(ids)
    order = np.argsort(sid, kind="stable")
    src, pos, sid = src[order], pos[order], sid[order]
    if not np.array_equal(sid, meta["scene"]):
        raise TailShiftError("internal: role scenes and reference metadata disagree")
    stores = {s: str(Path(view.datasets[s].attrs["store"]).resolve()) for s in role_pos}
    pred_index = pd.Index(np.asarray(pred[schema.DIM_SCENE].values))
    pred_pos = pred_index.get_indexer(sid)
    if np.any(pred_pos < 0):
        raise TailShiftError("internal: predictions were not validated against the role")
    levels = quantile_levels(pred)
    tasks = []
    for start in range(0, sid.size, max(1, int(chunk))):
        sl = slice(start, min(sid.size, start + chunk))
        b_src, b_pos, b_ids = src[sl], pos[sl], sid[sl]
        parts, concat_ids = [], []
        for s in schema.SOURCES:
            m = b_src == s
            if m.any():
                k = np.argsort(b_pos[m], kind="stable")
                parts.append((stores[s], b_pos[m][k]))
                concat_ids.append(b_ids[m][k])
        cat = np.concatenate(concat_ids)
        back = pd.Index(cat).get_indexer(b_ids)
        tasks.append(
            BlockTask(
                pred_path=str(Path(pred_path).resolve()),
                pred_positions=pred_pos[sl],
                parts=tuple(parts),
                order=back,
                scene=b_ids,
                warming=meta["warming"][sl],
                block=meta["block"][sl],
                year=None if meta.get("year") is None else meta["year"][sl],
                groups={k: g[sl] for k, g in meta["groups"].items()},
                levels=levels,
            )
        )
    return tasks


def _run_local(tasks: Sequence[BlockTask], cfg, progress: Progress | None) -> BlockResult:
    total = sum(t.scene.size for t in tasks)

    def results():
        done = 0
        for task in tasks:
            yield run_block(task, cfg)
            done += task.scene.size
            if progress:
                progress(done, total)

    return fold(results())


def _connect(scheduler):
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False), True
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise BadInputError(
            f"cannot reach the dask scheduler at {scheduler} ({exc}); start one with "
            + "'dask scheduler' and 'dask worker ADDRESS', or drop --scheduler to score in-process"
        ) from exc


def _run_distributed(
    tasks: Sequence[BlockTask], cfg, scheduler, progress: Progress | None
) -> BlockResult:
    from distributed import as_completed

    client, own = _connect(scheduler)
    try:
        futures, acc = [], None
        for t in tasks:  # interleaved: block i, then merge(acc, block i)
            fut = client.submit(run_block, t, cfg, pure=False)
            futures.append(fut)
            acc = fut if acc is None else client.submit(merge_pair, acc, fut, pure=False)
        if acc is None:
            raise TailShiftError("nothing to merge: the role has no scene")
        sizes = {f.key: t.scene.size for f, t in zip(futures, tasks, strict=True)}
        total, done = sum(sizes.values()), 0
        for fut in as_completed(futures, loop=client.loop):
            if fut.status == "error":
                fut.result()  # re-raise the worker's exception here
            done += sizes[fut.key]
            if progress:
                progress(done, total)
        return acc.result()
    finally:
        if own:
            client.close()
