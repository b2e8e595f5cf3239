"""Submitting a model: load it, run it over every evaluation role, validate, score, write results.

Model forms (docs/design.md "Models"), told apart by :func:`load_models`:

1. ``path/to/file.py:factory`` (or ``package.module:factory``): ``factory()`` returns an object
   with ``predict(inputs: xr.Dataset) -> xr.Dataset`` in the predictions schema for that batch.
   A bare callable (SatRain's ``retrieval_fn(xr.Dataset) -> xr.Dataset`` convention) is wrapped
   as its ``predict``. Optional attributes: ``training_sources`` (else ``--sources``, else
   ``("obs",)``), ``description``.
2. A run directory written by ``tailshift train`` (``run.json``; :mod:`tailshift.baselines.rundir`), or a
   directory of run directories: each run is submitted for the split it was trained for, its
   training sources, split hash and dataset checksum are read from its metadata and checked.
3. A TorchScript (``.pt``/``.ts``) or ``torch.export`` (``.pt2``) file with a sidecar TOML of the
   same stem (``model.pt`` -> ``model.toml``)::

       channels = ["36.64V", "36.64H", "89.0V", "89.0H"]  # or "drain4" / "all"
       quantile_levels = [0.05, 0.5, 0.95]                 # strictly increasing in (0, 1)
       transform = "none"            # or "gprof_nn": the output is in that transformed space
       mean = [...]; std = [...]     # optional per-channel input normalisation (K)
       training_sources = ["obs"]
       batch_size = 8                # exported programs with a static batch: the last batch
                                     # is padded to it

   The program maps ``(batch, channel, y, x)`` float32 to ``(batch, quantile, y, x)``. TorchScript
   archives are loaded with ``torch.jit.load`` and exported programs with ``torch.export.load``:
   neither unpickles arbitrary Python objects; state dicts elsewhere use ``weights_only=True``.

Running (:func:`run_predictions`): the role's inputs (TBs and ancillary scene coordinates, never
the labels) are read ``batch_size`` scenes at a time, the model's output is checked batch by batch
(type, variables, dims, sizes, scene ids, quantile levels), appended to a Zarr store in a
temporary directory and, after :func:`tailshift.benchmark.predictions.load_predictions` validated the
whole file, renamed into place. Memory is bounded by one batch of inputs and outputs. A model
that raises, returns the wrong thing, or exceeds ``timeout`` seconds on a batch stops the run with
an error naming the batch and its scene ids; nothing partial is written.

Submitting (:func:`submit`): for each split, every evaluation role is predicted and validated
first, then scored with :func:`tailshift.benchmark.evaluate.score_role`; the result file is written once
(:func:`tailshift.benchmark.results.write_result`) only when every role succeeded.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import math
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.errors import BadInputError, TailShiftError

#: Default scenes per model call.
DEFAULT_BATCH = 16
PROGRAM_SUFFIXES = (".pt", ".pt2", ".ts", ".torchscript")
_PRED_DIMS = {
    schema.VAR_QUANTILES: (schema.DIM_SCENE, schema.DIM_QUANTILE, schema.DIM_Y, schema.DIM_X),
    schema.VAR_SAMPLES: (schema.DIM_SCENE, schema.DIM_MEMBER, schema.DIM_Y, schema.DIM_X),
    schema.VAR_PRECIP: (schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X),
}

ProgressFn = Callable[[str, int, int | None], None]


class ModelFailure(TailShiftError):
    """The submitted model raised or was too slow on a batch (exit code 1)."""


@dataclass
class LoadedModel:
    """A model ready to run, with what the results need to know about it."""

    model: Any
    spec: str
    kind: str  # "python" | "run" | "program"
    training_sources: tuple[str, ...] = (schema.SOURCE_OBS,)
    splits: tuple[str, ...] = ()
    baseline: str | None = None
    description: str = ""
    code_hash: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- loading
def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class CallableModel:
    """Adapter: a function ``f(xr.Dataset) -> xr.Dataset`` (SatRain ``retrieval_fn``) as a model."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def predict(self, inputs: Any) -> Any:
        return self.fn(inputs)


def _load_python(spec: str, sources: Sequence[str] | None) -> LoadedModel:
    target, _, attr = spec.rpartition(":")
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise BadInputError(f"model file {path} does not exist; pass path/to/file.py:factory")
        mod_name = f"tailshift_submission_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}"
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        if mspec is None or mspec.loader is None:
            raise BadInputError(f"cannot import {path}; is it a Python file?")
        module = importlib.util.module_from_spec(mspec)
        sys.modules[mod_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            mspec.loader.exec_module(module)
        except Exception as exc:
            raise ModelFailure(f"importing {path} raised {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(str(path.resolve().parent))
        code_hash = _file_hash(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise BadInputError(
                f"cannot import module {target!r} ({exc}); pass path/to/file.py:factory or an "
                + "importable module:factory"
            ) from exc
        code_hash = _file_hash(Path(module.__file__)) if getattr(module, "__file__", None) else None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise BadInputError(f"{target} has no callable {attr!r}; name the factory after the colon")
    try:
        obj = factory()
    except Exception as exc:
        raise ModelFailure(f"{spec}: calling {attr}() raised {type(exc).__name__}: {exc}") from exc
    if not hasattr(obj, "predict"):
        if callable(obj):
            obj = CallableModel(obj)
        else:
            raise BadInputError(
                f"{spec}: {attr}() returned {type(obj).__name__}, which has no predict(inputs) "
                + "method and is not callable"
            )
    declared = getattr(obj, "training_sources", None) or sources or (schema.SOURCE_OBS,)
    return LoadedModel(obj, spec, "python", tuple(declared), description=str(getattr(obj, "description", "")),
                       code_hash=code_hash)


def _load_run(path: Path, device: str = "cpu") -> LoadedModel:
    # deferred: the CLI starts without loading the engine
    from tailshift.baselines import registry

    # deferred: the CLI starts without loading the engine
    from tailshift.baselines.rundir import RunDir

    run = RunDir(path)
    model = registry.load(run, device=device)
    return LoadedModel(
        model, str(path), "run", run.training_sources, splits=(run.split_name,), baseline=run.baseline,
        description=registry.get(run.baseline).description,
        code_hash=(run.meta.get("code_version") or {}).get("git"), meta=run.meta,
    )


class ProgramModel:
    """A TorchScript / exported program with its sidecar: ``predict`` in the predictions schema."""

    def __init__(self, path: Path, side: dict[str, Any], device: str = "cpu"):
        import torch

        # deferred: the CLI starts without loading the engine
        from tailshift.baselines import common

        # deferred: the CLI starts without loading the engine
        from tailshift.baselines.device import resolve_device

        self.path = path
        self.device = resolve_device(device)
        self.channels = schema.resolve_channels(side.get("channels", "all"))
        levels = np.asarray(side.get("quantile_levels", []), dtype=np.float64)
        if levels.ndim != 1 or levels.size == 0 or np.any(np.diff(levels) <= 0) or levels[0] <= 0 or levels[-1] >= 1:
            raise BadInputError(
                f"sidecar of {path}: quantile_levels must be a non-empty, strictly increasing list "
                + "inside (0, 1)"
            )
        self.quantile_levels = levels
        self.transform = side.get("transform", "none")
        if self.transform not in common.TRANSFORMS:
            raise BadInputError(f"sidecar of {path}: transform must be one of {list(common.TRANSFORMS)}")
        n = len(self.channels)
        self.mean = np.asarray(side.get("mean", np.zeros(n)), np.float32)
        self.std = np.asarray(side.get("std", np.ones(n)), np.float32)
        if self.mean.shape != (n,) or self.std.shape != (n,):
            raise BadInputError(f"sidecar of {path}: mean and std need one value per channel ({n})")
        self.exported = path.suffix == ".pt2"
        self.batch_size = int(side.get("batch_size", 1 if self.exported else DEFAULT_BATCH))
        try:
            if self.exported:
                self.module = torch.export.load(str(path)).module().to(self.device)
            else:
                import warnings

                with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self.module = torch.jit.load(str(path), map_location=self.device)
                self.module.eval()
        except Exception as exc:
            raise BadInputError(f"cannot load {path} as a TorchScript / exported program ({exc})") from exc

    def predict(self, inputs: Any) -> Any:
        import torch

        # deferred: the CLI starts without loading the engine
        from tailshift.baselines import common

        tb = common.tb_array(inputs, self.channels, fill=self.mean)
        x = np.nan_to_num((tb - self.mean[None, :, None, None]) / self.std[None, :, None, None])
        x = x.astype(np.float32)
        n = x.shape[0]
        outs = []
        with torch.no_grad():
            for sl in range(0, n, self.batch_size):
                part = x[sl:sl + self.batch_size]
                k = part.shape[0]
                if self.exported and k < self.batch_size:
                    part = np.concatenate([part, np.zeros((self.batch_size - k,) + part.shape[1:], np.float32)])
                out = self.module(torch.from_numpy(np.ascontiguousarray(part)).to(self.device))
                outs.append(np.asarray(out.detach().float().cpu().numpy())[:k])
        q = np.concatenate(outs)
        expected = (n, len(self.quantile_levels)) + x.shape[2:]
        if q.shape != expected:
            raise BadInputError(
                f"{self.path} returned shape {q.shape}; the sidecar implies {expected} "
                + "(batch, quantile, y, x)"
            )
        q = common.rain_inverse(q, self.transform)
        return common.to_predictions(inputs, q, self.quantile_levels)


def _load_program(path: Path, sources: Sequence[str] | None, device: str = "cpu") -> LoadedModel:
    side_path = path.with_suffix(".toml")
    if not side_path.is_file():
        raise BadInputError(
            f"{path} needs a sidecar {side_path} naming channels and quantile_levels "
            + "(see 'tailshift submit --help')"
        )
    try:
        side = tomllib.loads(side_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"sidecar {side_path} is not valid TOML ({exc})") from exc
    known = {"channels", "quantile_levels", "transform", "mean", "std", "training_sources",
             "batch_size", "description"}
    unknown = sorted(set(side) - known)
    if unknown:
        raise BadInputError(f"sidecar {side_path} has unknown key(s) {unknown}; valid: {sorted(known)}")
    model = ProgramModel(path, side, device=device)
    declared = side.get("training_sources") or sources or (schema.SOURCE_OBS,)
    return LoadedModel(model, str(path), "program", tuple(declared), description=side.get("description", ""),
                       code_hash=_file_hash(path))


def load_models(spec: str | Path, sources: Sequence[str] | None = None,
                device: str = "cpu") -> list[LoadedModel]:
    """Load the model(s) named by ``spec`` (see the module docstring for the three forms).

    A directory of run directories gives one model per run; every other form gives one.
    ``device`` places torch models (U-Net runs, TorchScript / exported programs) for inference;
    a Python entry point chooses its own device.
    """
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        if (path / "run.json").is_file():
            return [_load_run(path, device)]
        runs = sorted(p for p in path.iterdir() if (p / "run.json").is_file())
        if not runs:
            raise BadInputError(
                f"{path} is neither a run directory nor a directory of runs (no run.json); pass "
                + "the --out of 'tailshift train'"
            )
        return [_load_run(p, device) for p in runs]
    if path.suffix in PROGRAM_SUFFIXES:
        if not path.is_file():
            raise BadInputError(f"model file {path} does not exist")
        return [_load_program(path, sources, device)]
    if ":" in text and not path.exists():
        return [_load_python(text, sources)]
    raise BadInputError(
        f"cannot tell what model {text!r} is: pass path/to/file.py:factory, a run directory, or a "
        + "TorchScript/exported program (.pt/.pt2) with a sidecar .toml"
    )


def load_model(spec: str | Path, sources: Sequence[str] | None = None,
               device: str = "cpu") -> LoadedModel:
    """:func:`load_models` for a spec that names exactly one model."""
    models = load_models(spec, sources, device)
    if len(models) != 1:
        raise BadInputError(f"{spec} holds {len(models)} runs; name one of them")
    return models[0]


# ----------------------------------------------------------------------------------- running
class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: float | None):
    """Interrupt the body after ``seconds`` (SIGALRM in the main thread; else checked after)."""
    use_alarm = (
        seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not use_alarm:
        yield
        return

    def handler(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _scene_range(ids: np.ndarray) -> str:
    return f"scenes {ids[0]}..{ids[-1]}" if len(ids) else "no scenes"


def check_batch(out: Any, batch: Any, b: int, levels_seen: np.ndarray | None) -> Any:
    """Check and normalise one batch output; raise :class:`BadInputError` naming the batch."""
    import xarray as xr

    ids = np.asarray(batch[schema.DIM_SCENE].values)
    where = f"batch {b} ({_scene_range(ids)})"
    if not isinstance(out, xr.Dataset):
        raise BadInputError(f"the model returned {type(out).__name__} on {where}; predict must return an xarray.Dataset")
    present = [v for v in _PRED_DIMS if v in out.data_vars]
    if not present:
        raise BadInputError(
            f"the model's output on {where} has none of {list(_PRED_DIMS)} (it has {list(out.data_vars)})"
        )
    problems = []
    ny, nx = batch.sizes[schema.DIM_Y], batch.sizes[schema.DIM_X]
    for v in present:
        dims = _PRED_DIMS[v]
        if set(out[v].dims) != set(dims):
            problems.append(f"{v} has dims {out[v].dims}, expected {dims}")
            continue
        sizes = out[v].sizes
        if sizes[schema.DIM_SCENE] != len(ids) or sizes[schema.DIM_Y] != ny or sizes[schema.DIM_X] != nx:
            problems.append(
                f"{v} has scene={sizes[schema.DIM_SCENE]}, y={sizes[schema.DIM_Y]}, x={sizes[schema.DIM_X]} "
                + f"but the batch has scene={len(ids)}, y={ny}, x={nx}"
            )
    if problems:
        raise BadInputError(f"wrong output shape on {where}: " + "; ".join(problems))
    out = out[present]
    if schema.DIM_SCENE in out.coords:
        got = np.asarray(out[schema.DIM_SCENE].values)
        if got.shape != ids.shape or set(got.tolist()) != set(ids.tolist()):
            raise BadInputError(f"the model's scene ids on {where} differ from the input's")
        out = out.sel({schema.DIM_SCENE: ids})
    else:
        out = out.assign_coords({schema.DIM_SCENE: ids})
    for v in present:
        out[v] = out[v].transpose(*_PRED_DIMS[v])
    if schema.VAR_QUANTILES in out:
        if schema.DIM_QUANTILE not in out.coords:
            raise BadInputError(f"{schema.VAR_QUANTILES} on {where} has no 'quantile' coordinate")
        levels = np.asarray(out[schema.DIM_QUANTILE].values, dtype=np.float64)
        if levels_seen is not None and (levels.shape != levels_seen.shape or not np.allclose(levels, levels_seen)):
            raise BadInputError(f"the quantile levels changed on {where}; return the same levels for every batch")
    return out


def _model_inputs(ds: Any) -> Any:
    """The inputs a model may see: everything but the labels."""
    drop = [v for v in (schema.VAR_PRECIP,) if v in ds.variables]
    return ds.drop_vars(drop)


def run_predictions(
    model: Any,
    data_dir: str | Path,
    split: Any,
    role: str,
    out: str | Path,
    batch_size: int = DEFAULT_BATCH,
    timeout: float | None = None,
    progress: ProgressFn | None = None,
    force: bool = False,
) -> Path:
    """Run ``model`` (an object with ``predict`` or a :class:`LoadedModel`) over a role.

    Writes ``out`` (``.zarr`` store or ``.nc`` file) atomically and returns its path.

    Raises
    ------
    ModelFailure
        The model raised, or a batch took longer than ``timeout`` seconds.
    BadInputError
        Bad arguments, or the model's output is not in the predictions schema.
    """
    # deferred: the CLI starts without loading the engine
    from tailshift.atomic import (
        atomic_dir,
        atomic_file,
        check_target,
    )

    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.dataset import select_role

    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.predictions import load_predictions

    # deferred: the CLI starts without loading the engine
    from tailshift.splits import load_split

    if isinstance(model, LoadedModel):
        model = model.model
    if batch_size < 1:
        raise BadInputError(f"--batch-size must be >= 1, got {batch_size}")
    out = Path(out)
    if out.suffix not in (".zarr", ".nc"):
        raise BadInputError(f"prediction output {out} must end in .zarr or .nc")
    check_target(out, force, what="predictions")
    split = load_split(split)
    ref = select_role(data_dir, split, role)
    n = ref.sizes[schema.DIM_SCENE]
    if n == 0:
        raise BadInputError(f"role {role} of split {split.name!r} has no scenes on this dataset")
    inputs = _model_inputs(ref)
    ids = np.asarray(ref[schema.DIM_SCENE].values)
    n_batches = math.ceil(n / batch_size)

    def write(target: Path) -> None:
        levels_seen = None
        for b in range(n_batches):
            sl = slice(b * batch_size, min((b + 1) * batch_size, n))
            batch = inputs.isel({schema.DIM_SCENE: sl}).load()
            t0 = time.perf_counter()
            try:
                with _deadline(timeout):
                    pred = model.predict(batch)
            except _Timeout:
                raise ModelFailure(
                    f"the model took longer than --timeout {timeout:g} s on batch {b} "
                    + f"({_scene_range(ids[sl])}); raise --timeout or lower --batch-size"
                ) from None
            except (BadInputError, ModelFailure):
                raise
            except Exception as exc:
                raise ModelFailure(
                    f"the model raised {type(exc).__name__} on batch {b} ({_scene_range(ids[sl])}): {exc}"
                ) from exc
            elapsed = time.perf_counter() - t0
            if timeout and elapsed > timeout:
                raise ModelFailure(
                    f"the model took {elapsed:.1f} s (> --timeout {timeout:g} s) on batch {b} "
                    + f"({_scene_range(ids[sl])}); raise --timeout or lower --batch-size"
                )
            pred = check_batch(pred, batch, b, levels_seen)
            if schema.VAR_QUANTILES in pred:
                levels_seen = np.asarray(pred[schema.DIM_QUANTILE].values, dtype=np.float64)
            for v in pred.variables.values():
                v.encoding = {}
            pred = pred.chunk({schema.DIM_SCENE: batch_size})
            if b == 0:
                pred.to_zarr(target, mode="w", zarr_format=2, consolidated=True)
            else:
                pred.to_zarr(target, append_dim=schema.DIM_SCENE, zarr_format=2, consolidated=True)
            if progress:
                progress(f"predict {role}", b + 1, n_batches)
        load_predictions(target, ref)  # validate the whole file before it is renamed into place

    if out.suffix == ".zarr":
        with atomic_dir(out, force=force, what="predictions") as tmp:
            write(tmp)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=".predict-", dir=out.parent if out.parent.exists() else None))
        try:
            write(scratch / "pred.zarr")
            import xarray as xr

            with xr.open_zarr(scratch / "pred.zarr") as ds, atomic_file(out, force=force, what="predictions") as tmp:
                ds.to_netcdf(tmp)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return out


# -------------------------------------------------------------------------------- submitting
def check_run_against(m: LoadedModel, split: Any, data_dir: str | Path) -> None:
    """A run may only be evaluated on the split (version) and dataset it was trained for."""
    # deferred: the CLI starts without loading the engine
    from tailshift.io import read_manifest

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
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.blocks import finalize

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
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.evaluate import score_role

    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.results import (
        DEFAULT_RESULTS_DIR,
        build_result,
        check_writable,
        result_path,
        write_result,
    )  # deferred: the CLI starts without loading the engine

    # deferred: the CLI starts without loading the engine
    from tailshift.io import read_manifest
    from tailshift.splits import load_split  # deferred: the CLI starts without loading the engine

    if sources:
        bad = [s for s in sources if s not in schema.SOURCES]
        if bad:
            raise BadInputError(f"unknown source(s) {bad}; use {list(schema.SOURCES)}")
    models = load_models(model_spec, sources, device)
    results_dir = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    manifest = read_manifest(data_dir)
    checksum = str(manifest.get("dataset_checksum", ""))
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
        for s in wanted:
            plan.append((m, load_split(s)))
    if not plan:
        raise BadInputError(f"none of the runs in {model_spec} was trained for {list(splits or [])}")
    names = [sp.name for _, sp in plan]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BadInputError(f"several runs in {model_spec} were trained for split(s) {dup}; submit them separately")
    # every check before any model runs
    for m, sp in plan:
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
            check_writable(result_path(results_dir, sp.name, name), sp.hash, checksum, role, force)
    results = []
    for m, sp in plan:
        scratch = Path(tempfile.mkdtemp(prefix="tailshift-submit-"))
        try:
            preds = {}
            for role in sp.eval_roles:
                preds[role] = run_predictions(
                    m.model, data_dir, sp, role, scratch / f"{sp.name}-{role}.zarr",
                    batch_size=batch_size, timeout=timeout, progress=progress,
                )
            blocks, stats = {}, {}
            for role, path in preds.items():
                prog = (lambda d, t, r=role: progress(f"score {r}", d, t)) if progress else None
                blocks[role], stats[role] = score_role(
                    path, data_dir, sp, role, scheduler=scheduler, progress=prog,
                    return_statistics=True,
                )
            combined = combine_test_roles(blocks, stats)
            if combined is not None:
                blocks[schema.ROLE_ALL_TEST] = combined
            result = build_result(
                name=name, model=str(m.spec),
                description=description if description is not None else m.description,
                training_sources=list(m.training_sources), code_hash=m.code_hash, baseline=m.baseline,
                split_name=sp.name, split_hash=sp.hash,
                dataset={"checksum": checksum, "preset": manifest.get("preset", ""),
                         "generator_version": manifest.get("generator_version", "")},
                roles=blocks,
            )
            results.append(result)
            if keep_predictions is not None:
                keep = Path(keep_predictions)
                keep.mkdir(parents=True, exist_ok=True)
                for path in preds.values():
                    target = keep / path.name
                    if target.exists():
                        shutil.rmtree(target)
                    shutil.move(str(path), target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    # written only when every split and role succeeded
    return [write_result(result, results_dir, force=force) for result in results]


__all__ = [
    "CallableModel",
    "LoadedModel",
    "ModelFailure",
    "ProgramModel",
    "check_batch",
    "check_run_against",
    "load_model",
    "load_models",
    "run_predictions",
    "submit",
]
