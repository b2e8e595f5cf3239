"""Submitting a model: load it (:mod:`tailshift.app.models`), run it over every evaluation role
(:mod:`tailshift.app.running`), validate, score, write results.

Submitting (:func:`submit`): for each split, every evaluation role is predicted and validated
first, then scored with :func:`tailshift.benchmark.evaluate.score_role`; the result file is written once
(:func:`tailshift.benchmark.results.write_result`) only when every role succeeded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tailshift import schema

#: Default scenes per model call.
from tailshift.app.models import LoadedModel, load_models
from tailshift.app.running import DEFAULT_BATCH, ProgressFn, run_predictions
from tailshift.benchmark.blocks import finalize
from tailshift.benchmark.evaluate import score_role
from tailshift.benchmark.results import (
    DEFAULT_RESULTS_DIR,
    build_result,
    check_writable,
    result_path,
    write_result,
)
from tailshift.errors import BadInputError
from tailshift.io import read_manifest
from tailshift.splits import load_split


def check_run_against(m: LoadedModel, split: Any, data_dir: str | Path) -> None:
    """A run may only be evaluated on the split (version) and dataset it was trained for."""


    if m.kind != "run":
        return
    if m.splits and split.name not in m.splits:
        raise BadInputError(
            f"run {m.spec} was trained for split {m.splits[0]!r}, not {split.name!r}; scoring it on "
            + "another split could test on its training scenes: train a run for that split"
        )
    trained_hash = (m.meta.get("split") or {}).get("hash")
    if trained_hash and trained_hash != split.hash:
        raise BadInputError(
            f"run {m.spec} was trained on another version of split {split.name!r} (hash "
            + f"{trained_hash[:12]} != {split.hash[:12]}); retrain it"
        )
    trained_data = (m.meta.get("dataset") or {}).get("checksum")
    current = read_manifest(data_dir).get("dataset_checksum")
    if trained_data and current and trained_data != current:
        raise BadInputError(
            f"run {m.spec} was trained on dataset {trained_data[:12]}, but --data holds "
            + f"{current[:12]}; evaluate on the dataset it was trained on, or retrain"
        )


def combine_test_roles(blocks: dict, stats: dict) -> dict | None:
    """The ``all_test`` block: id_test and ood_test scored together from merged statistics.

    Trend metrics regress on warming, and each test role alone spans a narrow warming range;
    their union spans the whole record (e.g. 1998-2100 in the temporal split). Returns ``None``
    unless both roles were scored with the same channels (the sensor split's roles differ).
    """


    roles = schema.EVAL_ROLES
    if not all(r in stats for r in roles):
        return None
    channels = [blocks[r]["channels"] for r in roles]
    if channels[0] != channels[1]:
        return None
    return finalize(stats[roles[0]].merge(stats[roles[1]]), channels=channels[0])


def submit(
    model_spec: str | Path,
    name: str,
    splits: Sequence[str] | None = None,
    data_dir: str | Path = "data",
    results_dir: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    timeout: float | None = None,
    force: bool = False,
    description: str | None = None,
    sources: Sequence[str] | None = None,
    scheduler: str | None = None,
    keep_predictions: str | Path | None = None,
    progress: ProgressFn | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Predict, validate and score a model on every evaluation role of each split.

    Parameters
    ----------
    model_spec : str or path
        One of the three model forms (module docstring).
    name : str
        Submission name (result file ``<results_dir>/<split>/<slug>.json``).
    splits : sequence of str, optional
        Splits to evaluate. Required for Python and program models; for runs it defaults to the
        split(s) they were trained for, and must be among them.
    sources : sequence of str, optional
        Training sources of a Python / program model that does not declare them.
    keep_predictions : path, optional
        Directory where the prediction stores are kept (``<split>-<role>.zarr``).
    device : str
        Where torch models run inference (``cpu``, ``cuda``, ``cuda:N``, ``auto``).

    Returns
    -------
    list of pathlib.Path
        The result files written (one per split).
    """






    if sources:
        bad = [s for s in sources if s not in schema.SOURCES]
        if bad:
            raise BadInputError(f"unknown source(s) {bad}; use {list(schema.SOURCES)}")
    models = load_models(model_spec, sources, device)
    results_dir = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    manifest = read_manifest(data_dir)
    plan = _plan(models, splits, model_spec)
    for m, sp in plan:  # every check before any model runs
        _check_pair(m, sp, data_dir, result_path(results_dir, sp.name, name),
                    str(manifest.get("dataset_checksum", "")), force)
    results = []
    for m, sp in plan:
        scratch = Path(tempfile.mkdtemp(prefix="tailshift-submit-"))
        try:
            preds = {role: run_predictions(m.model, data_dir, sp, role,
                                           scratch / f"{sp.name}-{role}.zarr",
                                           batch_size=batch_size, timeout=timeout,
                                           progress=progress)
                     for role in sp.eval_roles}
            blocks = _score_roles(preds, data_dir, sp, scheduler, progress)
            results.append(build_result(
                name=name, model=str(m.spec),
                description=description if description is not None else m.description,
                training_sources=list(m.training_sources), code_hash=m.code_hash,
                baseline=m.baseline, split_name=sp.name, split_hash=sp.hash,
                dataset={"checksum": str(manifest.get("dataset_checksum", "")),
                         "preset": manifest.get("preset", ""),
                         "generator_version": manifest.get("generator_version", "")},
                roles=blocks,
            ))
            if keep_predictions is not None:
                _keep(preds, Path(keep_predictions))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    # written only when every split and role succeeded
    return [write_result(result, results_dir, force=force) for result in results]


def _plan(models: list[LoadedModel], splits: Sequence[str] | None, model_spec) -> list:
    """``(model, split)`` pairs: a run goes to the split(s) it was trained for (or those of
    ``splits`` among them); any other model needs ``splits``."""
    plan: list[tuple[LoadedModel, Any]] = []
    for m in models:
        if m.kind == "run":
            wanted = list(splits) if splits else list(m.splits)
            if len(models) > 1 and splits:
                wanted = [s for s in wanted if s in m.splits]
        else:
            if not splits:
                raise BadInputError(f"say which split(s) {model_spec} is for: pass --split NAME")
            wanted = list(splits)
        plan.extend((m, load_split(s)) for s in wanted)
    if not plan:
        raise BadInputError(f"none of the runs in {model_spec} was trained for {list(splits or [])}")
    names = [sp.name for _, sp in plan]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BadInputError(
            f"several runs in {model_spec} were trained for split(s) {dup}; submit them separately")
    return plan


def _check_pair(m: LoadedModel, sp: Any, data_dir, target: Path, checksum: str,
                force: bool) -> None:
    """Refuse a (model, split) pair up front: wrong run, sources, roles or an existing result."""
    check_run_against(m, sp, data_dir)
    bad = [s for s in m.training_sources if s not in sp.train_sources]
    if bad:
        raise BadInputError(
            f"{m.spec} was trained on {list(m.training_sources)}, but split {sp.name!r} allows "
            + f"only {list(sp.train_sources)} for training"
        )
    if not sp.eval_roles:
        raise BadInputError(f"split {sp.name!r} has no evaluation role")
    for role in sp.eval_roles:
        check_writable(target, sp.hash, checksum, role, force)


def _score_roles(preds: dict, data_dir, sp: Any, scheduler, progress) -> dict:
    """Score every role's predictions, then ``all_test`` from their merged statistics."""
    blocks, stats = {}, {}
    for role, path in preds.items():
        prog = (lambda d, t, r=role: progress(f"score {r}", d, t)) if progress else None
        blocks[role], stats[role] = score_role(path, data_dir, sp, role, scheduler=scheduler,
                                               progress=prog, return_statistics=True)
    combined = combine_test_roles(blocks, stats)
    if combined is not None:
        blocks[schema.ROLE_ALL_TEST] = combined
    return blocks


def _keep(preds: dict, keep: Path) -> None:
    """Move the prediction stores into ``keep`` (``--keep-predictions``)."""
    keep.mkdir(parents=True, exist_ok=True)
    for path in preds.values():
        target = keep / path.name
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(path), target)


__all__ = ["check_run_against", "combine_test_roles", "submit"]
