"""The evaluation runner: predictions + reference -> one role block of a result file.

Scoring streams blocks of scenes through a :class:`tailshift.metrics.scorecard.ScoreCard` (docs/design.md
"Evaluation protocol"): each block is read, turned into additive statistics, and merged; nothing
holds more than one block of data, so peak memory does not grow with the number of scenes.

Three entry points:

- :func:`evaluate` -- xarray objects in memory (or lazy), from Python;
- :func:`score_role` -- a prediction file against a split role of a dataset directory,
  in-process or on a dask.distributed cluster (``scheduler``);
- :func:`score` -- :func:`score_role` plus the result file (``tailshift score``).

Same result in-process and distributed
--------------------------------------
The role's scenes (ascending scene id, as :func:`tailshift.benchmark.dataset.select_role` orders them) are
cut into blocks of ``chunk`` scenes. Each block is one :class:`BlockTask` (store paths, store and
prediction positions, the block's scene metadata) that any process can run:
:func:`run_block` reads the block's reference labels and predictions, cleans them
(:func:`tailshift.benchmark.predictions.clean_block`) and updates a fresh card. Block results are merged
by the same left fold in both modes, ``((r0 + r1) + r2) + ...`` in block order: in-process as
they are produced (at most two cards alive), on the cluster as a chain of ``merge_pair`` tasks
submitted interleaved with the block tasks (so dask's submission-order priorities merge results
as they arrive instead of piling them up on the workers). Block scoring -- reading, spectra,
histograms, bootstrap weighting: nearly all the work -- runs in parallel on the workers; the
merges are cheap array additions. Because the floating-point sums are performed in the same
order, distributed and in-process results are bitwise identical. (A pairwise tree would merge
in parallel too, but needs O(log n) partial cards in memory in-process, so peak memory would
grow with the number of scenes, which the bounded-memory design rules out, docs/design.md.) The scene-block bootstrap weights
depend only on ``(seed, block id, replicate)`` (:mod:`tailshift.metrics.bootstrap`), not on chunking.

Predictions may be in any scene order; a block reads its scenes' positions (sorted) from the
file, so predictions in ascending scene id -- the order of ``tailshift export`` and
``tailshift predict`` -- read each stored chunk once, while a shuffled Zarr store is read chunk
by chunk several times (correct, slower).

Inputs derived here (decisions, stated once)
--------------------------------------------
- point estimate: ``surface_precip`` if given, else the 0.5 quantile (linear interpolation
  between the two nearest levels when 0.5 is not a level; clamped at the ends), else the
  ensemble mean (docs/design.md "Predictions");
- ``block`` (GEV block maxima and bootstrap unit): ``"<region>-<year>"`` when the reference has
  both coordinates, else ``"<year>"``, else the scene id;
- groups: the per-scene coordinates named by ``CardConfig.group_dims`` (``regime``,
  ``surface_type``); a per-pixel group variable (``scene, y, x``) is reduced to its most frequent
  value in each scene (ties: the smallest label);
- examples: the :data:`tailshift.benchmark.results.N_EXAMPLES` scenes with the largest reference maximum
  (ties: the smaller scene id), tracked while streaming; ``median`` / ``q99`` are the 0.5 / 0.99
  quantiles (interpolated like the point estimate, or ensemble quantiles), for a point-only
  submission ``median`` is the point estimate and ``q99`` is ``null``; values rounded to
  0.01 mm/h.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.errors import BadInputError, TailShiftError

#: Default scenes per block when scoring (bounded memory: ~chunk x quantiles x y x x floats).
DEFAULT_CHUNK = 32
#: How long to wait for a dask scheduler before giving up (``distributed.Client(timeout=...)``).
CONNECT_TIMEOUT = "20s"
#: Quantile levels shown as example fields.
EXAMPLE_LEVELS = (0.5, 0.99)

Progress = Callable[[int, int], None]
"""``progress(scenes_done, scenes_total)``, called after each block."""


# --- configuration --------------------------------------------------------------------------


def make_config(
    config: Any = None,
    metrics: Sequence[str] | None = None,
    quantile_levels: Sequence[float] | None = None,
):
    """A :class:`tailshift.metrics.scorecard.CardConfig` from ``config`` (a CardConfig, a dict of its fields, or
    None), the metric names to compute, and the predictions' quantile levels (which win)."""
    from tailshift.metrics.scorecard import CardConfig

    if config is None:
        cfg = CardConfig()
    elif isinstance(config, CardConfig):
        cfg = config
    elif isinstance(config, Mapping):
        names = {f.name for f in dataclasses.fields(CardConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise BadInputError(
                f"unknown scoring option(s) {unknown}; valid options are {sorted(names)}"
            )
        cfg = CardConfig(**dict(config))
    else:
        raise BadInputError(f"config must be a CardConfig or a dict, not {type(config).__name__}")
    changes: dict[str, Any] = {}
    if metrics is not None:
        changes["metrics"] = tuple(check_metric_names(metrics))
    if quantile_levels is not None:
        changes["quantile_levels"] = tuple(float(q) for q in quantile_levels)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def check_metric_names(names: Sequence[str]) -> list[str]:
    """Registry names, checked; BadInputError listing unknown ones and the valid names."""
    from tailshift.metrics import REGISTRY

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise BadInputError(
            f"unknown metric(s) {unknown}; use registry names: {', '.join(sorted(REGISTRY))}"
        )
    return names


# --- one block ------------------------------------------------------------------------------


def _interp_level(q: np.ndarray, levels: np.ndarray, target: float) -> np.ndarray:
    """Field at quantile level ``target`` from quantiles ``q`` (s, Q, y, x), linear in level."""
    levels = np.asarray(levels, dtype=np.float64)
    if target <= levels[0]:
        return q[:, 0]
    if target >= levels[-1]:
        return q[:, -1]
    hi = int(np.searchsorted(levels, target))
    if math.isclose(levels[hi], target):
        return q[:, hi]
    lo = hi - 1
    w = (target - levels[lo]) / (levels[hi] - levels[lo])
    return ((1.0 - w) * q[:, lo] + w * q[:, hi]).astype(np.float32)


def point_estimate(
    point: np.ndarray | None,
    quantiles: np.ndarray | None,
    levels: Sequence[float] | None,
    samples: np.ndarray | None,
) -> np.ndarray:
    """The point estimate of a block: given, else the 0.5 quantile, else the ensemble mean."""
    if point is not None:
        return point
    if quantiles is not None:
        return _interp_level(quantiles, np.asarray(levels), 0.5)
    if samples is not None:
        return samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    raise TailShiftError("no prediction variable in the block")


def _example_fields(
    i: int, point, quantiles, levels, samples
) -> tuple[np.ndarray, np.ndarray | None]:
    if quantiles is not None:
        q = quantiles[i : i + 1]
        return (
            _interp_level(q, np.asarray(levels), EXAMPLE_LEVELS[0])[0],
            _interp_level(q, np.asarray(levels), EXAMPLE_LEVELS[1])[0],
        )
    if samples is not None:
        med, q99 = np.quantile(samples[i], EXAMPLE_LEVELS, axis=0)
        return med, q99
    return point[i], None


def _round(a: np.ndarray | None) -> list | None:
    if a is None:
        return None
    from tailshift.benchmark.results import EXAMPLE_DECIMALS

    a = np.round(np.asarray(a, dtype=np.float64), EXAMPLE_DECIMALS)
    return [[v if math.isfinite(v) else None for v in row] for row in a.tolist()]


def _example_key(ex: Mapping) -> tuple:
    return (-ex["_max"], ex["scene"])


def top_examples(candidates: Sequence[Mapping], n: int | None = None) -> list[dict]:
    """The ``n`` candidates with the largest reference maximum (ties: smaller scene id)."""
    from tailshift.benchmark.results import N_EXAMPLES

    n = N_EXAMPLES if n is None else n
    return [dict(e) for e in sorted(candidates, key=_example_key)[:n]]


@dataclass
class BlockResult:
    """A card of additive statistics plus the running example scenes and counts (mergeable)."""

    card: Any
    examples: list[dict] = field(default_factory=list)
    n_scenes: int = 0
    n_pixels: int = 0

    def merge(self, other: BlockResult) -> BlockResult:
        """Combine two results (``self`` first, ``other`` second)."""
        merged = self.card.merge(other.card)
        card = merged if merged is not None else self.card
        return BlockResult(
            card,
            top_examples([*self.examples, *other.examples]),
            self.n_scenes + other.n_scenes,
            self.n_pixels + other.n_pixels,
        )


def score_block(
    cfg,
    reference: np.ndarray,
    *,
    scene: np.ndarray,
    warming: np.ndarray,
    block: np.ndarray,
    groups: Mapping[str, np.ndarray],
    year: np.ndarray | None = None,
    point: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] | None = None,
    samples: np.ndarray | None = None,
) -> BlockResult:
    """Statistics of one block of aligned, cleaned arrays (the unit of work everywhere).

    ``reference`` and ``point`` are (s, y, x), ``quantiles`` (s, Q, y, x), ``samples``
    (s, M, y, x) in mm/h; ``scene``, ``warming``, ``block`` and each group are (s,).
    """
    from tailshift.metrics.scorecard import ScoreCard

    reference = np.asarray(reference, dtype=np.float32)
    pt = point_estimate(point, quantiles, levels, samples)
    card = ScoreCard(cfg)
    card.update(
        reference,
        point=pt,
        quantiles=quantiles,
        samples=samples,
        scene=np.asarray(scene),
        warming=np.asarray(warming, dtype=np.float64),
        block=np.asarray(block).astype(str),
        year=None if year is None else np.asarray(year),
        groups={k: np.asarray(v).astype(str) for k, v in groups.items()},
    )
    maxima = np.nanmax(reference.reshape(reference.shape[0], -1), axis=1)
    candidates = []
    for i in range(reference.shape[0]):
        sid = scene[i].item() if hasattr(scene[i], "item") else scene[i]
        candidates.append({"_max": float(maxima[i]), "scene": sid, "_i": i})
    chosen = top_examples(candidates)
    examples = []
    for ex in chosen:
        i = ex.pop("_i")
        med, q99 = _example_fields(i, point, quantiles, levels, samples)
        examples.append(
            {
                "_max": ex["_max"],
                "scene": ex["scene"],
                "reference": _round(reference[i]),
                "median": _round(med),
                "q99": _round(q99),
            }
        )
    return BlockResult(card, examples, int(reference.shape[0]), int(np.isfinite(reference).sum()))


def fold(results) -> BlockResult:
    """Left fold ``((r0 + r1) + r2) + ...`` of an iterable of :class:`BlockResult` (constant memory)."""
    acc = None
    for r in results:
        acc = r if acc is None else acc.merge(r)
    if acc is None:
        raise TailShiftError("nothing to merge: the role has no scene")
    return acc


def finalize(result: BlockResult, channels: Sequence[str] = ()) -> dict:
    """The role block of a result file from merged statistics."""
    out = result.card.finalize()
    examples = [{k: v for k, v in e.items() if not k.startswith("_")} for e in result.examples]
    return {
        "n_scenes": int(result.n_scenes),
        "n_pixels": int(result.n_pixels),
        "channels": list(channels),
        "forecast": out.get("forecast", {}),
        "scores": out.get("scores", {}),
        "undefined": out.get("undefined", {}),
        "groups": out.get("groups", {}),
        "worst_group": out.get("worst_group", {}),
        "curves": out.get("curves", {}),
        "replicates": out.get("replicates", {}),
        "examples": examples,
    }


# --- per-scene metadata ---------------------------------------------------------------------


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


# --- in-memory evaluation -------------------------------------------------------------------


def _read_pred_arrays(pred, sel) -> dict[str, np.ndarray]:
    """Read and clean the prediction variables of one block (``sel``: slice or positions)."""
    from tailshift.benchmark.predictions import PRED_DIMS, clean_block, prediction_vars

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


def _levels(pred) -> tuple[float, ...] | None:
    if schema.VAR_QUANTILES in pred.data_vars:
        return tuple(float(q) for q in np.asarray(pred[schema.DIM_QUANTILE].values))
    return None


def evaluate(
    predictions,
    reference,
    metrics: Sequence[str] | None = None,
    config: Any = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> dict:
    """Score predictions against a reference, both xarray Datasets (the Python API).

    Parameters
    ----------
    predictions : xarray.Dataset
        In the predictions schema (module docstring of :mod:`tailshift.benchmark.predictions`); any
        scene order.
    reference : xarray.Dataset
        ``surface_precip`` (scene, y, x) in mm/h and the scene coordinates ``warming``,
        ``regime``, ``surface_type`` (and ``region``, ``year`` for GEV blocks); e.g.
        ``tailshift.benchmark.dataset.select_role(...)``.
    metrics : list of str, optional
        Registry names to compute (default: every metric the inputs allow).
    config : CardConfig or dict, optional
        Scoring options (bootstrap size, seed, pixel size, group dims).

    Returns
    -------
    dict
        The role block of a result file: ``n_scenes``, ``n_pixels``, ``channels``, ``scores``,
        ``groups``, ``worst_group``, ``curves``, ``examples``.

    Raises
    ------
    BadInputError
        Invalid predictions (every problem listed), unknown metric names or options.
    """
    from tailshift.benchmark.predictions import check_predictions

    if schema.VAR_PRECIP not in reference.data_vars:
        raise BadInputError(
            f"the reference has no {schema.VAR_PRECIP!r} variable; pass the labelled scenes "
            + "(e.g. benchmark.dataset.select_role(...))"
        )
    ref = reference.sortby(schema.DIM_SCENE)
    pred = check_predictions(predictions, ref)
    levels = _levels(pred)
    cfg = make_config(config, metrics, levels)
    meta = scene_meta(ref, getattr(cfg, "group_dims", ()))
    n = meta["scene"].size
    labels = ref[schema.VAR_PRECIP].transpose(schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X)

    def blocks():
        for start in range(0, n, max(1, int(chunk))):
            sl = slice(start, min(n, start + chunk))
            arrays = _read_pred_arrays(pred, sl)
            yield score_block(
                cfg,
                np.asarray(labels[sl].values, dtype=np.float32),
                scene=meta["scene"][sl],
                warming=meta["warming"][sl],
                block=meta["block"][sl],
                year=None if meta.get("year") is None else meta["year"][sl],
                groups={k: g[sl] for k, g in meta["groups"].items()},
                **_block_kwargs(arrays, levels),
            )
            if progress:
                progress(sl.stop, n)

    return finalize(fold(blocks()), channels=list(ref.attrs.get("channels", [])))


# --- file-based scoring, in-process or distributed ------------------------------------------


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

    from tailshift.benchmark.predictions import open_predictions

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
    levels = _levels(pred)
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


def role_reference(data_dir: str | os.PathLike, split, role: str):
    """``(view, reference)`` of a role: the opened split view and the lazy role dataset."""
    from tailshift.benchmark.dataset import SplitView, select_role
    from tailshift.splits import load_split

    split = load_split(split) if not hasattr(split, "roles") else split
    if role not in schema.ROLES or role == "train":
        raise BadInputError(
            f"cannot score role {role!r}; use one of {[r for r in schema.ROLES if r != 'train']}"
        )
    split.role(role)
    view = SplitView(data_dir, split)
    ref = select_role(data_dir, split, role, view=view)
    if ref.sizes[schema.DIM_SCENE] == 0:
        raise BadInputError(
            f"role {role} of split {split.name!r} has no scene on this dataset; choose another "
            + "role or regenerate the data with a larger preset"
        )
    return view, ref


def check_prediction_file(
    pred_path: str | os.PathLike, data_dir: str | os.PathLike, split, role: str, chunk=None
) -> dict:
    """Validate a prediction file against a role (``--validate-only``).

    Returns a short summary (``n_scenes``, ``variables``, ``quantile_levels``); raises one
    :class:`BadInputError` listing every problem.
    """
    from tailshift.benchmark.predictions import load_predictions, prediction_vars

    _, ref = role_reference(data_dir, split, role)
    pred = load_predictions(pred_path, ref, chunk=chunk)
    return {
        "n_scenes": int(pred.sizes[schema.DIM_SCENE]),
        "variables": prediction_vars(pred),
        "quantile_levels": list(_levels(pred) or []),
    }


def score_role(
    pred_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    split,
    role: str,
    scheduler=None,
    chunk: int = DEFAULT_CHUNK,
    *,
    metrics: Sequence[str] | None = None,
    config: Any = None,
    progress: Progress | None = None,
    return_statistics: bool = False,
) -> dict | tuple[dict, BlockResult]:
    """Validate and score one prediction file against a split role.

    Parameters
    ----------
    pred_path : path
        ``.nc`` / ``.zarr`` predictions for every scene of the role.
    data_dir : path
        Dataset directory.
    split : str or splits.Split
        Split name, path or loaded split.
    role : str
        ``id_test``, ``ood_test`` (or a validation role).
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler address (``tcp://host:port``) or client: blocks are
        scored in parallel on its workers (same result as in-process). ``None``: in-process.
    chunk : int
        Scenes per block.

    return_statistics : bool
        Also return the merged, unfinalised statistics (:class:`BlockResult`), so that roles can
        be combined afterwards (``tailshift submit`` writes ``schema.ROLE_ALL_TEST``).

    Returns
    -------
    dict
        The role block of a result file (see :func:`evaluate`) with ``channels`` of the role;
        ``(block, statistics)`` with ``return_statistics``.
    """
    from tailshift.benchmark.predictions import load_predictions

    make_config(config, metrics)  # unknown metrics / options fail before any data is read
    view, ref = role_reference(data_dir, split, role)
    pred = load_predictions(pred_path, ref, chunk=chunk)
    levels = _levels(pred)
    pred.close()
    cfg = make_config(config, metrics, levels)
    group_dims = tuple(getattr(cfg, "group_dims", ()))
    names = (schema.COORD_WARMING, schema.COORD_REGION, schema.COORD_YEAR, *group_dims)
    meta = scene_meta(store_scene_coords(view, role, names), group_dims, pixel_ref=ref)
    pred_raw = _open_normalized(pred_path, meta["scene"])
    try:
        tasks = plan_blocks(view, role, pred_raw, pred_path, meta, chunk)
    finally:
        pred_raw.close()
    if scheduler:
        merged = _run_distributed(tasks, cfg, scheduler, progress)
    else:
        merged = _run_local(tasks, cfg, progress)
    block = finalize(merged, channels=list(ref.attrs.get("channels", [])))
    return (block, merged) if return_statistics else block


def _open_normalized(pred_path, ref_ids):
    from tailshift.benchmark.predictions import normalize_predictions, open_predictions

    return normalize_predictions(open_predictions(pred_path), ref_ids)


def score(
    pred_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    split,
    role: str,
    name: str,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    *,
    model: str | None = None,
    description: str = "",
    training_sources: Sequence[str] | None = None,
    code_hash: str | None = None,
    baseline: str | None = None,
    scheduler=None,
    chunk: int = DEFAULT_CHUNK,
    metrics: Sequence[str] | None = None,
    config: Any = None,
    progress: Progress | None = None,
) -> Path:
    """Score ``pred_path`` on ``role`` and write (or merge into) the result file.

    Refuses up front -- before any scoring -- a role already in the result file without
    ``force``. Returns the path of the result file.
    """
    from tailshift.benchmark.results import (
        DEFAULT_RESULTS_DIR,
        build_result,
        check_writable,
        result_path,
        write_result,
    )
    from tailshift.io import read_manifest
    from tailshift.splits import load_split

    split_obj = load_split(split)
    results_dir = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    manifest = read_manifest(data_dir)
    checksum = str(manifest.get("dataset_checksum", ""))
    target = result_path(results_dir, split_obj.name, name)
    check_writable(target, split_obj.hash, checksum, role, force, name=name)
    if training_sources is not None:
        bad = [s for s in training_sources if s not in schema.SOURCES]
        if bad:
            raise BadInputError(
                f"unknown training source(s) {bad}; use a subset of {list(schema.SOURCES)}"
            )
    block = score_role(
        pred_path,
        data_dir,
        split_obj,
        role,
        scheduler=scheduler,
        chunk=chunk,
        metrics=metrics,
        config=config,
        progress=progress,
    )
    result = build_result(
        name=name,
        model=model if model is not None else f"predictions:{Path(pred_path).name}",
        description=description,
        training_sources=list(
            training_sources if training_sources is not None else split_obj.train_sources
        ),
        code_hash=code_hash,
        baseline=baseline,
        split_name=split_obj.name,
        split_hash=split_obj.hash,
        dataset={
            "checksum": checksum,
            "preset": manifest.get("preset", ""),
            "generator_version": manifest.get("generator_version", ""),
        },
        roles={role: block},
    )
    return write_result(result, results_dir, force=force)


__all__ = [
    "DEFAULT_CHUNK",
    "BlockResult",
    "BlockTask",
    "check_prediction_file",
    "evaluate",
    "finalize",
    "fold",
    "make_config",
    "plan_blocks",
    "point_estimate",
    "run_block",
    "score",
    "score_block",
    "score_role",
]
