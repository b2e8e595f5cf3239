"""Export a role's model inputs (no labels) for models run outside Python (``tailshift export``).

The file holds exactly what a model may see for the role, so that a model written in another
language can predict every scene and the result can be scored with ``tailshift score``:

- ``tb`` (scene, channel, y, x) in K, restricted to the role's channels (e.g. no 166/183 GHz for
  the ``sensor`` split's OOD roles), with the ``channel``, ``frequency`` and ``polarization``
  coordinates;
- the scene coordinates and ancillary variables of :data:`tailshift.schema.SCENE_COORDS`
  (``time``, ``year``, ``regime``, ``region``, ``warming``, ``source``, ``era``,
  ``surface_type``, ``t2m``, ``tcwv``, ``freezing_level``) and the ``scene`` ids the predictions
  must carry.

It is a whitelist: ``surface_precip`` and any other variable of the store are never written.
Scenes are in ascending id (the order of :func:`tailshift.benchmark.dataset.select_role`). The file is
written chunk by chunk (dask), so memory does not grow with the number of scenes, and atomically
(temporary sibling + rename, :mod:`tailshift.atomic`): an interrupted export leaves nothing.
Global attributes record the split, its hash, the role, the dataset checksum and the expected
prediction format.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tailshift import schema
from tailshift.atomic import atomic_dir, atomic_file, check_target
from tailshift.benchmark.dataset import select_role
from tailshift.benchmark.results import make_readable
from tailshift.errors import BadInputError
from tailshift.splits import load_split

#: Scenes per chunk written (one chunk of ``tb`` for 13 channels of 64 x 64 is ~14 MB float32).
DEFAULT_EXPORT_CHUNK = 64

#: Variables/coordinates an export may contain (everything else, labels included, is dropped).
EXPORT_VARIABLES = (
    schema.VAR_TB,
    schema.DIM_SCENE,
    schema.DIM_CHANNEL,
    schema.COORD_FREQUENCY,
    schema.COORD_POLARIZATION,
    *schema.SCENE_COORDS,
)

PREDICTION_FORMAT = (
    "predict every scene: surface_precip_quantiles (scene, quantile, y, x) and/or "
    + "surface_precip_samples (scene, member, y, x) and/or surface_precip (scene, y, x), "
    + "units 'mm h-1', with this file's 'scene' ids; then run 'tailshift score'"
)


def export_inputs(ref, out: Path, chunk: int, force: bool, progress=None) -> Path:
    """Write the whitelisted inputs of a (lazy) role dataset to ``out`` (.nc or .zarr)."""

    keep = [v for v in EXPORT_VARIABLES if v in ref.variables]
    ds = ref[[v for v in keep if v in ref.data_vars]]
    ds = ds.drop_vars([v for v in ds.variables if v not in keep])
    ds = ds.drop_encoding().chunk({schema.DIM_SCENE: max(1, int(chunk))})
    attrs = dict(ref.attrs)
    ds.attrs = {
        "title": "TailShift model inputs (no labels)",
        "split": str(attrs.get("split", "")),
        "split_hash": str(attrs.get("split_hash", "")),
        "role": str(attrs.get("role", "")),
        "dataset_checksum": str(attrs.get("manifest_checksum", "")),
        "channels": ",".join(map(str, attrs.get("channels", []))),
        "predictions_format": PREDICTION_FORMAT,
    }
    for name in ds.variables:  # object arrays of str: write as plain strings
        if ds[name].dtype.kind == "O":
            ds[name] = ds[name].astype(str)
    suffix = out.suffix.lower()
    if suffix == ".zarr":
        with atomic_dir(out, force=force, what="export") as tmp:
            _compute(
                ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True, compute=False), progress
            )
    elif suffix in (".nc", ".nc4"):
        with atomic_file(out, force=force, what="export") as tmp:
            _compute(ds.to_netcdf(tmp, compute=False), progress)

        make_readable(out)
    else:
        raise BadInputError(f"cannot export to {out}: use a .nc file or a .zarr directory")
    return out


def _compute(delayed, progress: Callable[[int, int], None] | None) -> None:
    import dask
    from dask.callbacks import Callback

    if progress is None:
        dask.compute(delayed, scheduler="threads")
        return

    class _Progress(Callback):
        def _start_state(self, dsk, state):
            self.total = sum(len(state[k]) for k in ("ready", "waiting", "running") if k in state)
            self.done = 0

        def _posttask(self, key, result, dsk, state, worker_id):
            self.done += 1
            progress(self.done, max(self.total, self.done))

    with _Progress():
        dask.compute(delayed, scheduler="threads")


def export_role(
    data_dir: str | os.PathLike,
    split,
    role: str,
    out: str | os.PathLike,
    force: bool = False,
    chunk: int = DEFAULT_EXPORT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Export the inputs of ``role`` of ``split`` to ``out`` (``.nc`` or ``.zarr``), no labels.

    Raises
    ------
    BadInputError
        Unknown split or role, the ``train`` role (training needs labels: use
        :func:`tailshift.benchmark.dataset.select_role`), an empty role, an unsupported suffix, or an
        existing ``out`` without ``force``.
    """

    out = Path(out)
    if out.suffix.lower() not in (".nc", ".nc4", ".zarr"):
        raise BadInputError(f"cannot export to {out}: use a .nc file or a .zarr directory")
    check_target(out, force, "export")
    split_obj = load_split(split)
    if role == "train":
        raise BadInputError(
            "the train role is not exported: training needs the labels; use "
            + "tailshift.benchmark.dataset.select_role(data_dir, split, 'train') from Python"
        )
    split_obj.role(role)
    ref = select_role(data_dir, split_obj, role)
    if ref.sizes[schema.DIM_SCENE] == 0:
        raise BadInputError(
            f"role {role} of split {split_obj.name!r} has no scene on this dataset; nothing to export"
        )
    return export_inputs(ref, out, chunk, force, progress)
