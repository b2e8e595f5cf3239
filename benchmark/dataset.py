"""Select the scenes of a split role from a dataset directory (lazily).

Role selection (:func:`select_role`) opens the stores a split uses (:mod:`tailshift.benchmark.stores`
checks them), applies a :class:`~tailshift.splits.model.Split` to the scene coordinates of both
stores at once (scene ids are unique across the dataset, ``schema.SIM_ID_OFFSET``), checks on the
data that no scene belongs to two roles and that no observed scene of the future era is in
``train``, and returns the role's scenes from the requested sources concatenated along ``scene``
in ascending scene id, restricted to the role's channels (:func:`resolve_role_channels`).
Everything stays lazy (xarray + dask): only the 1-D scene coordinates are read.

Chunk-aligned reading of a role is in :mod:`tailshift.benchmark.readplan`, its normalisation
statistics in :mod:`tailshift.benchmark.normstats`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from tailshift import schema
from tailshift.benchmark.stores import (
    REGENERATE,
    REQUIRED_COORDS,
    load_scene_coords,
    open_dataset,
    reading,
)
from tailshift.errors import BadInputError
from tailshift.splits.loader import load_split
from tailshift.splits.masks import required_coords, role_masks
from tailshift.splits.model import Split


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
                    + f"expected only {s!r}; {REGENERATE}"
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
                + f"{REGENERATE}"
            )
        self.masks = role_masks(self.split, self.coords, scene_max=self._scene_max, check=True)
        self._check_held_back()

    def _scene_max(self, idx: np.ndarray) -> np.ndarray:
        """Scene maximum of ``surface_precip`` (mm h-1) for rows ``idx`` of the table."""
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
            sources = check_sources(self.split, role, sources)
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


def check_sources(split: Split, role: str, sources: Sequence[str]) -> tuple[str, ...]:
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


def resolve_role_channels(
    split: Split, role: str, channels: Any, ds: xr.Dataset
) -> tuple[str, ...]:
    """The channel names ``channels`` requests for ``role`` (default: all the role provides).

    The request is resolved by :func:`tailshift.schema.resolve_channels` within the role's
    channels; the store ``ds`` must then have every one of them.
    """
    allowed = split.channels_for(role)
    chans = schema.resolve_channels(
        channels, default=allowed, within=allowed, provider=f"role {role} of split {split.name!r}"
    )
    have = set(map(str, ds[schema.DIM_CHANNEL].values))
    absent = [c for c in chans if c not in have]
    if absent:
        raise BadInputError(
            f"store {ds.attrs.get('store', '')} has no channel(s) {absent}; choose channels it has "
            + f"or {REGENERATE}"
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
    view = view or SplitView(data_dir, split, verify=verify)
    split = view.split
    pos = view.positions(role, sources)
    first = view.datasets[view.sources[0]]
    chans = resolve_role_channels(split, role, channels, first)
    parts = []
    for s, p in pos.items():
        ds = view.datasets[s]
        resolve_role_channels(split, role, chans, ds)
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
