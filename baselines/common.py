"""Shared, torch-free pieces of the baselines: quantile levels, rain transform, configs, data.

Quantile levels
---------------
Every baseline predicts the same fixed set :data:`QUANTILE_LEVELS` of 35 levels: the 32 evenly
spaced mid-point levels :math:`\\tau_i = (i + 0.5)/32`, :math:`i = 0 \\dots 31`, plus the tail
levels 0.99, 0.995 and 0.999.

Why this set, against DRAIN's 99 levels (0.01 ... 0.99; Viltard et al., arXiv:2303.01220) and
GPROF-NN's 128 levels in [0.001, 0.999] (Pfreundschuh et al., AMT 15, 5033, 2022):

* the mid-point levels are an equal-weight quadrature of the predictive distribution, so
  ``CRPS ~ 2 * mean_tau pinball_tau`` (docs/protocol.md) is a mid-point rule on them
  (32 levels put its relative quadrature error well under 1 % for smooth distributions), and,
  with the tail levels' narrow cells, a quadrature of the predictive mean used as the
  ``surface_precip`` point estimate (:func:`point_estimate`; the median is 0 mm/h on most pixels
  and would make every point score useless);
* the tail levels reach the P99 / P99.9 territory that the tail metrics of this benchmark score
  (DRAIN stops at 0.99, GPROF-NN goes to 0.999);
* a prediction file holds ``n_levels`` floats per pixel: 35 instead of 99 or 128 is 3-4x less disk
  and memory for the same tails, which matters for the standard world's test roles.

Rain transform
--------------
The GPROF-NN transform (Pfreundschuh et al. 2022): :math:`t(R) = \\log R` for :math:`R < 1`
mm/h and :math:`t(R) = R - 1` above (continuous with a continuous first derivative at 1).
:math:`R` is clipped below at :data:`RAIN_FLOOR` so zero rain is finite. Quantiles are
equivariant under monotone maps, so quantiles learned in transformed space map back exactly.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.benchmark.dataset import select_role
from tailshift.benchmark.world.grid import REFERENCE_FLOOR
from tailshift.errors import BadInputError, TailShiftError
from tailshift.splits import load_split

#: Number of evenly spaced mid-point levels (see module docstring).
N_MIDPOINT_LEVELS = 32
#: Extra tail levels for the tail metrics (P99, P99.5, P99.9).
TAIL_LEVELS = (0.99, 0.995, 0.999)
#: The fixed quantile levels of every baseline, strictly increasing in (0, 1).
QUANTILE_LEVELS = np.array(
    sorted({(i + 0.5) / N_MIDPOINT_LEVELS for i in range(N_MIDPOINT_LEVELS)} | set(TAIL_LEVELS)),
    dtype=np.float64,
)
#: Boolean mask of :data:`QUANTILE_LEVELS` that are the evenly spaced mid-point levels.
MIDPOINT_MASK = np.isin(
    QUANTILE_LEVELS, [(i + 0.5) / N_MIDPOINT_LEVELS for i in range(N_MIDPOINT_LEVELS)]
)
#: Smallest rain rate (mm/h) before the log branch of the GPROF-NN transform: 1e-3 mm/h is far
#: below the 0.2 mm/h rain/no-rain threshold (docs/world.md, Rain fields), so clipping there is harmless.
RAIN_FLOOR = 1e-3
TRANSFORMS = ("none", "gprof_nn")


# --------------------------------------------------------------------------------- transforms
def rain_transform(r: np.ndarray, kind: str) -> np.ndarray:
    """Forward rain transform (mm/h -> model space); ``kind`` is ``"none"`` or ``"gprof_nn"``."""
    if kind == "none":
        return r
    r = np.maximum(r, RAIN_FLOOR)
    return np.where(r < 1.0, np.log(r), r - 1.0)


def rain_inverse(t: np.ndarray, kind: str) -> np.ndarray:
    """Inverse of :func:`rain_transform`, clipped at 0 mm/h (no negative rain)."""
    if kind == "none":
        return np.maximum(t, 0.0)
    return np.where(t < 0.0, np.exp(np.minimum(t, 0.0)), t + 1.0)


def level_weights(levels: np.ndarray = QUANTILE_LEVELS) -> np.ndarray:
    """Quadrature weights of quantile levels: the width of each level's cell in (0, 1).

    Cell edges are the mid-points between neighbouring levels, plus 0 and 1:
    :math:`w_i = e_{i+1} - e_i`, :math:`e_0 = 0`, :math:`e_i = (\\tau_{i-1} + \\tau_i)/2`,
    :math:`e_L = 1`. For evenly spaced mid-point levels every weight is :math:`1/n` (the
    mid-point rule); the tail levels get the narrow cells of the top of the distribution.
    """
    levels = np.asarray(levels, dtype=np.float64)
    edges = np.concatenate([[0.0], 0.5 * (levels[1:] + levels[:-1]), [1.0]])
    return np.diff(edges)


def point_estimate(quantiles: np.ndarray, axis: int = 1,
                   levels: np.ndarray = QUANTILE_LEVELS) -> np.ndarray:
    """Predictive mean (mm/h) from quantiles: :math:`\\hat R = \\sum_i w_i q_{\\tau_i}`.

    A quadrature of :math:`E[R] = \\int_0^1 q_\\tau d\\tau` with the cell weights of
    :func:`level_weights`. The tail levels matter: in the quick world ~60 % of the rain falls
    above the 98.4th percentile, so the 32 mid-point levels alone underestimate the mean by
    ~35 %; with the tail cells the climatology's mean is within ~+5-9 % of the truth per regime
    (measured on the quick world, temporal split). The median is no point estimate for rain
    (it is 0 mm/h on most pixels).
    """
    w = level_weights(levels)
    shape = [1] * np.ndim(quantiles)
    shape[axis] = -1
    return (np.asarray(quantiles) * w.reshape(shape)).sum(axis=axis)


# ------------------------------------------------------------------------------------ configs
def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (tuple,) and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, name) for v in value)
    if origin in (typing.Union, types.UnionType):
        if isinstance(value, list):
            return tuple(value)
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise BadInputError(
            f"config key {name!r} must be of type {hint.__name__}, got {value!r}; fix the TOML file"
        )
    return value


def load_config(cls: type, source: str | Path | dict[str, Any] | None) -> Any:
    """Build the frozen config dataclass ``cls`` from a TOML file, a dict or defaults (None).

    Unknown keys raise :class:`BadInputError` naming them (a typo must not be silently ignored:
    docs/design.md, Conventions). A ``baseline = "..."`` key is allowed and checked against the class.
    """
    if source is None:
        data: dict[str, Any] = {}
        where = "defaults"
    elif isinstance(source, dict):
        data = dict(source)
        where = "config"
    else:
        path = Path(source)
        if not path.is_file():
            raise BadInputError(f"config file {path} does not exist; pass an existing TOML file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise BadInputError(f"config file {path} is not valid TOML ({exc}); fix it") from exc
        where = str(path)
    baseline = data.pop("baseline", None)
    expected = getattr(cls, "BASELINE", None)
    if baseline is not None and expected is not None and baseline != expected:
        raise BadInputError(
            f"{where} is a config for baseline {baseline!r}, not {expected!r}; " +
            "pass a config of the baseline you train"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise BadInputError(
            f"unknown config key(s) {unknown} in {where} for {cls.__name__}; " +
            f"valid keys are {sorted(fields)}"
        )
    kwargs = {k: _coerce(v, hints[k], k) for k, v in data.items()}
    try:
        config = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, BadInputError):
            raise
        raise BadInputError(f"invalid config in {where}: {exc}") from exc
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON/TOML-serialisable dict of a config dataclass (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """Raise :class:`BadInputError` if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise BadInputError(f"config key {name!r} is {value!r}; use one of {list(choices)}")


def check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    """Raise :class:`BadInputError` unless ``value`` > 0 (or >= 0 with ``allow_zero``)."""
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise BadInputError(f"config key {name!r} must be {bound}, got {value}")


# ------------------------------------------------------------------------------ split + data
def resolve_split(split: Any) -> Any:
    """A :class:`splits.Split` from a name, a path to a split file, or a split object."""
    if not hasattr(split, "roles"):
        return load_split(split)
    return split


def training_sources(config_sources: tuple[str, ...], split: Any) -> tuple[str, ...]:
    """Sources the run trains on: the config's, which must all be allowed by the split.

    An empty config list means "every source the split allows".
    """
    allowed = tuple(split.train_sources)
    if not config_sources:
        return allowed
    bad = [s for s in config_sources if s not in allowed]
    if bad:
        raise BadInputError(
            f"split {split.name!r} allows training on {list(allowed)} only, but the config asks " +
            f"for {bad}; change 'sources' in the config"
        )
    return tuple(s for s in schema.SOURCES if s in config_sources)


def load_role(
    data_dir: str | Path,
    split: Any,
    role: str,
    channels: tuple[str, ...] | None = None,
    sources: tuple[str, ...] | None = None,
):
    """The lazy dataset of ``role`` of ``split`` (thin wrapper of
    :func:`tailshift.benchmark.dataset.select_role`)."""
    return select_role(data_dir, split, role, channels=channels, sources=sources)


def check_training_channels(split: Any, channels: tuple[str, ...]) -> None:
    """The training role of ``split`` must provide every channel the model asks for."""
    available = tuple(split.channels_for("train"))
    missing = [c for c in channels if c not in available]
    if missing:
        raise BadInputError(
            f"split {split.name!r} provides {list(available)} for training; the config asks for " +
            f"the missing channel(s) {missing}: change 'channels' in the config"
        )


def iter_batches(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` over ``range(n)``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def tb_array(
    inputs: Any, channels: tuple[str, ...], fill: np.ndarray | None = None
) -> np.ndarray:
    """TBs of ``inputs`` as ``(scene, channel, y, x)`` float32 in the model's channel order.

    Channels the input lacks (e.g. the ``sensor`` split removes 166/183 GHz at test time) are
    imputed with ``fill`` (the training mean per channel): the model runs, and the score shows
    what losing the channels costs. Without ``fill``, a missing channel is an error.
    """
    tb = inputs[schema.VAR_TB]
    have = [str(c) for c in tb[schema.DIM_CHANNEL].values]
    missing = [c for c in channels if c not in have]
    if missing and fill is None:
        raise BadInputError(f"inputs lack channel(s) {missing}; the model needs {list(channels)}")
    present = [c for c in channels if c in have]
    if not present:
        raise BadInputError(
            f"inputs have none of the model's channels {list(channels)} (they have {have})"
        )
    arr = np.asarray(tb.sel({schema.DIM_CHANNEL: present}).values, dtype=np.float32)
    if not missing:
        return arr
    n, _, ny, nx = arr.shape
    out = np.empty((n, len(channels), ny, nx), dtype=np.float32)
    for i, c in enumerate(channels):
        if c in present:
            out[:, i] = arr[:, present.index(c)]
        else:
            out[:, i] = fill[i]
    return out


def pixel_field(inputs: Any, name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Ancillary ``name`` broadcast to ``(scene, y, x)`` (it may be per scene or per pixel)."""
    var = inputs[name]
    values = np.asarray(var.values)
    if values.ndim == 1:
        values = values[:, None, None]
    return np.broadcast_to(values, shape)


def surface_codes(inputs: Any, shape: tuple[int, int, int]) -> np.ndarray:
    """Surface type as integer codes ``schema.SURFACES.index`` per pixel; -1 when unknown."""
    if schema.VAR_SURFACE not in inputs.variables:
        return np.full(shape, -1, dtype=np.int8)
    raw = pixel_field(inputs, schema.VAR_SURFACE, shape)
    if raw.dtype.kind in "iu":
        return raw.astype(np.int8)
    codes = np.full(shape, -1, dtype=np.int8)
    for i, s in enumerate(schema.SURFACES):
        codes[raw == s] = i
    return codes


def channel_stats(ds: Any, channels: tuple[str, ...], max_scenes: int = 512, seed: int = 0):
    """Per-channel mean and standard deviation (K) of the TBs of ``ds`` (NaNs ignored).

    Computed on at most ``max_scenes`` scenes drawn with ``seed`` (bounded memory and time);
    the std is floored at 0.1 K so a constant channel does not divide by zero.
    """
    n = ds.sizes[schema.DIM_SCENE]
    if n == 0:
        raise BadInputError("the training role has no scenes; check the split and the dataset")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(n, max_scenes), replace=False))
    s1 = np.zeros(len(channels))
    s2 = np.zeros(len(channels))
    cnt = np.zeros(len(channels))
    for sl in iter_batches(len(idx), 64):
        part = ds.isel({schema.DIM_SCENE: idx[sl]})
        arr = tb_array(part, channels).astype(np.float64)
        finite = np.isfinite(arr)
        arr = np.where(finite, arr, 0.0)
        s1 += arr.sum(axis=(0, 2, 3))
        s2 += (arr**2).sum(axis=(0, 2, 3))
        cnt += finite.sum(axis=(0, 2, 3))
    mean = s1 / np.maximum(cnt, 1)
    std = np.sqrt(np.maximum(s2 / np.maximum(cnt, 1) - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 0.1).astype(np.float32)


def _floor(x: np.ndarray, floor: float) -> np.ndarray:
    x[~(x >= floor)] = 0.0
    return x


def to_predictions(inputs: Any, quantiles: np.ndarray, levels: np.ndarray | None = None):
    """The predictions Dataset (docs/results.md, prediction files) of one batch.

    ``quantiles`` is ``(scene, quantile, y, x)`` in mm/h; values below the reference label's
    floor (:data:`tailshift.benchmark.world.grid.REFERENCE_FLOOR`, 0.01 mm/h: the label is exactly 0
    below it) are set to 0, so a model can put probability mass on "dry" (a log-space head never
    reaches 0 by itself, which made dry pixels fall outside every predictive interval); then the
    levels are made non-decreasing (a no-op for monotone heads). The point estimate
    ``surface_precip`` is the predictive mean (:func:`point_estimate`), floored the same way.
    """
    import xarray as xr  # deferred: heavy; only building predictions needs it

    levels = QUANTILE_LEVELS if levels is None else np.asarray(levels)
    q = np.asarray(quantiles, dtype=np.float32).copy()
    q[~(q >= REFERENCE_FLOOR)] = 0.0
    q = np.maximum.accumulate(q, axis=1)
    dims = (schema.DIM_SCENE, schema.DIM_QUANTILE, schema.DIM_Y, schema.DIM_X)
    data = {
        schema.VAR_QUANTILES: (dims, q, {"units": schema.UNITS_PRECIP}),
    }
    if len(levels) == len(QUANTILE_LEVELS) and np.allclose(levels, QUANTILE_LEVELS):
        data[schema.VAR_PRECIP] = (
            (schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X),
            _floor(point_estimate(q).astype(np.float32), REFERENCE_FLOOR),
            {"units": schema.UNITS_PRECIP},
        )
    return xr.Dataset(
        data,
        coords={
            schema.DIM_SCENE: inputs[schema.DIM_SCENE].values,
            schema.DIM_QUANTILE: levels.astype(np.float64),
        },
    )


ProgressFn = Callable[[str, int, int | None, dict[str, float] | None], None]


def check_labels(ds: Any) -> None:
    """The training dataset must carry the label variable."""
    if schema.VAR_PRECIP not in ds.variables:
        raise TailShiftError(
            f"the training data lack {schema.VAR_PRECIP!r}; regenerate the dataset"
        )


def labels_array(ds: Any) -> np.ndarray:
    """Reference rain ``(scene, y, x)`` float32 mm/h of a dataset slice."""
    check_labels(ds)
    return np.asarray(ds[schema.VAR_PRECIP].values, dtype=np.float32)
