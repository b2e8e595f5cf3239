"""Load, check and apply the declarative OOD splits (``splits/<name>.toml``).

A split is data (docs/design.md, Conventions): one TOML file with WILDS role names. This module turns a file
into a frozen :class:`Split`, refuses anything ambiguous, and computes which scenes of a dataset
belong to which role. It imports neither torch nor xarray (``import splits`` stays cheap).

File format
-----------
::

    name = "temporal"                     # optional; defaults to the file stem
    description = "one line"              # optional
    train_sources = ["obs", "sim"]        # what training may use (schema.SOURCES)

    [roles.train]                         # roles: train, id_val, id_test, ood_val, ood_test
    description = "..."                   # optional
    channels = "all"                      # optional: a schema.CHANNEL_SETS name or a list
    [[roles.train.select]]                # a role is the union of its selections
    source = "obs"                        # required: "obs" or "sim"
    years = [1998, 2025]                  # inclusive calendar years (coordinate ``year``)
    regimes = ["midlat_ocean"]            # subset of schema.REGIMES
    warming = [0.0, 1.5]                  # inclusive range of ``warming`` (K)
    era = "observed"                      # "observed" or "future" (coordinate ``era``)
    fraction = [0.0, 0.7]                 # half-open [lo, hi) of the scene-id hash, see below
    record_breaking = true                # scene max above the train record of its regime

A selection keeps the scenes for which **every** given condition holds; a role is the union of its
selections. Omitted conditions do not restrict.

``fraction``: a stable pseudo-random partition. Each scene id is hashed,
``u = int(blake2b(str(scene_id), digest_size=8)) / 2**64`` (uniform in [0, 1)), and the scene is
kept if ``lo <= u < hi``. Python's ``hash()`` is salted per process and is never used. Because the
hash depends only on the id, ``fraction = [0.0, 0.7]`` picks the same scenes in every split.

``record_breaking``: the scene maximum of ``surface_precip`` is strictly above the *record* of its
``regime``: by default the largest scene maximum among the ``train`` role's scenes of that regime
(all train sources). An optional split-level table changes what the record is::

    [record]
    quantile = 0.99        # the record is this quantile of the train scene maxima (1 = the max)
    sources = ["obs"]      # only these train sources define it (default: all train sources)

A quantile below 1 makes the predicate "beyond the training climate's 1-in-1/(1-q)-scene
maximum": with ~2 000 training scenes per regime, the strict maximum is broken by only a handful
of future scenes (too few to score), while the P99 of scene maxima is a rare event of the training
climate that warming makes several times more frequent (decision, README "Splits"). A regime with
no training scene has no record, and none of its scenes counts as record-breaking. It needs the
data, so :func:`role_mask` takes a ``scene_max`` callable; the train role itself cannot use it.

Rules checked on load (:class:`tailshift.errors.BadInputError`, one sentence with the fix)
------------------------------------------------------------------------------------------
- unknown keys anywhere (a misspelt coordinate is an error, never silently ignored);
- unknown sources, regimes, eras, channels or channel sets; malformed ranges;
- role names other than the five WILDS names of ``schema.ROLES``; a split without ``train`` or
  without any evaluation role (``id_test`` / ``ood_test``);
- train selections using a source not listed in ``train_sources``;
- held-back truth: an ``obs`` selection of ``train`` must be limited to the observed era
  (``years`` upper bound <= ``schema.OBSERVED_ERA[1]`` = 2025, or ``era = "observed"``);
  observations of the future era are for evaluation only;
- overlapping roles, statically: two selections of different roles overlap unless they differ in
  source, or have disjoint ``years`` / ``warming`` / ``fraction`` ranges, disjoint regime lists,
  different ``era`` or opposite ``record_breaking``. On data the overlap is checked again by
  scene id (:func:`check_disjoint`, called by ``tailshift.benchmark.dataset.select_role``).

The split's ``hash`` is the SHA-256 of the file bytes; it is recorded in every result
(docs/design.md "Results").
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.errors import BadInputError

#: Folder holding the shipped split files.
SPLITS_DIR = Path(__file__).resolve().parent

_TOP_KEYS = {"name", "description", "train_sources", "roles", "record"}
_RECORD_KEYS = {"quantile", "sources"}
_ROLE_KEYS = {"description", "channels", "select"}
_SELECTION_KEYS = {"source", "years", "regimes", "warming", "era", "fraction", "record_breaking"}
_ERAS = (schema.ERA_OBSERVED, schema.ERA_FUTURE)

#: Scene coordinates a split may select on (the data must provide them).
SELECTION_COORDS = {
    "source": schema.COORD_SOURCE,
    "years": schema.COORD_YEAR,
    "regimes": schema.COORD_REGIME,
    "warming": schema.COORD_WARMING,
    "era": schema.COORD_ERA,
}


@dataclass(frozen=True)
class Selection:
    """One conjunction of conditions on scene coordinates (see the module docstring).

    ``None`` means "no condition". Ranges are ``(lo, hi)``: inclusive for ``years`` and
    ``warming`` (K), half-open ``[lo, hi)`` for ``fraction``.
    """

    source: str
    years: tuple[int, int] | None = None
    regimes: tuple[str, ...] | None = None
    warming: tuple[float, float] | None = None
    era: str | None = None
    fraction: tuple[float, float] | None = None
    record_breaking: bool | None = None

    def describe(self) -> str:
        """A short human-readable form, e.g. ``obs years 1998-2025 fraction [0, 0.7)``."""
        parts = [self.source]
        if self.years is not None:
            parts.append(f"years {self.years[0]}-{self.years[1]}")
        if self.regimes is not None:
            parts.append("regimes " + ",".join(self.regimes))
        if self.warming is not None:
            parts.append(f"warming {self.warming[0]:g}-{self.warming[1]:g} K")
        if self.era is not None:
            parts.append(f"era {self.era}")
        if self.fraction is not None:
            parts.append(f"fraction [{self.fraction[0]:g}, {self.fraction[1]:g})")
        if self.record_breaking is not None:
            parts.append("record-breaking" if self.record_breaking else "not record-breaking")
        return " ".join(parts)


#: Alias used in the issue text.
RoleSelection = Selection


@dataclass(frozen=True)
class RoleSpec:
    """One role: the union of its selections, and the channels a model gets for it."""

    name: str
    selections: tuple[Selection, ...]
    channels: tuple[str, ...] = schema.CHANNEL_NAMES
    description: str = ""

    @property
    def sources(self) -> tuple[str, ...]:
        """Sources this role draws from, in ``schema.SOURCES`` order."""
        used = {s.source for s in self.selections}
        return tuple(s for s in schema.SOURCES if s in used)

    @property
    def needs_data(self) -> bool:
        """True if a selection uses a data-dependent predicate (``record_breaking``)."""
        return any(s.record_breaking is not None for s in self.selections)


@dataclass(frozen=True)
class Split:
    """A loaded and checked split.

    Attributes
    ----------
    name : str
        Split name (``name`` key, else the file stem).
    hash : str
        SHA-256 hex digest of the file bytes (recorded in every result).
    roles : dict[str, RoleSpec]
        Defined roles, in ``schema.ROLES`` order.
    train_sources : tuple[str, ...]
        Sources training may use (``obs``, ``sim``).
    description : str
        One line from the file.
    path : pathlib.Path
        The file it was loaded from.
    """

    name: str
    hash: str
    roles: dict[str, RoleSpec] = field(hash=False)
    train_sources: tuple[str, ...]
    description: str = ""
    path: Path | None = None
    record_quantile: float = 1.0
    record_sources: tuple[str, ...] | None = None

    def role(self, role: str) -> RoleSpec:
        """The :class:`RoleSpec` of ``role``; BadInputError naming the defined roles if absent."""
        if role not in self.roles:
            raise BadInputError(
                f"split {self.name!r} has no role {role!r}; use one of {list(self.roles)}"
            )
        return self.roles[role]

    def channels_for(self, role: str) -> tuple[str, ...]:
        """Channel names a model receives for ``role`` (e.g. no 166/183 GHz in sensor OOD)."""
        return self.role(role).channels

    @property
    def eval_roles(self) -> tuple[str, ...]:
        """The test roles this split defines (subset of ``schema.EVAL_ROLES``)."""
        return tuple(r for r in schema.EVAL_ROLES if r in self.roles)

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of :attr:`hash`."""
        return self.hash[:12]


# --- loading ------------------------------------------------------------------------------


def list_splits() -> list[str]:
    """Names of the shipped splits (``splits/*.toml``), sorted."""
    return sorted(p.stem for p in SPLITS_DIR.glob("*.toml"))


def split_path(name_or_path: str | Path) -> Path:
    """Resolve a split name (``temporal``) or a path to a ``.toml`` file."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file() or "/" in text:
        if not path.is_file():
            raise BadInputError(
                f"split file {path} does not exist; pass an existing .toml file or one of "
                + f"{list_splits()}"
            )
        return path
    candidate = SPLITS_DIR / f"{text}.toml"
    if not candidate.is_file():
        raise BadInputError(
            f"unknown split {text!r}; use one of {list_splits()} (see 'tailshift splits list') "
            + "or a path to a .toml file"
        )
    return candidate


def load_split(name_or_path: str | Path | Split) -> Split:
    """Load and check a split by name or path (a :class:`Split` is returned unchanged).

    Raises
    ------
    tailshift.errors.BadInputError
        Unknown split, unreadable or invalid TOML, or any rule of the module docstring broken.
    """
    if isinstance(name_or_path, Split):
        return name_or_path
    path = split_path(name_or_path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read split file {path} ({exc}); check the path") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(f"split file {path} is not valid TOML ({exc}); fix its syntax") from exc
    return _parse(doc, path, hashlib.sha256(raw).hexdigest())


def _where(path: Path, what: str) -> str:
    return f"split file {path.name}: {what}"


def _check_keys(obj: Any, allowed: set[str], path: Path, what: str) -> dict:
    if not isinstance(obj, dict):
        raise BadInputError(_where(path, f"{what} must be a table; see splits/iid.toml"))
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise BadInputError(
            _where(path, f"unknown key(s) {unknown} in {what}; allowed keys are {sorted(allowed)}")
        )
    return obj


def _range(value: Any, kind: type, path: Path, what: str, closed: bool) -> tuple:
    ok = isinstance(value, list) and len(value) == 2
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if ok and kind is int:
        ok = all(isinstance(v, int) for v in value)
    if not ok:
        raise BadInputError(
            _where(path, f"{what} must be a list [lo, hi] of two {kind.__name__}s, got {value!r}")
        )
    lo, hi = value
    if not (math.isfinite(lo) and math.isfinite(hi)) or (hi < lo if closed else hi <= lo):
        raise BadInputError(_where(path, f"{what} = {value!r} is empty; give lo <= hi"))
    return (kind(lo), kind(hi))


def _parse_selection(obj: Any, path: Path, what: str) -> Selection:
    obj = _check_keys(obj, _SELECTION_KEYS, path, what)
    source = obj.get("source")
    if source not in schema.SOURCES:
        raise BadInputError(
            _where(path, f"{what}.source must be one of {list(schema.SOURCES)}, got {source!r}")
        )
    years = warming = fraction = regimes = era = record = None
    if "years" in obj:
        years = _range(obj["years"], int, path, f"{what}.years", closed=True)
    if "warming" in obj:
        warming = _range(obj["warming"], float, path, f"{what}.warming", closed=True)
    if "fraction" in obj:
        fraction = _range(obj["fraction"], float, path, f"{what}.fraction", closed=False)
        if fraction[0] < 0.0 or fraction[1] > 1.0:
            raise BadInputError(
                _where(path, f"{what}.fraction = {list(fraction)} must lie within [0, 1]")
            )
    if "regimes" in obj:
        regs = obj["regimes"]
        if not isinstance(regs, list) or not regs or not all(isinstance(r, str) for r in regs):
            raise BadInputError(_where(path, f"{what}.regimes must be a non-empty list of names"))
        unknown = [r for r in regs if r not in schema.REGIMES]
        if unknown:
            raise BadInputError(
                _where(path, f"unknown regime(s) {unknown} in {what}; use {list(schema.REGIMES)}")
            )
        regimes = tuple(dict.fromkeys(regs))
    if "era" in obj:
        era = obj["era"]
        if era not in _ERAS:
            raise BadInputError(
                _where(path, f"{what}.era must be one of {list(_ERAS)}, got {era!r}")
            )
    if "record_breaking" in obj:
        record = obj["record_breaking"]
        if not isinstance(record, bool):
            raise BadInputError(_where(path, f"{what}.record_breaking must be true or false"))
    return Selection(source, years, regimes, warming, era, fraction, record)


def _parse(doc: dict, path: Path, digest: str) -> Split:
    doc = _check_keys(doc, _TOP_KEYS, path, "the top level")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise BadInputError(_where(path, "name must be a non-empty string"))
    description = doc.get("description", "")
    sources = doc.get("train_sources")
    if not isinstance(sources, list) or not sources:
        raise BadInputError(
            _where(path, f"train_sources must be a non-empty subset of {list(schema.SOURCES)}")
        )
    bad = [s for s in sources if s not in schema.SOURCES]
    if bad:
        raise BadInputError(
            _where(path, f"unknown source(s) {bad} in train_sources; use {list(schema.SOURCES)}")
        )
    train_sources = tuple(s for s in schema.SOURCES if s in sources)

    roles_doc = doc.get("roles")
    if not isinstance(roles_doc, dict) or not roles_doc:
        raise BadInputError(_where(path, "no [roles.*] tables; define at least train and id_test"))
    unknown_roles = [r for r in roles_doc if r not in schema.ROLES]
    if unknown_roles:
        raise BadInputError(
            _where(
                path,
                f"unknown role(s) {unknown_roles}; roles are the WILDS names {list(schema.ROLES)}",
            )
        )
    if "train" not in roles_doc:
        raise BadInputError(_where(path, "no [roles.train]; every split needs a train role"))
    if not any(r in roles_doc for r in schema.EVAL_ROLES):
        raise BadInputError(
            _where(path, f"no evaluation role; define at least one of {list(schema.EVAL_ROLES)}")
        )

    roles: dict[str, RoleSpec] = {}
    for role in schema.ROLES:
        if role not in roles_doc:
            continue
        rdoc = _check_keys(roles_doc[role], _ROLE_KEYS, path, f"roles.{role}")
        sels = rdoc.get("select")
        if not isinstance(sels, list) or not sels:
            raise BadInputError(
                _where(
                    path, f"roles.{role} has no [[roles.{role}.select]] entries; add at least one"
                )
            )
        selections = tuple(
            _parse_selection(s, path, f"roles.{role}.select[{i}]") for i, s in enumerate(sels)
        )
        try:
            channels = schema.resolve_channels(rdoc.get("channels", "all"))
        except BadInputError as exc:
            raise BadInputError(_where(path, f"roles.{role}.channels: {exc}")) from exc
        if not channels:
            raise BadInputError(_where(path, f"roles.{role}.channels is empty; name at least one"))
        roles[role] = RoleSpec(role, selections, channels, str(rdoc.get("description", "")))

    _check_train(roles["train"], train_sources, path)
    _check_static_overlap(roles, path)
    record_quantile, record_sources = _parse_record(doc.get("record"), train_sources, path)
    return Split(
        name=name,
        hash=digest,
        roles=roles,
        train_sources=train_sources,
        description=str(description),
        path=path,
        record_quantile=record_quantile,
        record_sources=record_sources,
    )


def _parse_record(
    obj: Any, train_sources: tuple[str, ...], path: Path
) -> tuple[float, tuple[str, ...] | None]:
    """The optional ``[record]`` table: (quantile in (0, 1], sources or None)."""
    if obj is None:
        return 1.0, None
    obj = _check_keys(obj, _RECORD_KEYS, path, "record")
    q = obj.get("quantile", 1.0)
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 < q <= 1.0:
        raise BadInputError(_where(path, f"record.quantile must be in (0, 1], got {q!r}"))
    sources = obj.get("sources")
    if sources is not None:
        if not isinstance(sources, list) or not sources or any(
            x not in train_sources for x in sources
        ):
            raise BadInputError(
                _where(
                    path,
                    "record.sources must be a non-empty subset of train_sources "
                    + f"{list(train_sources)}, got {sources!r}",
                )
            )
        sources = tuple(x for x in schema.SOURCES if x in sources)
    return float(q), sources


def _check_train(train: RoleSpec, train_sources: tuple[str, ...], path: Path) -> None:
    last = schema.OBSERVED_ERA[1]
    for i, sel in enumerate(train.selections):
        what = f"roles.train.select[{i}]"
        if sel.source not in train_sources:
            raise BadInputError(
                _where(
                    path,
                    f"{what} uses source {sel.source!r}, which train_sources does not allow; "
                    + "add it to train_sources or remove the selection",
                )
            )
        if sel.record_breaking is not None:
            raise BadInputError(
                _where(
                    path,
                    f"{what} uses record_breaking, which is defined relative to the train "
                    + "role; use it in evaluation roles only",
                )
            )
        if sel.source == schema.SOURCE_OBS:
            limited = (
                sel.years is not None and sel.years[1] <= last
            ) or sel.era == schema.ERA_OBSERVED
            if not limited:
                raise BadInputError(
                    _where(
                        path,
                        f"{what} can reach observed years after {last} (held-back truth "
                        + f'for evaluation only); add years = [lo, {last}] or era = "observed"',
                    )
                )


def _closed_disjoint(a: tuple | None, b: tuple | None) -> bool:
    return a is not None and b is not None and (a[1] < b[0] or b[1] < a[0])


def selections_may_overlap(a: Selection, b: Selection) -> bool:
    """False only if no scene can satisfy both selections whatever the data."""
    if a.source != b.source:
        return False
    if _closed_disjoint(a.years, b.years) or _closed_disjoint(a.warming, b.warming):
        return False
    if a.fraction is not None and b.fraction is not None:
        if a.fraction[1] <= b.fraction[0] or b.fraction[1] <= a.fraction[0]:
            return False
    if a.regimes is not None and b.regimes is not None and not set(a.regimes) & set(b.regimes):
        return False
    if a.era is not None and b.era is not None and a.era != b.era:
        return False
    if (
        a.record_breaking is not None
        and b.record_breaking is not None
        and a.record_breaking != b.record_breaking
    ):
        return False
    return True


def _check_static_overlap(roles: dict[str, RoleSpec], path: Path) -> None:
    names = list(roles)
    for i, ra in enumerate(names):
        for rb in names[i + 1 :]:
            for ia, sa in enumerate(roles[ra].selections):
                for ib, sb in enumerate(roles[rb].selections):
                    if selections_may_overlap(sa, sb):
                        raise BadInputError(
                            _where(
                                path,
                                f"roles {ra} and {rb} overlap: roles.{ra}.select[{ia}] "
                                + f"({sa.describe()}) and roles.{rb}.select[{ib}] "
                                + f"({sb.describe()}) can select the same scenes; make their "
                                + "source, years, warming, regimes, era or fraction disjoint",
                            )
                        )


# --- applying a split to scene coordinates --------------------------------------------------


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
