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
  ensemble mean (docs/results.md, prediction files);
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
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.benchmark.blocks import (
    DEFAULT_CHUNK,
    BlockResult,
    Progress,
    finalize,
    fold,
    make_config,
    score_block,
)
from tailshift.benchmark.dataset import SplitView, select_role
from tailshift.benchmark.planning import (
    _block_kwargs,
    _read_pred_arrays,
    _run_distributed,
    _run_local,
    plan_blocks,
)
from tailshift.benchmark.predictions import (
    check_predictions,
    load_predictions,
    open_validated,
    prediction_vars,
    quantile_levels,
)
from tailshift.benchmark.results import (
    DEFAULT_RESULTS_DIR,
    build_result,
    check_writable,
    result_path,
    write_result,
)
from tailshift.benchmark.scenes import scene_meta, store_scene_coords
from tailshift.errors import BadInputError
from tailshift.io import read_manifest
from tailshift.splits import load_split


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
    if schema.VAR_PRECIP not in reference.data_vars:
        raise BadInputError(
            f"the reference has no {schema.VAR_PRECIP!r} variable; pass the labelled scenes "
            + "(e.g. benchmark.dataset.select_role(...))"
        )
    ref = reference.sortby(schema.DIM_SCENE)
    pred = check_predictions(predictions, ref)
    levels = quantile_levels(pred)
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


def role_reference(data_dir: str | os.PathLike, split, role: str):
    """``(view, reference)`` of a role: the opened split view and the lazy role dataset."""
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
    _, ref = role_reference(data_dir, split, role)
    pred = load_predictions(pred_path, ref, chunk=chunk)
    return {
        "n_scenes": int(pred.sizes[schema.DIM_SCENE]),
        "variables": prediction_vars(pred),
        "quantile_levels": list(quantile_levels(pred) or []),
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
    cfg = make_config(config, metrics)  # unknown metrics / options fail before any data is read
    view, ref = role_reference(data_dir, split, role)
    with open_validated(pred_path, ref, chunk=chunk) as pred:  # opened and validated once
        if pred.levels is not None:
            cfg = dataclasses.replace(cfg, quantile_levels=pred.levels)
        group_dims = tuple(getattr(cfg, "group_dims", ()))
        names = (schema.COORD_WARMING, schema.COORD_REGION, schema.COORD_YEAR, *group_dims)
        meta = scene_meta(store_scene_coords(view, role, names), group_dims, pixel_ref=ref)
        tasks = plan_blocks(view, role, pred.raw, pred_path, meta, chunk)
    if scheduler:
        merged = _run_distributed(tasks, cfg, scheduler, progress)
    else:
        merged = _run_local(tasks, cfg, progress)
    block = finalize(merged, channels=list(ref.attrs.get("channels", [])))
    return (block, merged) if return_statistics else block


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
