"""Prediction files: open lazily, validate everything at once, align with the evaluation set.

What ``tailshift score`` reads (docs/results.md, prediction files): a NetCDF file (``.nc``) or a Zarr store
(``.zarr`` directory) holding at least one of

- ``surface_precip_quantiles`` (scene, quantile, y, x), the ``quantile`` coordinate strictly
  increasing inside (0, 1);
- ``surface_precip_samples`` (scene, member, y, x), for generative models;
- ``surface_precip`` (scene, y, x), a point estimate (when absent the scorer uses the 0.5 quantile,
  or the sample mean).

Every precipitation variable carries ``units = "mm h-1"`` (or an alias of
:data:`tailshift.schema.UNITS_PRECIP_ALIASES`), and the ``scene`` coordinate equals the ids of the
evaluation set (any order: predictions are aligned with the reference by id). Dimension order
inside a variable is free; variables are transposed to the order above. Other variables in the
file are ignored.

Problems and their messages (all collected, then reported in one :class:`BadInputError`,
docs/design.md, Conventions; each names the fix):

==========================  ===========================================================
problem                     message starts with
==========================  ===========================================================
path does not exist         ``<path> does not exist``
empty file / empty dir      ``<path> is empty``
not NetCDF / not Zarr       ``<path> cannot be read as NetCDF`` (or ``as a Zarr store``)
no prediction variable      ``no prediction variable``
wrong dimensions            ``<var> has dims (...) but must have (...)``
wrong y/x sizes             ``<var> has y=.., x=.. but the evaluation scenes are y=.., x=..``
no/empty quantile, member   ``<var> has no 'quantile' coordinate`` / ``... 0 members``
bad quantile levels         ``quantile levels must be strictly increasing`` / ``inside (0, 1)``
non-numeric values          ``<var> has dtype ..., not a number``
missing units               ``<var> has no units attribute``
wrong units                 ``<var> has units 'mm/day'`` (with the conversion factor)
no scene coordinate         ``no 'scene' coordinate``
duplicate scene ids         ``<n> scene ids appear more than once``
missing scenes              ``<n> of <m> evaluation scenes are missing``
extra scenes                ``<n> scenes are not in the evaluation set``
NaN / inf                   ``<var> has <n> non-finite values (NaN/inf)``
negative rain               ``<var> has <n> values below -0.001 mm h-1``
crossing quantiles          ``surface_precip_quantiles crosses in <n> pixels``
==========================  ===========================================================

Value checks (NaN/inf, negative rain, crossing quantiles) stream over blocks of scenes, so memory
is bounded by one block of one variable whatever the number of scenes.

Tolerances (a decision of this module, stated here): values in ``[-1e-3, 0)`` mm/h and quantile
crossings of at most 1e-3 mm/h are floating-point round-off, not errors; :func:`clean_block`
clips the former to 0 and sorts the quantiles (monotone rearrangement, Chernozhukov,
Fernández-Val & Galichon 2010, Econometrica 78(3), 1093-1125), which can only lower the quantile
loss. 1e-3 mm/h is 1 % of the lowest detection threshold of docs/design.md (0.1 mm/h) and ten times
below the 0.01 mm/h rounding of result examples, so no score can change by more than round-off.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from tailshift import schema
from tailshift.errors import BadInputError

#: Quantile crossings up to this size (mm/h) are round-off and are sorted away, not reported.
CROSSING_TOLERANCE = 1e-3
#: Values down to ``-NEGATIVE_TOLERANCE`` (mm/h) are round-off and clipped to 0, not reported.
NEGATIVE_TOLERANCE = 1e-3
#: Target size of one block of one variable read during validation / scoring (bytes).
BLOCK_BYTES = 32 * 2**20
#: How many example ids a message lists.
N_EXAMPLES = 5

#: Expected dims of each prediction variable (the order variables are transposed to).
PRED_DIMS: dict[str, tuple[str, ...]] = {
    schema.VAR_QUANTILES: (schema.DIM_SCENE, schema.DIM_QUANTILE, schema.DIM_Y, schema.DIM_X),
    schema.VAR_SAMPLES: (schema.DIM_SCENE, schema.DIM_MEMBER, schema.DIM_Y, schema.DIM_X),
    schema.VAR_PRECIP: (schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X),
}

#: Units that are recognisably precipitation in another unit: (factor to mm/h, how to say it).
#: mm/day -> mm/h: 1/24; kg m-2 s-1 (= mm/s, CF canonical) -> mm/h: 3600; m/h -> mm/h: 1000.
_CONVERTIBLE_UNITS: dict[str, str] = {
    "mm/day": "divide by 24",
    "mm/d": "divide by 24",
    "mm d-1": "divide by 24",
    "mm day-1": "divide by 24",
    "mm day^-1": "divide by 24",
    "mm/24h": "divide by 24",
    "kg m-2 s-1": "multiply by 3600",
    "kg/m2/s": "multiply by 3600",
    "kg m**-2 s**-1": "multiply by 3600",
    "mm/s": "multiply by 3600",
    "mm s-1": "multiply by 3600",
    "m/h": "multiply by 1000",
    "m h-1": "multiply by 1000",
    "m/s": "multiply by 3.6e6",
    "m s-1": "multiply by 3.6e6",
    "in/h": "multiply by 25.4",
    "in/hr": "multiply by 25.4",
}


def _examples(values: Sequence) -> str:
    vals = list(values)[:N_EXAMPLES]
    return ", ".join(str(v.item() if hasattr(v, "item") else v) for v in vals)


def _is_zarr_path(path: Path) -> bool:
    return path.is_dir() or path.suffix == ".zarr"


def open_predictions(path: str | Path) -> xr.Dataset:
    """Open a prediction file (``.nc``) or store (``.zarr``) lazily, without loading values.

    Arrays are lazily indexed backend arrays (no dask, no cache): indexing a block of scenes
    reads only that block.

    Raises
    ------
    BadInputError
        If the path does not exist, is empty, or cannot be read as NetCDF / Zarr.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(
            f"{path} does not exist; pass the path of a .nc file or a .zarr directory "
            + "written by 'tailshift predict' or by your own model"
        )
    if path.is_dir():
        if not any(path.iterdir()):
            raise BadInputError(
                f"{path} is empty (a directory with no files); write the predictions again"
            )
        try:
            return xr.open_zarr(path, chunks=None, decode_timedelta=False)
        except Exception as exc:  # zarr raises many types for foreign directories
            raise BadInputError(
                f"{path} cannot be read as a Zarr store ({type(exc).__name__}: {exc}); "
                + "write it with xarray's Dataset.to_zarr, or as NetCDF with Dataset.to_netcdf"
            ) from exc
    if path.stat().st_size == 0:
        raise BadInputError(f"{path} is empty (0 bytes); write the predictions again")
    try:
        return xr.open_dataset(path, chunks=None, cache=False, decode_timedelta=False)
    except Exception as exc:  # netCDF4/h5netcdf/scipy raise many types for foreign files
        raise BadInputError(
            f"{path} cannot be read as NetCDF ({type(exc).__name__}: {str(exc)[:200]}); "
            + "write it with xarray's Dataset.to_netcdf (.nc) or Dataset.to_zarr (.zarr)"
        ) from exc


def prediction_vars(pred: xr.Dataset) -> list[str]:
    """The prediction variables present in ``pred``, in the order quantiles, samples, point."""
    return [v for v in PRED_DIMS if v in pred.data_vars]


def _units_problem(var: str, units: object) -> str | None:
    if units is None:
        return f"{var} has no units attribute; set {var}.attrs['units'] = '{schema.UNITS_PRECIP}'"
    text = str(units).strip()
    if text in schema.UNITS_PRECIP_ALIASES:
        return None
    key = text.lower().replace("**", "^").replace("^", "")
    for alias, how in _CONVERTIBLE_UNITS.items():
        if key == alias.replace("**", "").replace("^", ""):
            return (
                f"{var} has units {text!r}, not {schema.UNITS_PRECIP!r}; {how} to get a rain rate "
                + f"in mm/h and set units='{schema.UNITS_PRECIP}'"
            )
    return (
        f"{var} has units {text!r}; rain rates must be in mm/h: set units='{schema.UNITS_PRECIP}' "
        + f"(accepted spellings: {', '.join(schema.UNITS_PRECIP_ALIASES)})"
    )


def _normalize_ids(ids: np.ndarray, like: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Convert prediction scene ids to the dtype of the reference ids (int vs str)."""
    ids = np.asarray(ids)
    if like.dtype.kind in "iu":
        if ids.dtype.kind in "iu":
            return ids.astype(np.int64), None
        try:
            as_float = ids.astype(np.float64)
        except (TypeError, ValueError):
            return None, (
                "scene ids must be integers like those of the evaluation set "
                + f"(got e.g. {_examples(ids)}); copy the 'scene' coordinate of the exported inputs"
            )
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            return None, (
                "scene ids must be whole numbers like those of the evaluation set "
                + f"(got e.g. {_examples(ids)}); copy the 'scene' coordinate of the exported inputs"
            )
        return as_float.astype(np.int64), None
    return ids.astype(str), None


def normalize_predictions(pred: xr.Dataset, reference_scenes: np.ndarray) -> xr.Dataset:
    """Transpose prediction variables to canonical dim order and cast scene ids like the reference.

    Assumes :func:`validate_predictions` found no problem. Lazy: no values are read.
    """
    ref = np.asarray(reference_scenes)
    ids, problem = _normalize_ids(pred[schema.DIM_SCENE].values, ref)
    if problem:
        raise BadInputError(problem)
    pred = pred[prediction_vars(pred)]
    pred = pred.assign_coords({schema.DIM_SCENE: ids})
    return pred.transpose(*_all_dims(pred))


def _all_dims(pred: xr.Dataset) -> list[str]:
    order = [schema.DIM_SCENE, schema.DIM_QUANTILE, schema.DIM_MEMBER, schema.DIM_Y, schema.DIM_X]
    return [d for d in order if d in pred.dims]


def block_size(pred: xr.Dataset, target_bytes: int = BLOCK_BYTES) -> int:
    """Scenes per block so that one block of the largest prediction variable is ~target_bytes."""
    per_scene = 1
    for var in prediction_vars(pred):
        da = pred[var]
        n = da.sizes.get(schema.DIM_SCENE, 1) or 1
        per_scene = max(per_scene, int(da.size * da.dtype.itemsize // n))
    return max(1, int(target_bytes // per_scene))


def iter_blocks(n: int, size: int) -> Iterator[slice]:
    """Slices ``[0:size], [size:2 size], ...`` covering ``range(n)``."""
    for start in range(0, n, max(1, int(size))):
        yield slice(start, min(n, start + size))


def validate_predictions(
    pred: xr.Dataset,
    reference_scenes: Sequence | np.ndarray,
    ny: int | None = None,
    nx: int | None = None,
    *,
    tolerance: float = CROSSING_TOLERANCE,
    negative_tolerance: float = NEGATIVE_TOLERANCE,
    chunk: int | None = None,
) -> list[str]:
    """Every problem of a prediction dataset, as one sentence each (empty list: valid).

    Parameters
    ----------
    pred : xarray.Dataset
        Opened predictions (lazy is fine; values are read one block of scenes at a time).
    reference_scenes : array-like
        Scene ids of the evaluation set (the role's reference scenes).
    ny, nx : int, optional
        Expected ``y`` / ``x`` sizes (skipped when None).
    tolerance : float
        Largest quantile crossing (mm/h) tolerated as round-off, default :data:`CROSSING_TOLERANCE`.
    negative_tolerance : float
        Largest negative value magnitude (mm/h) tolerated as round-off.
    chunk : int, optional
        Scenes per block for the value checks (default: ~:data:`BLOCK_BYTES` per block).
    """
    problems: list[str] = []
    ref_ids = np.asarray(reference_scenes)
    present = prediction_vars(pred)
    if not present:
        found = ", ".join(map(str, pred.data_vars)) or "none"
        problems.append(
            "no prediction variable: expected at least one of "
            + "; ".join(f"{v} ({', '.join(d)})" for v, d in PRED_DIMS.items())
            + f" (variables found: {found})"
        )
    value_ok: list[str] = []
    quantiles_sorted = False
    for var in present:
        var_problems, structure_ok = _structure_problems(pred, var, ny, nx)
        problems.extend(var_problems)
        if var == schema.VAR_QUANTILES and schema.DIM_QUANTILE in pred[var].dims:
            level_problems = _level_problems(pred, var)
            problems.extend(level_problems)
            quantiles_sorted = not level_problems
        if structure_ok:
            value_ok.append(var)
    scene_problems, ids = _scene_problems(pred, ref_ids, bool(present))
    problems.extend(scene_problems)
    if value_ok:  # values, streamed block by block
        problems.extend(
            _value_problems(
                pred,
                value_ok,
                ids,
                check_crossing=quantiles_sorted and schema.VAR_QUANTILES in value_ok,
                tolerance=tolerance,
                negative_tolerance=negative_tolerance,
                chunk=chunk,
            )
        )
    return problems


def _structure_problems(pred: xr.Dataset, var: str, ny, nx) -> tuple[list[str], bool]:
    """Dims, sizes, dtype and units of one prediction variable; and whether its values can be
    checked."""
    problems: list[str] = []
    da = pred[var]
    want = PRED_DIMS[var]
    structure_ok = True
    if set(da.dims) != set(want) or len(da.dims) != len(want):
        problems.append(
            f"{var} has dims ({', '.join(map(str, da.dims))}) but must have ({', '.join(want)})"
        )
        structure_ok = False
    else:
        got_y, got_x = da.sizes[schema.DIM_Y], da.sizes[schema.DIM_X]
        if (ny is not None and got_y != ny) or (nx is not None and got_x != nx):
            problems.append(
                f"{var} has y={got_y}, x={got_x} but the evaluation scenes are y={ny}, x={nx}; "
                + "predict on the full scene grid of the exported inputs"
            )
    if da.dtype.kind not in "fiu":
        problems.append(f"{var} has dtype {da.dtype}, not a number; store float32 rain rates")
        structure_ok = False
    unit_problem = _units_problem(var, da.attrs.get("units"))
    if unit_problem:
        problems.append(unit_problem)
    for dim in (schema.DIM_QUANTILE, schema.DIM_MEMBER):
        if dim in da.dims and da.sizes[dim] == 0:
            problems.append(f"{var} has 0 {dim}s; give at least one")
            structure_ok = False
    return problems, structure_ok


def _level_problems(pred: xr.Dataset, var: str) -> list[str]:
    """The ``quantile`` coordinate: present, 1-D, inside (0, 1), strictly increasing."""
    if schema.DIM_QUANTILE not in pred.coords:
        return [
            f"{var} has no 'quantile' coordinate; add the quantile levels, e.g. "
            + "pred.assign_coords(quantile=[0.01, ..., 0.99])"
        ]
    q = np.asarray(pred[schema.DIM_QUANTILE].values)
    if q.ndim != 1 or q.dtype.kind not in "fiu" or q.size == 0:
        return ["the 'quantile' coordinate must be a non-empty 1-D list of levels in (0, 1)"]
    q = q.astype(np.float64)
    if not np.all(np.isfinite(q)) or np.any(q <= 0.0) or np.any(q >= 1.0):
        return [
            f"quantile levels must lie inside (0, 1) (got min {np.nanmin(q):g}, "
            + f"max {np.nanmax(q):g}); give probabilities, not percentages"
        ]
    if np.any(np.diff(q) <= 0.0):
        return [
            "quantile levels must be strictly increasing without repeats; sort the "
            + "'quantile' coordinate and the variable along it"
        ]
    return []


def _scene_problems(pred: xr.Dataset, ref_ids: np.ndarray,
                    has_vars: bool) -> tuple[list[str], np.ndarray | None]:
    """Scene ids: present, 1-D, castable, unique, exactly the evaluation set."""
    problems: list[str] = []
    ids: np.ndarray | None = None
    if schema.DIM_SCENE not in pred.coords and schema.DIM_SCENE not in pred.variables:
        if has_vars:
            problems.append(
                "no 'scene' coordinate: label every prediction with its scene id "
                + "(copy the 'scene' coordinate of the exported inputs)"
            )
        return problems, None
    raw = np.asarray(pred[schema.DIM_SCENE].values)
    if raw.ndim != 1:
        return ["the 'scene' coordinate must be 1-D"], None
    ids, problem = _normalize_ids(raw, ref_ids)
    if problem:
        problems.append(problem)
    if ids is None:
        return problems, None
    uniq, counts = np.unique(ids, return_counts=True)
    dup = uniq[counts > 1]
    if dup.size:
        problems.append(
            f"{dup.size} scene ids appear more than once (e.g. {_examples(dup)}); "
            + "give each scene once"
        )
    ref_cmp = ref_ids.astype(str) if ids.dtype.kind == "U" else ref_ids
    missing = np.setdiff1d(ref_cmp, uniq)
    extra = np.setdiff1d(uniq, ref_cmp)
    if missing.size:
        problems.append(
            f"{missing.size} of {ref_ids.size} evaluation scenes are missing "
            + f"(e.g. {_examples(missing)}); predict every scene of the role "
            + "('tailshift export' writes them)"
        )
    if extra.size:
        problems.append(
            f"{extra.size} scenes are not in the evaluation set (e.g. {_examples(extra)}); "
            + "check --split/--role or drop them"
        )
    return problems, ids


def _value_problems(
    pred: xr.Dataset,
    variables: list[str],
    ids: np.ndarray | None,
    *,
    check_crossing: bool,
    tolerance: float,
    negative_tolerance: float,
    chunk: int | None,
) -> list[str]:
    n = pred.sizes.get(schema.DIM_SCENE, 0)
    size = chunk or block_size(pred[variables])
    problems = []

    def scene_label(pos: int) -> str:
        return str(ids[pos].item()) if ids is not None and pos < len(ids) else f"#{pos}"

    for var in variables:
        da = pred[var].transpose(*PRED_DIMS[var])
        n_bad = n_neg = n_cross = 0
        scenes_bad = scenes_neg = scenes_cross = 0
        first_bad = first_neg = first_cross = None
        vmin = np.inf
        worst_cross = 0.0
        for block in iter_blocks(n, size):
            a = np.asarray(da.isel({schema.DIM_SCENE: block}).values, dtype=np.float64)
            finite = np.isfinite(a)
            bad_per_scene = (~finite).reshape(a.shape[0], -1).sum(axis=1)
            if bad_per_scene.any():
                n_bad += int(bad_per_scene.sum())
                scenes_bad += int(np.count_nonzero(bad_per_scene))
                if first_bad is None:
                    first_bad = block.start + int(np.flatnonzero(bad_per_scene)[0])
            neg = np.where(finite, a, 0.0) < -negative_tolerance
            neg_per_scene = neg.reshape(a.shape[0], -1).sum(axis=1)
            if neg_per_scene.any():
                n_neg += int(neg_per_scene.sum())
                scenes_neg += int(np.count_nonzero(neg_per_scene))
                vmin = min(vmin, float(np.min(np.where(finite, a, np.inf))))
                if first_neg is None:
                    first_neg = block.start + int(np.flatnonzero(neg_per_scene)[0])
            if check_crossing and var == schema.VAR_QUANTILES and a.shape[1] > 1:
                d = np.diff(a, axis=1)
                crossed = np.any(d < -tolerance, axis=1)  # (s, y, x) pixels
                per_scene = crossed.reshape(a.shape[0], -1).sum(axis=1)
                if per_scene.any():
                    n_cross += int(per_scene.sum())
                    scenes_cross += int(np.count_nonzero(per_scene))
                    worst_cross = min(worst_cross, float(np.nanmin(d)))
                    if first_cross is None:
                        first_cross = block.start + int(np.flatnonzero(per_scene)[0])
            del a
        if n_bad:
            problems.append(
                f"{var} has {n_bad} non-finite values (NaN/inf) in {scenes_bad} scenes "
                + f"(e.g. scene {scene_label(first_bad)}); predict a finite rain rate everywhere"
            )
        if n_neg:
            problems.append(
                f"{var} has {n_neg} values below -{negative_tolerance:g} {schema.UNITS_PRECIP} in "
                + f"{scenes_neg} scenes (min {vmin:.4g}, e.g. scene {scene_label(first_neg)}); "
                + "rain cannot be negative: clip at 0 or use a non-negative output"
            )
        if n_cross:
            problems.append(
                f"{var} crosses in {n_cross} pixels of {scenes_cross} scenes: a quantile is more "
                + f"than {tolerance:g} {schema.UNITS_PRECIP} below the one of a lower level "
                + f"(worst {worst_cross:.4g}, e.g. scene {scene_label(first_cross)}); sort the "
                + "quantiles along 'quantile' or use a monotone quantile head"
            )
    return problems


def format_problems(problems: list[str], source: str | Path) -> str:
    """One message listing every problem, numbered, on one line."""
    head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in predictions {source}"
    body = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
    return f"{head}: {body}. Nothing was scored."


@dataclass
class PredictionFile:
    """A prediction file opened and validated once.

    ``raw`` keeps the file's scene order (block reads use its positions), ``aligned`` is the same
    lazy data in the reference's scene order, ``levels`` the quantile levels (None without
    quantiles). Close it with :meth:`close` (or use it as a context manager).
    """

    path: Path
    raw: xr.Dataset
    aligned: xr.Dataset
    levels: tuple[float, ...] | None

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PredictionFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def quantile_levels(pred: xr.Dataset) -> tuple[float, ...] | None:
    """The quantile levels of a prediction dataset (None when it has no quantiles)."""
    if schema.VAR_QUANTILES in pred.data_vars:
        return tuple(float(q) for q in np.asarray(pred[schema.DIM_QUANTILE].values))
    return None


def open_validated(
    path: str | Path,
    reference: xr.Dataset,
    *,
    chunk: int | None = None,
    tolerance: float = CROSSING_TOLERANCE,
) -> PredictionFile:
    """Open, validate and align a prediction file with the reference of an evaluation set.

    Parameters
    ----------
    path : path-like
        ``.nc`` file or ``.zarr`` store.
    reference : xarray.Dataset
        The role's reference (``scene``, ``y``, ``x`` define what must be predicted).

    Returns
    -------
    PredictionFile
        Prediction variables only, dims in canonical order, scene ids cast like the
        reference's; ``aligned`` reordered to the reference's scene order.

    Raises
    ------
    BadInputError
        One error listing every problem (see the module docstring).
    """
    pred = open_predictions(path)
    ref_ids = np.asarray(reference[schema.DIM_SCENE].values)
    problems = validate_predictions(
        pred,
        ref_ids,
        reference.sizes.get(schema.DIM_Y),
        reference.sizes.get(schema.DIM_X),
        chunk=chunk,
        tolerance=tolerance,
    )
    if problems:
        pred.close()
        raise BadInputError(format_problems(problems, path))
    raw = normalize_predictions(pred, ref_ids)
    return PredictionFile(Path(path), raw, raw.sel({schema.DIM_SCENE: ref_ids}),
                          quantile_levels(raw))


def load_predictions(
    path: str | Path,
    reference: xr.Dataset,
    *,
    chunk: int | None = None,
    tolerance: float = CROSSING_TOLERANCE,
) -> xr.Dataset:
    """The ``aligned`` lazy predictions of :func:`open_validated` (the file stays open)."""
    return open_validated(path, reference, chunk=chunk, tolerance=tolerance).aligned


def check_predictions(
    pred: xr.Dataset, reference: xr.Dataset, *, chunk: int | None = None
) -> xr.Dataset:
    """:func:`load_predictions` for an in-memory dataset: validate, normalize, align by id."""
    ref_ids = np.asarray(reference[schema.DIM_SCENE].values)
    problems = validate_predictions(
        pred,
        ref_ids,
        reference.sizes.get(schema.DIM_Y),
        reference.sizes.get(schema.DIM_X),
        chunk=chunk,
    )
    if problems:
        raise BadInputError(format_problems(problems, "dataset"))
    return normalize_predictions(pred, ref_ids).sel({schema.DIM_SCENE: ref_ids})


def clean_block(var: str, values: np.ndarray) -> np.ndarray:
    """Apply the round-off tolerances to one validated block before scoring.

    Clips values in ``[-NEGATIVE_TOLERANCE, 0)`` to 0 and, for quantiles (axis 1), sorts along
    the quantile axis (monotone rearrangement, Chernozhukov et al. 2010).
    """
    out = np.maximum(np.asarray(values, dtype=np.float32), np.float32(0.0))
    if var == schema.VAR_QUANTILES and out.ndim == 4 and out.shape[1] > 1:
        if np.any(out[:, 1:] < out[:, :-1]):  # sorting is the slow part; most blocks are sorted
            out = np.sort(out, axis=1)
    return out


__all__ = [
    "CROSSING_TOLERANCE",
    "PredictionFile",
    "open_validated",
    "quantile_levels",
    "NEGATIVE_TOLERANCE",
    "PRED_DIMS",
    "block_size",
    "check_predictions",
    "clean_block",
    "format_problems",
    "iter_blocks",
    "load_predictions",
    "normalize_predictions",
    "open_predictions",
    "prediction_vars",
    "validate_predictions",
]
