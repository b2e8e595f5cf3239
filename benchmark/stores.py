"""Open one store of a dataset directory lazily, after checking its files and its manifest.

A dataset directory holds ``obs.zarr``, ``sim.zarr`` and ``manifest.json`` (docs/design.md "Data
model"). Opening is lazy (xarray + dask, chunked along ``scene`` as stored): only the 1-D scene
coordinates are read eagerly (:func:`load_scene_coords`), so it costs memory proportional to the
number of scenes, not to the data.

Checks on opening (:func:`open_dataset`, each a :class:`~tailshift.errors.BadInputError` naming
the problem and the fix):

- the manifest exists, is valid JSON, and its ``dataset_checksum`` matches its store checksums
  (an edited manifest);
- the store exists and is a Zarr v2 store; every chunk file its metadata implies is present, and
  Blosc-compressed chunk files have the size their header records (a truncated or partly copied
  store; Zarr would otherwise silently return fill values for a missing chunk);
- the variables and scene coordinates of the data model are present;
- the number of scenes equals the manifest's ``n_scenes`` and scene ids are unique (that
  ``source`` matches the store is checked by ``tailshift.benchmark.dataset.SplitView``);
- ``verify=True`` additionally streams the whole store through
  :func:`tailshift.io.store_checksum` and compares it with the manifest (slow: reads everything).

:func:`reading` turns any low-level read failure into the same kind of one-line error.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from tailshift import schema
from tailshift.errors import BadInputError
from tailshift.io import dataset_checksum, read_manifest, store_checksum

#: Variables every store must have (docs/design.md "Data model").
REQUIRED_VARS = (schema.VAR_TB, schema.VAR_PRECIP)
#: Scene coordinates every store must have (the ones splits select on, plus ``time``).
REQUIRED_COORDS = (
    schema.COORD_TIME,
    schema.COORD_YEAR,
    schema.COORD_REGIME,
    schema.COORD_WARMING,
    schema.COORD_SOURCE,
    schema.COORD_ERA,
)

#: The fix every error about broken data names.
REGENERATE = "regenerate it with 'tailshift data generate --force'"


def _store_path(data_dir: Path, manifest: Mapping[str, Any], source: str) -> Path:
    if source not in schema.SOURCES:
        raise BadInputError(f"unknown source {source!r}; use one of {list(schema.SOURCES)}")
    stores = manifest.get("stores", {})
    if source not in stores:
        raise BadInputError(
            f"{data_dir} has no {source!r} store in its manifest (it has {sorted(stores)}); "
            + f"{REGENERATE}"
        )
    default = schema.OBS_STORE if source == schema.SOURCE_OBS else schema.SIM_STORE
    return data_dir / stores[source].get("path", default)


def _chunk_keys(meta: Mapping[str, Any]) -> Iterator[str]:
    shape, chunks = meta["shape"], meta["chunks"]
    sep = meta.get("dimension_separator") or "."
    if not shape:
        yield "0"
        return
    if any(s == 0 for s in shape):
        return
    grids = [range(math.ceil(s / c)) for s, c in zip(shape, chunks, strict=True)]
    for idx in itertools.product(*grids):
        yield sep.join(map(str, idx))


def _check_chunk_file(path: Path, compressor: Mapping[str, Any] | None, store: Path) -> None:
    rel = path.relative_to(store)
    if not path.is_file():
        raise BadInputError(
            f"store {store} is truncated: chunk file {rel} is missing; {REGENERATE} "
            + "(or copy the store again completely)"
        )
    size = path.stat().st_size
    if compressor is not None and compressor.get("id") == "blosc":
        # Blosc header (c-blosc README_HEADER.rst): bytes 12-15 = total compressed size (LE u32).
        with path.open("rb") as fh:
            head = fh.read(16)
        expected = int.from_bytes(head[12:16], "little") if len(head) == 16 else -1
        if expected != size:
            raise BadInputError(
                f"store {store} is corrupt: chunk file {rel} has {size} bytes but its header "
                + f"records {expected}; {REGENERATE}"
            )
    elif size == 0:
        raise BadInputError(f"store {store} is corrupt: chunk file {rel} is empty; {REGENERATE}")


def check_store_files(store: str | os.PathLike) -> None:
    """Check a Zarr v2 store's files without reading data (see the module docstring).

    Zarr v3 stores (``zarr.json``) are not file-checked (only opened).
    """
    store = Path(store)
    if not store.is_dir():
        raise BadInputError(f"store {store} does not exist or is not a directory; {REGENERATE}")
    if (store / "zarr.json").is_file():
        return
    consolidated = store / ".zmetadata"
    metas: dict[str, Mapping[str, Any]] = {}
    if consolidated.is_file():
        try:
            doc = json.loads(consolidated.read_text(encoding="utf-8"))["metadata"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadInputError(
                f"store {store} has unreadable metadata ({exc}); {REGENERATE}"
            ) from exc
        for key, meta in doc.items():
            if key.endswith("/.zarray"):
                metas[key[: -len("/.zarray")]] = meta
    elif (store / ".zgroup").is_file():
        for zarray in store.rglob(".zarray"):
            try:
                metas[str(zarray.parent.relative_to(store))] = json.loads(zarray.read_text())
            except (OSError, ValueError) as exc:
                raise BadInputError(
                    f"store {store} has unreadable {zarray} ({exc}); {REGENERATE}"
                ) from exc
    else:
        raise BadInputError(f"{store} is not a Zarr store (no .zgroup or zarr.json); {REGENERATE}")
    for name, meta in sorted(metas.items()):
        try:
            keys = list(_chunk_keys(meta))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(
                f"store {store} has bad metadata for {name} ({exc}); {REGENERATE}"
            ) from exc
        for key in keys:
            _check_chunk_file(store / name / key, meta.get("compressor"), store)


@contextlib.contextmanager
def reading(what: str | os.PathLike) -> Iterator[None]:
    """Turn any low-level read failure (decompression, I/O) into a one-line BadInputError."""
    try:
        yield
    except BadInputError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise BadInputError(
            f"cannot read {what} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            + f"the data is corrupt or truncated: {REGENERATE}"
        ) from exc


def _check_manifest_checksum(data_dir: Path, manifest: Mapping[str, Any]) -> None:
    recorded = manifest.get("dataset_checksum")
    try:
        actual = dataset_checksum(dict(manifest))
    except (KeyError, TypeError) as exc:
        raise BadInputError(
            f"{data_dir / schema.MANIFEST} has malformed stores ({exc}); {REGENERATE}"
        ) from exc
    if recorded is not None and recorded != actual:
        raise BadInputError(
            f"{data_dir / schema.MANIFEST} does not match itself: its dataset_checksum differs from "
            + f"the one its store checksums give (the manifest was edited); {REGENERATE}"
        )


def open_dataset(data_dir: str | os.PathLike, source: str, verify: bool = False) -> xr.Dataset:
    """Open one store of a dataset directory lazily (dask arrays chunked as stored).

    Parameters
    ----------
    data_dir : path
        Dataset directory (``obs.zarr``, ``sim.zarr``, ``manifest.json``).
    source : {"obs", "sim"}
        Which store.
    verify : bool
        Also recompute the store's content checksum (:func:`tailshift.io.store_checksum`) and
        compare it with the manifest. Reads the whole store.

    Returns
    -------
    xarray.Dataset
        With ``attrs["manifest_checksum"]`` (the manifest's ``dataset_checksum``),
        ``attrs["source"]`` and ``attrs["store"]`` set.

    Raises
    ------
    tailshift.errors.BadInputError
        Any failed check of the module docstring.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    _check_manifest_checksum(data_dir, manifest)
    path = _store_path(data_dir, manifest, source)
    check_store_files(path)
    with reading(path):
        ds = xr.open_zarr(path, consolidated=None)
    missing = [v for v in REQUIRED_VARS if v not in ds.data_vars]
    missing += [
        c for c in (schema.DIM_SCENE, schema.DIM_CHANNEL, *REQUIRED_COORDS) if c not in ds.variables
    ]
    if missing:
        raise BadInputError(
            f"store {path} lacks {missing} required by the data model; {REGENERATE}"
        )
    info = manifest["stores"][source]
    n = ds.sizes[schema.DIM_SCENE]
    if "n_scenes" in info and int(info["n_scenes"]) != n:
        raise BadInputError(
            f"store {path} has {n} scenes but the manifest says {info['n_scenes']} (store and "
            + f"manifest come from different runs); {REGENERATE}"
        )
    ids = ds[schema.DIM_SCENE].values
    if len(np.unique(ids)) != len(ids):
        raise BadInputError(f"store {path} has duplicate scene ids; {REGENERATE}")
    if verify:
        with reading(path):
            actual = store_checksum(ds)
        if actual != info.get("checksum"):
            raise BadInputError(
                f"store {path} does not match the checksum in {schema.MANIFEST} (content "
                + f"{actual[:12]}..., manifest {str(info.get('checksum'))[:12]}...): the data was "
                + f"modified or belongs to another manifest; {REGENERATE}"
            )
    ds.attrs["manifest_checksum"] = manifest.get("dataset_checksum", "")
    ds.attrs["source"] = source
    ds.attrs["store"] = str(path)
    return ds


def load_scene_coords(ds: xr.Dataset, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read the 1-D scene coordinates ``names`` (plus ``scene``) into numpy, in one compute."""
    names = [n for n in dict.fromkeys([schema.DIM_SCENE, *names])]
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise BadInputError(
            f"store {ds.attrs.get('store', '')} lacks the scene coordinate(s) {missing} the split "
            + f"needs; {REGENERATE}"
        )
    with reading(ds.attrs.get("store", "the store")):
        values = dask.compute(*[ds[n].data for n in names])
    return {n: np.asarray(v) for n, v in zip(names, values, strict=True)}
