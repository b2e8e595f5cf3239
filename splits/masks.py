"""Apply a loaded split to scene coordinates: which scenes of a dataset belong to which role.

The selection semantics (``fraction`` hash, ``record_breaking`` record, union of selections) are
specified with the file format in :mod:`tailshift.splits.loader`. Only numpy is used here: the
caller reads the 1-D scene coordinates (``tailshift.benchmark.dataset.SplitView`` does) and, for
``record_breaking``, passes a ``scene_max`` callable that reads the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

import numpy as np

from tailshift import schema
from tailshift.errors import BadInputError
from tailshift.splits.model import Selection, Split

#: Scene coordinates a split may select on (the data must provide them).
SELECTION_COORDS = {
    "source": schema.COORD_SOURCE,
    "years": schema.COORD_YEAR,
    "regimes": schema.COORD_REGIME,
    "warming": schema.COORD_WARMING,
    "era": schema.COORD_ERA,
}


def scene_fraction(scene_ids: np.ndarray) -> np.ndarray:
    """Stable uniform number in [0, 1) per scene id: ``blake2b(str(id), 8 bytes) / 2**64``.

    Integer ids are formatted as decimal integers (``7``, not ``7.0``), string ids as is.
    """
    ids = np.asarray(scene_ids).ravel()
    out = np.empty(ids.shape, dtype=np.float64)
    for k, sid in enumerate(ids.tolist()):
        digest = hashlib.blake2b(str(sid).encode("utf-8"), digest_size=8).digest()
        out[k] = int.from_bytes(digest, "big") / 2.0**64
    return out


def required_coords(split: Split) -> tuple[str, ...]:
    """Scene coordinate names that applying ``split`` reads (always ``scene`` and ``source``)."""
    need = [schema.DIM_SCENE, schema.COORD_SOURCE]
    for role in split.roles.values():
        for sel in role.selections:
            for key, coord in SELECTION_COORDS.items():
                if getattr(sel, key) is not None and coord not in need:
                    need.append(coord)
            if sel.record_breaking is not None and schema.COORD_REGIME not in need:
                need.append(schema.COORD_REGIME)
    return tuple(need)


class _Context:
    """Per-call memo: fractions, role masks and scene maxima (so nothing is computed twice)."""

    def __init__(self, coords: Mapping[str, np.ndarray], scene_max: Callable | None):
        self.coords = coords
        self.scene_max = scene_max
        self.fraction: np.ndarray | None = None
        self.masks: dict[str, np.ndarray] = {}
        self.maxima: dict[int, float] = {}

    def get_max(self, idx: np.ndarray) -> np.ndarray:
        todo = np.array([i for i in idx.tolist() if i not in self.maxima], dtype=np.int64)
        if todo.size:
            if self.scene_max is None:
                raise ValueError(
                    "this split uses record_breaking, which needs the data: pass scene_max "
                    + "(benchmark.dataset.select_role does)"
                )
            vals = np.asarray(self.scene_max(todo), dtype=np.float64)
            self.maxima.update(zip(todo.tolist(), vals.tolist(), strict=True))
        return np.array([self.maxima[i] for i in idx.tolist()], dtype=np.float64)


def _coord(coords: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in coords:
        raise BadInputError(
            f"the dataset lacks the scene coordinate {name!r} that the split needs; "
            + "regenerate the dataset with the current 'tailshift data generate'"
        )
    return np.asarray(coords[name])


def _selection_mask(split: Split, sel: Selection, ctx: _Context) -> np.ndarray:
    c = ctx.coords
    m = _coord(c, schema.COORD_SOURCE).astype(str) == sel.source
    if sel.years is not None:
        y = _coord(c, schema.COORD_YEAR)
        m &= (y >= sel.years[0]) & (y <= sel.years[1])
    if sel.regimes is not None:
        m &= np.isin(_coord(c, schema.COORD_REGIME).astype(str), sel.regimes)
    if sel.warming is not None:
        w = _coord(c, schema.COORD_WARMING)
        m &= (w >= sel.warming[0]) & (w <= sel.warming[1])
    if sel.era is not None:
        m &= _coord(c, schema.COORD_ERA).astype(str) == sel.era
    if sel.fraction is not None:
        if ctx.fraction is None:
            ctx.fraction = scene_fraction(_coord(c, schema.DIM_SCENE))
        m &= (ctx.fraction >= sel.fraction[0]) & (ctx.fraction < sel.fraction[1])
    if sel.record_breaking is not None:
        rec = _record_mask(split, m, ctx)
        m &= rec if sel.record_breaking else ~rec
    return m


def _record_mask(split: Split, candidates: np.ndarray, ctx: _Context) -> np.ndarray:
    """Candidates whose scene max exceeds the train record of their regime (see module doc)."""
    train = _role_mask(split, "train", ctx)
    if split.record_sources is not None:
        source = _coord(ctx.coords, schema.COORD_SOURCE).astype(str)
        train = train & np.isin(source, split.record_sources)
    regime = _coord(ctx.coords, schema.COORD_REGIME).astype(str)
    out = np.zeros(candidates.shape, dtype=bool)
    cand_idx = np.flatnonzero(candidates)
    if cand_idx.size == 0:
        return out
    for reg in np.unique(regime[cand_idx]):
        tr = np.flatnonzero(train & (regime == reg))
        if tr.size == 0:
            continue  # no record in this regime: nothing is record-breaking
        maxima = ctx.get_max(tr)
        if split.record_quantile >= 1.0:
            record = np.nanmax(maxima)
        else:
            record = np.nanquantile(maxima, split.record_quantile)
        idx = cand_idx[regime[cand_idx] == reg]
        out[idx] = ctx.get_max(idx) > record
    return out


def _role_mask(split: Split, role: str, ctx: _Context) -> np.ndarray:
    if role not in ctx.masks:
        spec = split.role(role)
        n = len(_coord(ctx.coords, schema.COORD_SOURCE))
        m = np.zeros(n, dtype=bool)
        for sel in spec.selections:
            m |= _selection_mask(split, sel, ctx)
        ctx.masks[role] = m
    return ctx.masks[role]


def role_mask(
    split: Split,
    coords: Mapping[str, np.ndarray],
    role: str,
    scene_max: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Boolean mask over scenes: which belong to ``role``.

    Parameters
    ----------
    split : Split
        A loaded split.
    coords : mapping of str to numpy.ndarray
        1-D scene coordinates of equal length: at least ``scene`` and ``source``, plus those the
        split selects on (:func:`required_coords`). Scenes of several stores may be mixed.
    role : str
        A role the split defines.
    scene_max : callable, optional
        ``scene_max(idx) -> maxima``: the maximum of ``surface_precip`` (mm h-1) of the scenes at
        integer positions ``idx`` of ``coords``. Needed only for ``record_breaking``.

    Returns
    -------
    numpy.ndarray of bool
    """
    return _role_mask(split, role, _Context(coords, scene_max))


def role_masks(
    split: Split,
    coords: Mapping[str, np.ndarray],
    scene_max: Callable[[np.ndarray], np.ndarray] | None = None,
    check: bool = True,
) -> dict[str, np.ndarray]:
    """Masks of every role of ``split`` (one shared memo); optionally :func:`check_disjoint`."""
    ctx = _Context(coords, scene_max)
    masks = {role: _role_mask(split, role, ctx) for role in split.roles}
    if check:
        check_disjoint(split, masks, np.asarray(coords[schema.DIM_SCENE]))
    return masks


def check_disjoint(split: Split, masks: Mapping[str, np.ndarray], scene_ids: np.ndarray) -> None:
    """BadInputError if a scene belongs to two roles (the data-level non-overlap check)."""
    names = list(masks)
    for i, ra in enumerate(names):
        for rb in names[i + 1 :]:
            both = np.asarray(masks[ra]) & np.asarray(masks[rb])
            if both.any():
                ids = np.asarray(scene_ids)[both][:3].tolist()
                raise BadInputError(
                    f"split {split.name!r}: roles {ra} and {rb} share {int(both.sum())} scene(s) "
                    + f"on this dataset (e.g. ids {ids}); make their selections disjoint"
                )
