"""Result files: the one format the scorer writes and the leaderboard reads (docs/design.md, Conventions).

One JSON file per (submission, split) at ``<results_dir>/<split>/<slug>.json`` where ``slug`` is
the submission name lower-cased with every run of characters outside ``[a-z0-9]`` replaced by
``-``. Written atomically (temp file + rename). Scoring a further role of the same submission and
split adds that role to the file; replacing a role already present needs ``--force``.

Format, ``schema_version`` 2 (all floats are JSON numbers or ``null`` for undefined values).
Version 2 is the corrected protocol (docs/protocol.md: exact CRPS of quantile forecasts,
admissible levels, SEDI without clipping, paired replicates, fixed-effects trends, real block
maxima); version-1 files are refused with a message to rescore them::

    {
      "schema_version": 2,
      "created_by": "tailshift 0.1.0",
      "submission": {"name": str, "model": str, "description": str,
                     "training_sources": ["obs" | "sim", ...], "code_hash": str | null,
                     "baseline": str | null},
      "split":   {"name": str, "hash": str},
      "dataset": {"checksum": str, "preset": str, "generator_version": str},
      "metrics": {"<metric>": {"family": str, "units": str, "description": str,
                               "higher_is_better": bool | null,   # null: closer to target wins
                               "target": float | null}},
      "roles": {
        "<role>": {                       # "id_test", "ood_test" (and val roles if scored);
                                          # "all_test": both test roles scored together
                                          # (written by submit; trends over all warming)
          "n_scenes": int, "n_pixels": int, "channels": [str, ...],
          "forecast": {"kind": "quantiles" | "samples" | "point", "levels": [float] | null,
                       "admissible": bool, "reason": str | null},   # ranked only if admissible
          "scores": {"<metric>": {"value": float | bool | null,
                                  "ci_low": float | null, "ci_high": float | null}},
          "undefined": {"<metric>": str},  # why a value is null
          "replicates": {"scene" | "block": {"seed": int, "n": int,
                                             "metrics": {"<metric>": [float | null] * n}}},
                                          # bootstrap replicates 1..n, for paired comparisons
          "groups": {"<dim>": {"<label>": {"<metric>": {"value", "ci_low", "ci_high"}}}},
                                          # dims: "regime", "surface_type", "intensity_bin"
          "worst_group": {"<metric>": {"dim": str, "label": str, "value": float}},
          "curves": {
            "pit":           {"edges": [float], "density": [float]},
            "reliability":   {"levels": [float], "observed": [float]},
            "qq":            {"p": [float], "reference": [float], "retrieved": [float]},
            "return_levels": {"periods": [float],
                              "reference": {"level": [float], "ci_low": [float], "ci_high": [float]},
                              "retrieved": {"level": [float], "ci_low": [float], "ci_high": [float]}},
            "scaling":       {"warming": [float],
                              "reference": {"mean": [float], "p99": [float], "p999": [float]},
                              "retrieved": {"mean": [float], "p99": [float], "p999": [float]}},
            "by_intensity":  {"bins": [str], "<metric>": [float]}
          },
          "examples": [{"scene": int | str, "reference": [[float]], "median": [[float]],
                        "q99": [[float]]}]   # at most 3 scenes, values rounded to 0.01 mm/h
        }
      },
      "gap": {"<metric>": {"value", "ci_low", "ci_high"}}   # ood_test - id_test when both exist
    }

Any key of ``curves`` may be absent (e.g. no PIT for a point-only model); readers must cope.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tailshift.atomic import atomic_write_text
from tailshift.errors import BadInputError
from tailshift.metrics import REGISTRY
from tailshift.metrics.scorecard import gap

SCHEMA_VERSION = 2

# Implementation decisions (the format above is the contract; these refine it):
# - slugs also drop leading/trailing "-" ("My U-Net!" -> "my-u-net"); a name without any letter
#   or digit is refused;
# - a point-only submission has no 99th percentile: its examples carry "q99": null;
# - in number lists (curves, example fields) whole floats are written as integers ("0");
# - merging a role into an existing file requires the same submission name, split hash and
#   dataset checksum; otherwise (or to replace a role) --force replaces the file's content;
# - writes hold an advisory lock on the split's directory so concurrent scorers of different
#   roles do not lose each other's role.

#: Default results directory of ``tailshift score`` (relative to the working directory).
DEFAULT_RESULTS_DIR = Path("leaderboard") / "results"
#: Roles of the generalisation gap: ``gap = scores[GAP_ROLES[1]] - scores[GAP_ROLES[0]]``.
GAP_ROLES = ("id_test", "ood_test")
#: Keys of a scored value.
SCORE_KEYS = ("value", "ci_low", "ci_high")
#: Scenes kept as examples per role, and the rounding of their values (mm/h).
N_EXAMPLES = 3
EXAMPLE_DECIMALS = 2


class ResultFormatError(BadInputError):
    """A file that is not a valid TailShift result (malformed, foreign or of another version)."""


def _version() -> str:
    try:
        from importlib.metadata import version

        return f"tailshift {version('tailshift')}"
    except Exception:  # pragma: no cover - not installed
        return "tailshift"


def slugify(name: str) -> str:
    """File-name slug of a submission name.

    Lower-cased; every run of characters outside ``[a-z0-9]`` becomes ``-``; leading and trailing
    ``-`` are dropped (so ``"My U-Net!"`` gives ``my-u-net``).

    Raises
    ------
    BadInputError
        If nothing is left (the name has no letter or digit).
    """
    slug = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")
    if not slug:
        raise BadInputError(
            f"submission name {name!r} has no letter or digit; choose a name like 'my-unet'"
        )
    return slug


def result_path(results_dir: str | Path, split: str, name: str) -> Path:
    """``<results_dir>/<split>/<slug(name)>.json``."""
    return Path(results_dir) / str(split) / f"{slugify(name)}.json"


# --- JSON cleaning and writing --------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, NaN/inf to ``None``, tuples to lists."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if np is not None and isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if np is not None and isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a result file")


def _is_leaf_list(obj: Any) -> bool:
    """A list of scalars, or of lists of scalars (curves, example fields): one line in the file."""
    if not isinstance(obj, list):
        return False
    return all(
        not isinstance(v, dict | list) or (isinstance(v, list) and _is_leaf_list(v)) for v in obj
    )


def dumps(result: Mapping[str, Any], indent: int = 1) -> str:
    """Deterministic JSON text: nested objects indented, number lists kept on one line.

    Keeps files small (examples hold up to 3 x 3 scene fields) and diffs readable. Inside number
    lists, whole floats are written without ``.0`` (JSON does not distinguish them).
    """

    def fmt(obj: Any, level: int) -> str:
        if isinstance(obj, dict):
            if not obj:
                return "{}"
            pad = " " * (indent * (level + 1))
            items = [f"{pad}{json.dumps(k)}: {fmt(v, level + 1)}" for k, v in obj.items()]
            return "{\n" + ",\n".join(items) + "\n" + " " * (indent * level) + "}"
        if isinstance(obj, list) and not _is_leaf_list(obj):
            pad = " " * (indent * (level + 1))
            items = [f"{pad}{fmt(v, level + 1)}" for v in obj]
            return "[\n" + ",\n".join(items) + "\n" + " " * (indent * level) + "]"
        if isinstance(obj, list):
            obj = _compact(obj)
        return json.dumps(obj, allow_nan=False, separators=(",", ":"))

    return fmt(to_jsonable(result), 0) + "\n"


def _compact(values: Any) -> Any:
    """Whole floats in number lists written as integers (``0`` not ``0.0``: dry pixels)."""
    if isinstance(values, list):
        return [_compact(v) for v in values]
    if isinstance(values, float) and values.is_integer() and abs(values) < 2**53:
        return int(values)
    return values


# --- validation -----------------------------------------------------------------------------


def _fail(path: Any, what: str) -> ResultFormatError:
    return ResultFormatError(
        f"{path} is not a TailShift result file (schema_version {SCHEMA_VERSION}): {what}; "
        + "re-score the submission with 'tailshift score' or remove the file"
    )


def _is_num(v: Any, allow_bool: bool = False) -> bool:
    if isinstance(v, bool):
        return allow_bool
    return v is None or isinstance(v, int | float)


def validate_result(result: Any, source: Any = "result") -> dict:
    """Check the structure of a result dict; raise :class:`ResultFormatError` naming the problem."""
    if not isinstance(result, dict):
        raise _fail(source, "the top level is not a JSON object")
    version = result.get("schema_version")
    if version == 1:
        raise ResultFormatError(
            f"{source} was scored under protocol 1 (CRPS as mean pinball over the submitted " +
            "levels, clipped SEDI, pooled trends); rescore the submission with 'tailshift " +
            "submit' or 'tailshift score', or remove the file")
    if version != SCHEMA_VERSION:
        raise _fail(source, f"schema_version is {version!r}")
    for key, kind in (("submission", dict), ("split", dict), ("dataset", dict), ("roles", dict)):
        if not isinstance(result.get(key), kind):
            raise _fail(source, f"key {key!r} is missing or not an object")
    sub = result["submission"]
    if not isinstance(sub.get("name"), str) or not sub["name"]:
        raise _fail(source, "submission.name is missing")
    if not isinstance(sub.get("training_sources", []), list):
        raise _fail(source, "submission.training_sources is not a list")
    for key in ("name", "hash"):
        if not isinstance(result["split"].get(key), str):
            raise _fail(source, f"split.{key} is missing")
    if not isinstance(result["dataset"].get("checksum"), str):
        raise _fail(source, "dataset.checksum is missing")
    if not isinstance(result.get("metrics", {}), dict):
        raise _fail(source, "metrics is not an object")
    if not result["roles"]:
        raise _fail(source, "it has no scored role")

    def check_scores(scores: Any, where: str) -> None:
        if not isinstance(scores, dict):
            raise _fail(source, f"{where} is not an object")
        for metric, entry in scores.items():
            if not isinstance(entry, dict) or "value" not in entry:
                raise _fail(source, f"{where}.{metric} has no 'value'")
            if not _is_num(entry["value"], allow_bool=True):
                raise _fail(source, f"{where}.{metric}.value is not a number, boolean or null")
            for k in ("ci_low", "ci_high"):
                if not _is_num(entry.get(k)):
                    raise _fail(source, f"{where}.{metric}.{k} is not a number or null")

    for role, block in result["roles"].items():
        if not isinstance(block, dict):
            raise _fail(source, f"roles.{role} is not an object")
        check_scores(block.get("scores"), f"roles.{role}.scores")
        for key in ("n_scenes", "n_pixels"):
            if not isinstance(block.get(key), int) or isinstance(block.get(key), bool):
                raise _fail(source, f"roles.{role}.{key} is not an integer")
        groups = block.get("groups", {})
        if not isinstance(groups, dict):
            raise _fail(source, f"roles.{role}.groups is not an object")
        for dim, labels in groups.items():
            if not isinstance(labels, dict):
                raise _fail(source, f"roles.{role}.groups.{dim} is not an object")
            for label, scores in labels.items():
                check_scores(scores, f"roles.{role}.groups.{dim}.{label}")
        for key in ("worst_group", "curves"):
            if not isinstance(block.get(key, {}), dict):
                raise _fail(source, f"roles.{role}.{key} is not an object")
        if not isinstance(block.get("examples", []), list):
            raise _fail(source, f"roles.{role}.examples is not a list")
    if "gap" in result:
        check_scores(result["gap"], "gap")
    return result


def read_result(path: str | Path) -> dict:
    """Read and check one result file.

    Raises
    ------
    ResultFormatError
        (a :class:`BadInputError`) if the file is unreadable, not JSON, or not a valid
        version-1 result; the leaderboard catches it to skip the file with a warning.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"it cannot be read ({exc})") from exc
    try:
        result = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"it is not valid JSON ({exc})") from exc
    return validate_result(result, path)


# --- building and merging -------------------------------------------------------------------


def metric_info(names: Sequence[str]) -> dict[str, dict]:
    """``metrics`` block: family, units, description, direction and target from the registry.

    Names absent from :data:`metrics.REGISTRY` are skipped.
    """
    info = {}
    for name in names:
        spec = REGISTRY.get(name)
        if spec is None:
            continue
        info[name] = {
            "family": str(getattr(spec, "family", "")),
            "units": str(getattr(spec, "units", "")),
            "description": str(getattr(spec, "description", "")),
            "higher_is_better": getattr(spec, "higher_is_better", None),
            "target": getattr(spec, "target", None),
        }
    return info


def build_result(
    *,
    name: str,
    split_name: str,
    split_hash: str,
    dataset: Mapping[str, Any],
    roles: Mapping[str, Mapping[str, Any]],
    model: str = "",
    description: str = "",
    training_sources: Sequence[str] = (),
    code_hash: str | None = None,
    baseline: str | None = None,
) -> dict:
    """Assemble a result dict in the format of the module docstring (and compute ``gap``).

    Parameters
    ----------
    roles : mapping
        ``{role: role_block}``, each block as returned by
        :func:`tailshift.benchmark.evaluate.score_role` (``n_scenes``, ``n_pixels``, ``channels``,
        ``scores``, ``groups``, ``worst_group``, ``curves``, ``examples``).
    dataset : mapping
        ``checksum``, ``preset``, ``generator_version`` of the dataset manifest.
    """
    slugify(name)  # refuses names without a letter or digit early
    roles = {str(r): dict(b) for r, b in roles.items()}
    metric_names = sorted({m for b in roles.values() for m in b.get("scores", {})})
    result = {
        "schema_version": SCHEMA_VERSION,
        "created_by": _version(),
        "submission": {
            "name": str(name),
            "model": str(model),
            "description": str(description),
            "training_sources": list(training_sources),
            "code_hash": code_hash,
            "baseline": baseline,
        },
        "split": {"name": str(split_name), "hash": str(split_hash)},
        "dataset": {
            "checksum": str(dataset.get("checksum", "")),
            "preset": str(dataset.get("preset", "")),
            "generator_version": str(dataset.get("generator_version", "")),
        },
        "metrics": metric_info(metric_names),
        "roles": roles,
    }
    _update_gap(result)
    return to_jsonable(result)



def compute_gap(id_scores: Mapping, ood_scores: Mapping) -> dict:
    """The generalisation gap ``ood_test - id_test`` per metric.

    Uses :func:`tailshift.metrics.scorecard.gap` (the metrics package owns the inference).
    """
    return gap(id_scores, ood_scores)


def _update_gap(result: dict) -> None:
    roles = result.get("roles", {})
    if all(r in roles for r in GAP_ROLES):
        result["gap"] = compute_gap(roles[GAP_ROLES[0]]["scores"], roles[GAP_ROLES[1]]["scores"])
    else:
        result.pop("gap", None)


def check_writable(
    result_file: str | Path,
    split_hash: str,
    dataset_checksum: str,
    role: str,
    force: bool,
    name: str | None = None,
) -> None:
    """Fail early (before scoring) if writing ``role`` into ``result_file`` would be refused.

    ``name``: the submission name; a file of another submission with the same slug is refused.
    """
    path = Path(result_file)
    if not path.exists() or force:
        return
    old = read_result(path)
    _check_compatible(old, path, split_hash, dataset_checksum, name)
    if role in old["roles"]:
        raise BadInputError(
            f"{path} already holds role {role!r} of this submission; pass --force to replace it "
            + "(or choose another --name)"
        )


def _check_compatible(
    old: dict, path: Path, split_hash: str, dataset_checksum: str, name: str | None = None
) -> None:
    if name is not None and old["submission"]["name"] != name:
        raise BadInputError(
            f"{path} belongs to submission {old['submission']['name']!r}, whose file name is the "
            + f"same as {name!r}'s; choose another --name, or pass --force to replace the file"
        )
    if old["split"]["hash"] != split_hash:
        raise BadInputError(
            f"{path} was scored with another version of split {old['split']['name']!r} "
            + f"(hash {old['split']['hash'][:12]} vs {split_hash[:12]}); pass --force to replace "
            + "the whole file"
        )
    if old["dataset"]["checksum"] != dataset_checksum:
        raise BadInputError(
            f"{path} was scored on another dataset (checksum {old['dataset']['checksum'][:12]} vs "
            + f"{dataset_checksum[:12]}); pass --force to replace the whole file"
        )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``directory`` (POSIX), so concurrent role merges do not race."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def merge_results(old: dict, new: dict, force: bool, path: Path | str = "result") -> dict:
    """Add the roles of ``new`` to ``old`` (same submission and split); recompute ``gap``.

    Submission metadata and metric descriptions are taken from ``new``. A role present in both
    is replaced only with ``force``. With ``force``, a file of another split hash or dataset
    checksum is replaced as a whole (its roles were scored on other data).
    """
    path = Path(path)
    try:
        _check_compatible(
            old,
            path,
            new["split"]["hash"],
            new["dataset"]["checksum"],
            new["submission"]["name"],
        )
    except BadInputError:
        if not force:
            raise
        return dict(new)
    clash = sorted(set(old["roles"]) & set(new["roles"]))
    if clash and not force:
        raise BadInputError(
            f"{path} already holds role(s) {', '.join(clash)} of this submission; pass --force to "
            + "replace them (or choose another --name)"
        )
    merged = dict(new)
    merged["roles"] = {**old["roles"], **new["roles"]}
    merged["roles"] = {r: merged["roles"][r] for r in sorted(merged["roles"], key=_role_order)}
    merged["metrics"] = {**old.get("metrics", {}), **new.get("metrics", {})}
    _update_gap(merged)
    return merged


def _role_order(role: str) -> tuple[int, str]:
    order = ("train", "id_val", "id_test", "ood_val", "ood_test")
    return (order.index(role) if role in order else len(order), role)


def write_result(result: Mapping[str, Any], results_dir: str | Path, force: bool = False) -> Path:
    """Write (or merge into) ``result_path(results_dir, split, name)`` atomically.

    Returns the path written. Raises :class:`BadInputError` (naming ``--force``) if a role is
    already present, or the existing file belongs to another split hash / dataset, and ``force``
    is false. A malformed existing file is replaced only with ``force``.
    """
    result = validate_result(to_jsonable(dict(result)))
    path = result_path(results_dir, result["split"]["name"], result["submission"]["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        if path.exists():
            try:
                old = read_result(path)
            except ResultFormatError as exc:
                if not force:
                    raise BadInputError(
                        f"{path} exists but is not a valid result ({exc}); pass --force to "
                        + "replace it"
                    ) from exc
                merged = dict(result)
            else:
                merged = merge_results(old, result, force, path)
        else:
            merged = dict(result)
            _update_gap(merged)
        atomic_write_text(path, dumps(merged), force=True)
        make_readable(path)
    return path


def make_readable(path: str | Path) -> None:
    """Give ``path`` the usual ``0o666 & ~umask`` mode (temporary files are created 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
