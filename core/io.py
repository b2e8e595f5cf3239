"""Dataset-directory primitives: content checksums, the manifest, writing a store atomically.

A dataset directory holds ``obs.zarr``, ``sim.zarr`` and ``manifest.json`` (docs/design.md "Data
model"). Checksums hash array *contents* (names, dtypes, shapes, values), never file bytes, so the
same seed and generator version give the same checksum on any machine and with any compressor.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from tailshift import schema
from tailshift.atomic import atomic_dir, atomic_write_text
from tailshift.errors import BadInputError

#: Bump when the manifest layout changes.
MANIFEST_VERSION = 1


def _array_bytes(values: np.ndarray) -> bytes:
    if values.dtype.kind in "UO":
        # every element NUL-terminated (not NUL-joined), so hashing chunk by chunk gives the same
        # bytes as hashing the whole array: the checksum does not depend on ``chunk``
        return "".join(f"{v}\0" for v in values.ravel()).encode("utf-8")
    if values.dtype.kind == "M":
        values = values.astype("datetime64[ns]").view(np.int64)
    return np.ascontiguousarray(values.astype(values.dtype.newbyteorder("<"))).tobytes()


def store_checksum(ds: xr.Dataset, chunk: int = 256) -> str:
    """SHA-256 of a dataset's contents, streamed over ``chunk`` scenes at a time.

    Every data variable and coordinate is hashed in sorted-name order with its name, dtype kind
    and shape, so memory stays bounded by one chunk of the largest variable.
    """
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        var = ds.variables[name]
        h.update(f"{name}|{var.dtype.kind}|{tuple(var.shape)}|{var.dims}".encode())
        if schema.DIM_SCENE in var.dims and var.sizes[schema.DIM_SCENE] > chunk:
            n = var.sizes[schema.DIM_SCENE]
            for start in range(0, n, chunk):
                part = var.isel({schema.DIM_SCENE: slice(start, start + chunk)})
                h.update(_array_bytes(np.asarray(part.values)))
        else:
            h.update(_array_bytes(np.asarray(var.values)))
    return h.hexdigest()


def dataset_checksum(manifest: dict[str, Any]) -> str:
    """One checksum for the whole dataset: hash of the per-store checksums and the version."""
    parts = [str(manifest.get("generator_version"))]
    parts += [f"{k}={v['checksum']}" for k, v in sorted(manifest["stores"].items())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def write_store(ds: xr.Dataset, path: Path, chunk: int) -> None:
    """Write one store as Zarr (format 2, consolidated), chunked along ``scene``, atomically."""
    ds = ds.chunk({schema.DIM_SCENE: chunk})
    for v in ds.variables.values():
        v.encoding.pop("chunks", None)
        v.encoding.pop("preferred_chunks", None)
    with atomic_dir(path, force=True, what="store") as tmp:
        ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)


def write_manifest(data_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (sorted keys, so identical content gives identical bytes)."""
    manifest = dict(manifest)
    manifest.setdefault("manifest_version", MANIFEST_VERSION)
    manifest["dataset_checksum"] = dataset_checksum(manifest)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    return atomic_write_text(Path(data_dir) / schema.MANIFEST, text, force=True)


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    """Read and minimally check ``manifest.json`` of a dataset directory."""
    data_dir = Path(data_dir)
    path = data_dir / schema.MANIFEST
    if not data_dir.is_dir():
        raise BadInputError(
            f"dataset directory {data_dir} does not exist; create one with "
            + f"'tailshift data generate --preset quick --out {data_dir}' or pass --data DIR"
        )
    if not path.is_file():
        raise BadInputError(
            f"{data_dir} has no {schema.MANIFEST}: it is not a (complete) TailShift dataset; "
            + "regenerate it with 'tailshift data generate --force'"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path} is not valid JSON ({exc}); regenerate the dataset") from exc
    for key in ("generator_version", "seed", "preset", "stores"):
        if key not in manifest:
            raise BadInputError(f"{path} lacks the key {key!r}; regenerate the dataset")
    return manifest
