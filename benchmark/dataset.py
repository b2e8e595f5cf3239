"""Open a dataset directory lazily, check it, and select the scenes of a split role.

A dataset directory holds ``obs.zarr``, ``sim.zarr`` and ``manifest.json`` (docs/design.md "Data
model"). Everything here is lazy (xarray + dask, chunked along ``scene`` as stored): only the 1-D
scene coordinates are read eagerly, so opening and selecting cost memory proportional to the
number of scenes, not to the data.

Checks on opening (:func:`open_dataset`, each a :class:`~tailshift.errors.BadInputError` naming
the problem and the fix):

- the manifest exists, is valid JSON, and its ``dataset_checksum`` matches its store checksums
  (an edited manifest);
- the store exists and is a Zarr v2 store; every chunk file its metadata implies is present, and
  Blosc-compressed chunk files have the size their header records (a truncated or partly copied
  store; Zarr would otherwise silently return fill values for a missing chunk);
- the variables and scene coordinates of the data model are present;
- the number of scenes equals the manifest's ``n_scenes``, scene ids are unique and ``source``
  matches the store;
- ``verify=True`` additionally streams the whole store through
  :func:`tailshift.io.store_checksum` and compares it with the manifest (slow: reads everything).

Role selection (:func:`select_role`) applies a :class:`splits.Split` to the scene coordinates of
both stores at once (scene ids are unique across the dataset, ``schema.SIM_ID_OFFSET``), checks on
the data that no scene belongs to two roles and that no observed scene of the future era is in
``train``, and returns the role's scenes from the requested sources concatenated along ``scene``
in ascending scene id, restricted to the role's channels.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tailshift import schema
from tailshift.atomic import atomic_write_text
from tailshift.errors import BadInputError
from tailshift.splits.loader import load_split, required_coords, role_masks

if TYPE_CHECKING:
    import xarray as xr

    from tailshift.splits.loader import Split

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
#: Version of the normalisation-statistics cache file (bump when its content changes).
NORM_CACHE_VERSION = 1

_REGENERATE = "regenerate it with 'tailshift data generate --force'"


# --- opening and checking -------------------------------------------------------------------


def _store_path(data_dir: Path, manifest: Mapping[str, Any], source: str) -> Path:
    if source not in schema.SOURCES:
        raise BadInputError(f"unknown source {source!r}; use one of {list(schema.SOURCES)}")
    stores = manifest.get("stores", {})
    if source not in stores:
        raise BadInputError(
            f"{data_dir} has no {source!r} store in its manifest (it has {sorted(stores)}); "
            + f"{_REGENERATE}"
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
            f"store {store} is truncated: chunk file {rel} is missing; {_REGENERATE} "
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
                + f"records {expected}; {_REGENERATE}"
            )
    elif size == 0:
        raise BadInputError(f"store {store} is corrupt: chunk file {rel} is empty; {_REGENERATE}")


def check_store_files(store: str | os.PathLike) -> None:
    """Check a Zarr v2 store's files without reading data (see the module docstring).

    Zarr v3 stores (``zarr.json``) are not file-checked (only opened).
    """
    store = Path(store)
    if not store.is_dir():
        raise BadInputError(f"store {store} does not exist or is not a directory; {_REGENERATE}")
    if (store / "zarr.json").is_file():
        return
    consolidated = store / ".zmetadata"
    metas: dict[str, Mapping[str, Any]] = {}
    if consolidated.is_file():
        try:
            doc = json.loads(consolidated.read_text(encoding="utf-8"))["metadata"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadInputError(
                f"store {store} has unreadable metadata ({exc}); {_REGENERATE}"
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
                    f"store {store} has unreadable {zarray} ({exc}); {_REGENERATE}"
                ) from exc
    else:
        raise BadInputError(f"{store} is not a Zarr store (no .zgroup or zarr.json); {_REGENERATE}")
    for name, meta in sorted(metas.items()):
        try:
            keys = list(_chunk_keys(meta))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(
                f"store {store} has bad metadata for {name} ({exc}); {_REGENERATE}"
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
            + f"the data is corrupt or truncated: {_REGENERATE}"
        ) from exc


def _check_manifest_checksum(data_dir: Path, manifest: Mapping[str, Any]) -> None:
    from tailshift.io import dataset_checksum  # deferred: tailshift.io loads xarray

    recorded = manifest.get("dataset_checksum")
    try:
        actual = dataset_checksum(dict(manifest))
    except (KeyError, TypeError) as exc:
        raise BadInputError(
            f"{data_dir / schema.MANIFEST} has malformed stores ({exc}); {_REGENERATE}"
        ) from exc
    if recorded is not None and recorded != actual:
        raise BadInputError(
            f"{data_dir / schema.MANIFEST} does not match itself: its dataset_checksum differs from "
            + f"the one its store checksums give (the manifest was edited); {_REGENERATE}"
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
    import xarray as xr

    from tailshift.io import read_manifest, store_checksum  # deferred: tailshift.io loads xarray

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
            f"store {path} lacks {missing} required by the data model; {_REGENERATE}"
        )
    info = manifest["stores"][source]
    n = ds.sizes[schema.DIM_SCENE]
    if "n_scenes" in info and int(info["n_scenes"]) != n:
        raise BadInputError(
            f"store {path} has {n} scenes but the manifest says {info['n_scenes']} (store and "
            + f"manifest come from different runs); {_REGENERATE}"
        )
    ids = ds[schema.DIM_SCENE].values
    if len(np.unique(ids)) != len(ids):
        raise BadInputError(f"store {path} has duplicate scene ids; {_REGENERATE}")
    if verify:
        with reading(path):
            actual = store_checksum(ds)
        if actual != info.get("checksum"):
            raise BadInputError(
                f"store {path} does not match the checksum in {schema.MANIFEST} (content "
                + f"{actual[:12]}..., manifest {str(info.get('checksum'))[:12]}...): the data was "
                + f"modified or belongs to another manifest; {_REGENERATE}"
            )
    ds.attrs["manifest_checksum"] = manifest.get("dataset_checksum", "")
    ds.attrs["source"] = source
    ds.attrs["store"] = str(path)
    return ds


def load_scene_coords(ds: xr.Dataset, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read the 1-D scene coordinates ``names`` (plus ``scene``) into numpy, in one compute."""
    import dask

    names = [n for n in dict.fromkeys([schema.DIM_SCENE, *names])]
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise BadInputError(
            f"store {ds.attrs.get('store', '')} lacks the scene coordinate(s) {missing} the split "
            + f"needs; {_REGENERATE}"
        )
    with reading(ds.attrs.get("store", "the store")):
        values = dask.compute(*[ds[n].data for n in names])
    return {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


# --- the split applied to a dataset ---------------------------------------------------------


class SplitView:
    """A split applied to one dataset directory: opened stores, scene coordinates, role masks.

    Scenes of all stores the split uses are stacked into one table (``coords``), in store order
    (``schema.SOURCES``) then store position; ``store_of`` / ``position`` map a row back.
    Record-breaking maxima are read lazily (dask) and memoised for the lifetime of the view.
    """

    def __init__(self, data_dir: str | os.PathLike, split: Split | str, verify: bool = False):

        self.data_dir = Path(data_dir)
        self.split = load_split(split)
        used = {sel.source for role in self.split.roles.values() for sel in role.selections}
        self.sources = tuple(s for s in schema.SOURCES if s in used)
        self.datasets = {s: open_dataset(self.data_dir, s, verify=verify) for s in self.sources}
        # what the split selects on, plus what role_sizes reports and the held-back check reads
        need = [*required_coords(self.split), *REQUIRED_COORDS[1:]]
        per = {s: load_scene_coords(ds, need) for s, ds in self.datasets.items()}
        for s, c in per.items():
            bad = np.unique(c[schema.COORD_SOURCE].astype(str))
            if bad.size and not (bad.size == 1 and bad[0] == s):
                raise BadInputError(
                    f"store {self.datasets[s].attrs['store']} has source values {bad.tolist()}, "
                    + f"expected only {s!r}; {_REGENERATE}"
                )
        keys = per[self.sources[0]].keys()
        self.coords = {k: np.concatenate([per[s][k] for s in self.sources]) for k in keys}
        self.store_of = np.concatenate(
            [
                np.full(len(per[s][schema.DIM_SCENE]), i, dtype=np.int8)
                for i, s in enumerate(self.sources)
            ]
        )
        self.position = np.concatenate(
            [np.arange(len(per[s][schema.DIM_SCENE]), dtype=np.int64) for s in self.sources]
        )
        ids = self.coords[schema.DIM_SCENE]
        if len(np.unique(ids)) != len(ids):
            raise BadInputError(
                f"{self.data_dir}: scene ids are not unique across the obs and sim stores; "
                + f"{_REGENERATE}"
            )
        self.masks = role_masks(self.split, self.coords, scene_max=self._scene_max, check=True)
        self._check_held_back()

    def _scene_max(self, idx: np.ndarray) -> np.ndarray:
        """Scene maximum of ``surface_precip`` (mm h-1) for rows ``idx`` of the table."""
        import dask

        out = np.empty(len(idx), dtype=np.float64)
        parts, slots = [], []
        for i, s in enumerate(self.sources):
            sel = np.flatnonzero(self.store_of[idx] == i)
            if sel.size:
                pos = self.position[idx[sel]]
                da = self.datasets[s][schema.VAR_PRECIP].isel({schema.DIM_SCENE: pos})
                parts.append(da.max(dim=[schema.DIM_Y, schema.DIM_X]).data)
                slots.append(sel)
        with reading(self.data_dir):
            values = dask.compute(*parts)
        for sel, v in zip(slots, values, strict=True):
            out[sel] = np.asarray(v, dtype=np.float64)
        return out

    def _check_held_back(self) -> None:
        if schema.COORD_ERA not in self.coords:
            return
        bad = (
            self.masks["train"]
            & (self.coords[schema.COORD_SOURCE].astype(str) == schema.SOURCE_OBS)
            & (self.coords[schema.COORD_ERA].astype(str) == schema.ERA_FUTURE)
        )
        if bad.any():
            raise BadInputError(
                f"split {self.split.name!r} puts {int(bad.sum())} observed scene(s) of the future "
                + "era (held-back truth) into train on this dataset; restrict the train years to "
                + f'the observed era (<= {schema.OBSERVED_ERA[1]}) or add era = "observed"'
            )

    def role_rows(self, role: str, sources: Sequence[str] | None = None) -> np.ndarray:
        """Rows of the table in ``role`` (from ``sources`` only), ordered by scene id."""
        self.split.role(role)  # BadInputError for an undefined role
        mask = self.masks[role].copy()
        if sources is not None:
            sources = _check_sources(self.split, role, sources)
            mask &= np.isin(self.coords[schema.COORD_SOURCE].astype(str), list(sources))
        rows = np.flatnonzero(mask)
        return rows[np.argsort(self.coords[schema.DIM_SCENE][rows], kind="stable")]

    def positions(self, role: str, sources: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Store positions of the role's scenes per source (ascending), e.g. for streaming."""
        rows = self.role_rows(role, sources)
        out = {}
        for i, s in enumerate(self.sources):
            pos = np.sort(self.position[rows[self.store_of[rows] == i]])
            if pos.size:
                out[s] = pos
        return out


def _check_sources(split: Split, role: str, sources: Sequence[str]) -> tuple[str, ...]:
    if isinstance(sources, str):
        sources = [sources]
    bad = [s for s in sources if s not in schema.SOURCES]
    if bad:
        raise BadInputError(f"unknown source(s) {bad}; use a subset of {list(schema.SOURCES)}")
    if role == "train":
        banned = [s for s in sources if s not in split.train_sources]
        if banned:
            raise BadInputError(
                f"split {split.name!r} does not allow training on {banned}; use a subset of "
                + f"train_sources {list(split.train_sources)}"
            )
    return tuple(sources)


def _resolve_channels(split: Split, role: str, channels: Any, ds: xr.Dataset) -> tuple[str, ...]:
    allowed = split.channels_for(role)
    chans = allowed if channels is None else schema.resolve_channels(channels)
    extra = [c for c in chans if c not in allowed]
    if extra:
        raise BadInputError(
            f"role {role} of split {split.name!r} provides only {list(allowed)}; drop {extra}"
        )
    have = set(map(str, ds[schema.DIM_CHANNEL].values))
    absent = [c for c in chans if c not in have]
    if absent:
        raise BadInputError(
            f"store {ds.attrs.get('store', '')} has no channel(s) {absent}; choose channels it has "
            + f"or {_REGENERATE}"
        )
    return tuple(chans)


def select_role(
    data_dir: str | os.PathLike,
    split: Split | str,
    role: str,
    channels: str | Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    verify: bool = False,
    view: SplitView | None = None,
) -> xr.Dataset:
    """The scenes of ``role`` as one lazy Dataset, ascending scene id.

    Parameters
    ----------
    data_dir : path
        Dataset directory.
    split : Split or str
        A loaded split, a split name or a path to a split file.
    role : str
        One of the split's roles.
    channels : str or sequence of str, optional
        Channel set name or names; must be within the role's channels (default: all of them,
        ``split.channels_for(role)``).
    sources : sequence of str, optional
        Keep only these sources (default: every source the role selects). For ``train`` they must
        be within ``split.train_sources``.
    verify : bool
        Verify store checksums against the manifest (reads everything).
    view : SplitView, optional
        Reuse an already opened view of the same directory and split.

    Returns
    -------
    xarray.Dataset
        Lazy (dask) arrays; ``attrs`` carry ``split``, ``split_hash``, ``role``,
        ``manifest_checksum`` and ``channels``.
    """
    import xarray as xr

    view = view or SplitView(data_dir, split, verify=verify)
    split = view.split
    pos = view.positions(role, sources)
    first = view.datasets[view.sources[0]]
    chans = _resolve_channels(split, role, channels, first)
    parts = []
    for s, p in pos.items():
        ds = view.datasets[s]
        _resolve_channels(split, role, chans, ds)
        parts.append(ds.isel({schema.DIM_SCENE: p}).sel({schema.DIM_CHANNEL: list(chans)}))
    if not parts:  # empty role: keep the structure, zero scenes
        parts = [first.isel({schema.DIM_SCENE: slice(0, 0)}).sel({schema.DIM_CHANNEL: list(chans)})]
    if len(parts) == 1:
        out = parts[0]
    else:
        out = xr.concat(
            parts, dim=schema.DIM_SCENE, coords="minimal", compat="override", join="outer"
        )
    ids = out[schema.DIM_SCENE].values
    if ids.size > 1 and np.any(np.diff(ids) < 0):
        out = out.sortby(schema.DIM_SCENE)
    out.attrs = {
        "split": split.name,
        "split_hash": split.hash,
        "role": role,
        "manifest_checksum": first.attrs.get("manifest_checksum", ""),
        "channels": list(chans),
        "sources": list(pos),
    }
    return out


def role_sizes(
    data_dir: str | os.PathLike, split: Split | str, view: SplitView | None = None
) -> dict:
    """What each role contains on this dataset.

    Returns
    -------
    dict
        ``{role: {"n_scenes", "sources": {source: n}, "years": [min, max] | None,
        "regimes": {regime: n}, "warming": [min, max] | None (K), "channels": n_channels}}``
        in role order.
    """
    view = view or SplitView(data_dir, split)
    c = view.coords
    out = {}
    for role in view.split.roles:
        rows = view.role_rows(role)
        src = c[schema.COORD_SOURCE][rows].astype(str)
        reg = c[schema.COORD_REGIME][rows].astype(str)
        years = c[schema.COORD_YEAR][rows]
        warm = c[schema.COORD_WARMING][rows]
        out[role] = {
            "n_scenes": int(rows.size),
            "sources": {s: int((src == s).sum()) for s in schema.SOURCES if (src == s).any()},
            "years": [int(years.min()), int(years.max())] if rows.size else None,
            "regimes": {r: int((reg == r).sum()) for r in schema.REGIMES if (reg == r).any()},
            "warming": [round(float(np.nanmin(warm)), 3), round(float(np.nanmax(warm)), 3)]
            if rows.size
            else None,
            "channels": len(view.split.channels_for(role)),
        }
    return out


# --- chunk-aligned reading and normalisation statistics -------------------------------------


@dataclass(frozen=True)
class ReadUnit:
    """Scenes of one role inside one store chunk: read together with a single slice.

    ``positions`` are ascending store positions within ``[start, stop)``; ``scene_ids`` match.
    """

    source: str
    store: str
    start: int
    stop: int
    positions: tuple[int, ...]
    scene_ids: tuple[int, ...]


def read_plan(view: SplitView, role: str, sources: Sequence[str] | None = None) -> list[ReadUnit]:
    """Group the role's scenes by the stores' on-disk chunks along ``scene`` (source order)."""
    units = []
    for s, pos in view.positions(role, sources).items():
        ds = view.datasets[s]
        chunks = ds[schema.VAR_TB].chunks
        sizes = chunks[0] if chunks else (ds.sizes[schema.DIM_SCENE],)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        which = np.searchsorted(bounds, pos, side="right") - 1
        ids = ds[schema.DIM_SCENE].values
        for k in np.unique(which):
            p = pos[which == k]
            units.append(
                ReadUnit(
                    s,
                    ds.attrs["store"],
                    int(bounds[k]),
                    int(bounds[k + 1]),
                    tuple(p.tolist()),
                    tuple(ids[p].tolist()),
                )
            )
    return units


def read_unit(
    ds: xr.Dataset, unit: ReadUnit, variables: Sequence[str], channels: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Read ``variables`` of one :class:`ReadUnit` into numpy (one contiguous slice per chunk)."""
    sub = ds.isel({schema.DIM_SCENE: slice(unit.start, unit.stop)})
    if channels is not None:
        sub = sub.sel({schema.DIM_CHANNEL: list(channels)})
    local = np.asarray(unit.positions) - unit.start
    out = {}
    with reading(unit.store):
        for v in variables:
            out[v] = np.asarray(sub[v].values)[local]
    return out


def _merge_moments(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al. (1979) parallel update of count, mean and sum of squared deviations."""
    n = n_a + n_b
    safe = np.where(n > 0, n, 1)
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / safe
    m2 = m2_a + m2_b + delta**2 * n_a * n_b / safe
    return n, mean, m2


def _norm_cache_key(
    split: Split, manifest_checksum: str, channels: Sequence[str], sources: Sequence[str]
) -> str:
    text = f"v{NORM_CACHE_VERSION}|{split.hash}|{manifest_checksum}|{','.join(channels)}|{','.join(sources)}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def normalisation_stats(
    data_dir: str | os.PathLike,
    split: Split | str,
    channels: str | Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    cache: bool = True,
    view: SplitView | None = None,
) -> dict:
    """Per-channel mean and standard deviation of ``tb`` (K) over the train role only.

    Streamed chunk by chunk (memory of one store chunk) with NaN pixels ignored, using the
    parallel update of Chan, Golub & LeVeque (1979) in float64. Only ``train`` scenes are read, so
    evaluation data can never leak into the normalisation.

    Parameters
    ----------
    channels : str or sequence of str, optional
        Channel set name or names (default: ``split.channels_for("train")``). Statistics are per
        channel, so a role with fewer channels uses the train values of its channels.
    sources : sequence of str, optional
        Train sources to use. Default: ``("obs",)`` when the train role has observations (the
        instrument a retrieval is applied to; simulated TBs carry the simulator's biases, docs/world.md
        6), else the train role's sources.
    cache : bool
        Read/write ``<data_dir>/cache/norm-<key>.json`` keyed by split hash, manifest checksum,
        channels and sources (written atomically; skipped with a warning if not writable).

    Returns
    -------
    dict
        ``{"channels": [...], "mean": [...], "std": [...], "n_pixels": [...], "n_scenes": int,
        "sources": [...], "role": "train", "split", "split_hash", "manifest_checksum"}``.
    """
    from tailshift.io import read_manifest  # deferred: tailshift.io loads xarray

    split = load_split(split)
    chans = (
        schema.resolve_channels(channels) if channels is not None else split.channels_for("train")
    )
    train = split.role("train")
    if sources is None:
        sources = (schema.SOURCE_OBS,) if schema.SOURCE_OBS in train.sources else train.sources
    sources = _check_sources(split, "train", sources)
    manifest = read_manifest(data_dir)
    checksum = str(manifest.get("dataset_checksum", ""))
    path = (
        Path(data_dir) / "cache" / f"norm-{_norm_cache_key(split, checksum, chans, sources)}.json"
    )
    if cache and path.is_file():
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
            if stats.get("channels") == list(chans) and stats.get("split_hash") == split.hash:
                return stats
        except (OSError, ValueError):
            pass  # unreadable cache: recompute and rewrite
    view = view or SplitView(data_dir, split)
    nc = len(chans)
    n, mean, m2 = np.zeros(nc), np.zeros(nc), np.zeros(nc)
    n_scenes = 0
    for unit in read_plan(view, "train", sources):
        ds = view.datasets[unit.source]
        _resolve_channels(split, "train", chans, ds)
        tb = read_unit(ds, unit, [schema.VAR_TB], chans)[schema.VAR_TB].astype(np.float64)
        x = np.moveaxis(tb, 1, 0).reshape(nc, -1)
        cnt = np.isfinite(x).sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.where(cnt > 0, np.nansum(x, axis=1) / np.maximum(cnt, 1), 0.0)
            dev = np.where(np.isfinite(x), x - mu[:, None], 0.0)
        n, mean, m2 = _merge_moments(n, mean, m2, cnt, mu, (dev**2).sum(axis=1))
        n_scenes += len(unit.positions)
    if n_scenes == 0 or np.any(n < 2):
        raise BadInputError(
            f"the train role of split {split.name!r} has no usable {list(sources)} scenes on "
            + f"{data_dir}; use a larger dataset or other sources"
        )
    std = np.sqrt(m2 / (n - 1))
    stats = {
        "channels": list(chans),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "n_pixels": n.astype(np.int64).tolist(),
        "n_scenes": int(n_scenes),
        "sources": list(sources),
        "role": "train",
        "split": split.name,
        "split_hash": split.hash,
        "manifest_checksum": checksum,
        "cache_version": NORM_CACHE_VERSION,
    }
    if cache:
        try:
            atomic_write_text(path, json.dumps(stats, indent=2, sort_keys=True) + "\n", force=True)
        except (OSError, BadInputError) as exc:
            warnings.warn(f"normalisation statistics not cached ({exc})", stacklevel=2)
    return stats
