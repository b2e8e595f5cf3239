"""Running a model over a role: batches of inputs in, checked predictions out.

Running (:func:`run_predictions`): the role's inputs (TBs and ancillary scene coordinates, never
the labels) are read ``batch_size`` scenes at a time, the model's output is checked batch by batch
(type, variables, dims, sizes, scene ids, quantile levels), appended to a Zarr store in a
temporary directory and, after :func:`tailshift.benchmark.predictions.load_predictions` validated the
whole file, renamed into place. Memory is bounded by one batch of inputs and outputs. A model
that raises, returns the wrong thing, or exceeds ``timeout`` seconds on a batch stops the run with
an error naming the batch and its scene ids; nothing partial is written.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema

#: Default scenes per model call.
from tailshift.app.models import DEFAULT_BATCH, LoadedModel, ModelFailure
from tailshift.atomic import atomic_dir, atomic_file, check_target
from tailshift.benchmark.dataset import select_role
from tailshift.benchmark.predictions import load_predictions
from tailshift.errors import BadInputError
from tailshift.splits import load_split

ProgressFn = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``."""


_PRED_DIMS = {
    schema.VAR_QUANTILES: (schema.DIM_SCENE, schema.DIM_QUANTILE, schema.DIM_Y, schema.DIM_X),
    schema.VAR_SAMPLES: (schema.DIM_SCENE, schema.DIM_MEMBER, schema.DIM_Y, schema.DIM_X),
    schema.VAR_PRECIP: (schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X),
}


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


# Long on purpose (~110 lines): one loop that owns the temporary store, the batch checks, the
# deadline and the clean-up; splitting it would spread the clean-up guarantees over helpers.
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
