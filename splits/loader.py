"""Load and check the declarative OOD splits (``splits/<name>.toml``).

A split is data (docs/design.md, Conventions): one TOML file with WILDS role names. This module
turns a file into a frozen :class:`~tailshift.splits.model.Split` and refuses anything ambiguous;
:mod:`tailshift.splits.masks` computes which scenes of a dataset belong to which role. Neither
imports torch nor xarray (``import splits`` stays cheap).

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
data, so :func:`~tailshift.splits.masks.role_mask` takes a ``scene_max`` callable; the train role itself cannot use it.

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
  scene id (:func:`~tailshift.splits.masks.check_disjoint`, called when
  ``tailshift.benchmark.dataset.select_role`` opens the split on a dataset).

The split's ``hash`` is the SHA-256 of its **content**: the parsed TOML as canonical JSON (sorted
keys, no whitespace), so comments and layout do not change it and any change of a selection
does (:func:`content_hash`). It is recorded in every result (docs/results.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any

from tailshift import schema
from tailshift.errors import BadInputError
from tailshift.splits.model import RoleSpec, Selection, Split

#: Folder holding the shipped split files.
SPLITS_DIR = Path(__file__).resolve().parent

_TOP_KEYS = {"name", "description", "train_sources", "roles", "record"}
_RECORD_KEYS = {"quantile", "sources"}
_ROLE_KEYS = {"description", "channels", "select"}
_SELECTION_KEYS = {"source", "years", "regimes", "warming", "era", "fraction", "record_breaking"}
_ERAS = (schema.ERA_OBSERVED, schema.ERA_FUTURE)


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
    return _parse(doc, path, content_hash(doc))


def content_hash(doc: dict) -> str:
    """SHA-256 of a parsed split document as canonical JSON: what the split selects, not how the
    file is laid out or commented."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    train_sources = _parse_train_sources(doc.get("train_sources"), path)
    roles = _parse_roles(doc.get("roles"), path)
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


def _parse_train_sources(sources: Any, path: Path) -> tuple[str, ...]:
    """``train_sources``: a non-empty list of known sources, returned in ``schema.SOURCES`` order."""
    if not isinstance(sources, list) or not sources:
        raise BadInputError(
            _where(path, f"train_sources must be a non-empty subset of {list(schema.SOURCES)}")
        )
    bad = [s for s in sources if s not in schema.SOURCES]
    if bad:
        raise BadInputError(
            _where(path, f"unknown source(s) {bad} in train_sources; use {list(schema.SOURCES)}")
        )
    return tuple(s for s in schema.SOURCES if s in sources)


def _parse_roles(roles_doc: Any, path: Path) -> dict[str, RoleSpec]:
    """The ``[roles.*]`` tables: WILDS names only, ``train`` and an evaluation role required."""
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
    return {
        role: _parse_role(role, roles_doc[role], path) for role in schema.ROLES if role in roles_doc
    }


def _parse_role(role: str, obj: Any, path: Path) -> RoleSpec:
    """One ``[roles.<role>]`` table: its selections and channels."""
    rdoc = _check_keys(obj, _ROLE_KEYS, path, f"roles.{role}")
    sels = rdoc.get("select")
    if not isinstance(sels, list) or not sels:
        raise BadInputError(
            _where(path, f"roles.{role} has no [[roles.{role}.select]] entries; add at least one")
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
    return RoleSpec(role, selections, channels, str(rdoc.get("description", "")))


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
