"""Tolerant reading of result files (schema version 2, ``benchmark/results.py``) for the site
builder.

The leaderboard must never crash on a bad file and never silently drop a good one
(issue 5). :func:`load_result` therefore sorts every problem into one of two kinds:

* **fatal** — the file is not a schema-2 result (not JSON, not an object, another
  ``schema_version``, no submission name or split name, no role, a score that is not a number /
  bool / ``null``): the file is skipped and the reason reported (:class:`Skipped`);
* **cosmetic** — an optional part is malformed (``groups``, ``worst_group``, a curve, an
  example scene): that part is dropped, a warning is reported and the rest of the file is shown.

The file is read by ``tailshift.benchmark.results.read_result`` (the scorer's own validator): any
error it raises skips the file with its message (it is stricter than this module about
``groups``, ``worst_group`` and the container types of ``curves`` / ``examples``: such files are
skipped, not shown in part); the dict it returns is then normalised here. :func:`collect` reads
a whole results folder.

Normalised result (a plain ``dict``, keys as in the file): ``submission`` (name, model,
description, training_sources, code_hash, baseline), ``split`` (name, hash), ``dataset``
(checksum, preset, generator_version), ``metrics`` (per metric: family, units, description,
higher_is_better, target), ``roles`` (per role: n_scenes, n_pixels, channels, scores, groups,
worst_group, curves, examples, replicates), ``gap`` and ``created_by``. Scores are
``{"value", "ci_low", "ci_high"}`` with floats (NaN/inf become ``None``), bools kept as bools.
``replicates`` (optional, ``{}`` when absent) holds the paired bootstrap replicates per unit,
``{"seed", "n", "metrics": {metric: [v_1, ..., v_n]}}`` (:mod:`tailshift.metrics.paired`); a
malformed unit or metric is dropped with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailshift.benchmark.results import read_result

#: The results format this reader understands (``tailshift.benchmark.results.SCHEMA_VERSION``).
SUPPORTED_SCHEMA_VERSION = 2


class ResultFileError(ValueError):
    """A result file is malformed or foreign; the message says what is wrong."""


@dataclass(frozen=True)
class Skipped:
    """A file that was not used, and why (shown on the site and printed by the CLI)."""

    path: str
    reason: str


@dataclass
class LoadedResult:
    """One usable result file: its normalised content and the warnings met while reading it."""

    path: str
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _num(x: Any, where: str) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ResultFileError(f"{where} must be a number or null, got {type(x).__name__}")
    x = float(x)
    return x if math.isfinite(x) else None


def _score(entry: Any, where: str) -> dict[str, Any]:
    if isinstance(entry, int | float) or entry is None:  # a bare number: no CI
        entry = {"value": entry}
    if not isinstance(entry, dict):
        raise ResultFileError(f"{where} must be an object with value/ci_low/ci_high")
    value = entry.get("value")
    if isinstance(value, bool):
        v: float | bool | None = value
    else:
        v = _num(value, f"{where}.value")
    return {
        "value": v,
        "ci_low": _num(entry.get("ci_low"), f"{where}.ci_low"),
        "ci_high": _num(entry.get("ci_high"), f"{where}.ci_high"),
    }


def _scores(block: Any, where: str) -> dict[str, dict[str, Any]]:
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ResultFileError(f"{where} must be an object of metric -> score")
    return {str(m): _score(e, f"{where}.{m}") for m, e in block.items()}


def _str(x: Any, default: str = "") -> str:
    return default if x is None else str(x)


def _floats(x: Any, where: str) -> list[float | None]:
    if not isinstance(x, list):
        raise ResultFileError(f"{where} must be a list of numbers")
    return [_num(v, where) for v in x]


def _curves(block: Any, warn: list[str], where: str) -> dict[str, Any]:
    """Keep each curve that is well formed; drop (with a warning) the others."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        warn.append(f"{where} is not an object; curves ignored")
        return {}
    out: dict[str, Any] = {}
    for name, curve in block.items():
        try:
            out[name] = _curve(name, curve, f"{where}.{name}")
        except (ResultFileError, TypeError, KeyError, AttributeError) as exc:
            warn.append(f"{where}.{name} ignored: {exc}")
    return out


def _same_len(where: str, *seqs: list) -> None:
    if len({len(s) for s in seqs}) > 1:
        raise ResultFileError(f"{where}: lists of different lengths")


def _curve(name: str, c: Any, where: str) -> Any:
    if not isinstance(c, dict):
        raise ResultFileError("not an object")
    if name == "pit":
        edges, dens = _floats(c["edges"], where), _floats(c["density"], where)
        if len(edges) != len(dens) + 1:
            raise ResultFileError("needs len(edges) == len(density) + 1")
        return {"edges": edges, "density": dens}
    if name == "reliability":
        r = {"levels": _floats(c["levels"], where), "observed": _floats(c["observed"], where)}
        _same_len(where, *r.values())
        return r
    if name == "qq":
        r = {k: _floats(c[k], where) for k in ("p", "reference", "retrieved")}
        _same_len(where, *r.values())
        return r
    if name == "return_levels":
        periods = _floats(c["periods"], where)
        r = {"periods": periods}
        for side in ("reference", "retrieved"):
            s = c[side]
            r[side] = {k: _floats(s.get(k, [None] * len(periods)), where)
                       for k in ("level", "ci_low", "ci_high")}
            _same_len(where, periods, *r[side].values())
        return r
    if name == "scaling":
        warming = _floats(c["warming"], where)
        r = {"warming": warming}
        for side in ("reference", "retrieved"):
            s = c[side]
            r[side] = {k: _floats(v, where) for k, v in s.items()}
            _same_len(where, warming, *r[side].values())
        return r
    if name == "by_intensity":
        bins = [str(b) for b in c["bins"]]
        r = {"bins": bins}
        for k, v in c.items():
            if k != "bins":
                r[str(k)] = _floats(v, where)
                _same_len(where, bins, r[str(k)])
        return r
    return c  # an unknown curve: kept, not plotted


def _examples(block: Any, warn: list[str], where: str) -> list[dict[str, Any]]:
    if block is None:
        return []
    if not isinstance(block, list):
        warn.append(f"{where} is not a list; examples ignored")
        return []
    out = []
    for i, ex in enumerate(block[:3]):
        try:
            fields = {}
            for k in ("reference", "median", "q99"):
                rows = ex.get(k) if k == "q99" else ex[k]
                if rows is None:  # point-only submissions carry no 99th percentile
                    continue
                if (not isinstance(rows, list) or not rows
                        or not all(isinstance(r, list) for r in rows)):
                    raise ResultFileError(f"{k} is not a 2-D list")
                fields[k] = [_floats(r, where) for r in rows]
                if len({len(r) for r in fields[k]}) != 1:
                    raise ResultFileError(f"{k} has ragged rows")
            shapes = {(len(f), len(f[0])) for f in fields.values()}
            if len(shapes) != 1:
                raise ResultFileError("reference, median and q99 differ in shape")
            out.append({"scene": _str(ex.get("scene"), str(i)), **fields})
        except (ResultFileError, TypeError, KeyError, AttributeError, IndexError) as exc:
            warn.append(f"{where}[{i}] ignored: {exc}")
    return out


def _groups(block: Any, warn: list[str], where: str) -> dict[str, dict[str, dict]]:
    if block is None:
        return {}
    try:
        if not isinstance(block, dict):
            raise ResultFileError("not an object")
        return {
            str(dim): {str(label): _scores(s, f"{where}.{dim}.{label}")
                       for label, s in labels.items()}
            for dim, labels in block.items()
        }
    except (ResultFileError, AttributeError) as exc:
        warn.append(f"{where} ignored: {exc}")
        return {}


def _worst(block: Any, warn: list[str], where: str) -> dict[str, dict]:
    if block is None:
        return {}
    try:
        return {
            str(m): {"dim": str(w["dim"]), "label": str(w["label"]),
                     "value": _num(w.get("value"), where)}
            for m, w in block.items()
        }
    except (ResultFileError, TypeError, KeyError, AttributeError) as exc:
        warn.append(f"{where} ignored: {exc}")
        return {}


def _forecast(block: Any) -> dict:
    """What was scored (kind, levels, admissible, reason); ``{}`` when absent or malformed."""
    if not isinstance(block, dict):
        return {}
    levels = block.get("levels")
    return {
        "kind": _str(block.get("kind")),
        "levels": [float(v) for v in levels if isinstance(v, int | float)]
        if isinstance(levels, list) else None,
        "admissible": block.get("admissible") if isinstance(block.get("admissible"), bool)
        else None,
        "reason": block.get("reason") if isinstance(block.get("reason"), str) else None,
    }


def _replicates(block: Any, warn: list[str], where: str) -> dict[str, dict]:
    """Bootstrap replicates per unit (``tailshift.metrics.paired``); a malformed unit or metric is
    dropped with a warning (the leaderboard then falls back to the marginal CIs for it)."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        warn.append(f"{where} is not an object; replicates ignored")
        return {}
    out: dict[str, dict] = {}
    for unit, u in block.items():
        try:
            if not isinstance(u, dict):
                raise ResultFileError("not an object")
            seed, n, ms = u.get("seed"), u.get("n"), u.get("metrics")
            for key, x in (("seed", seed), ("n", n)):
                if not isinstance(x, int) or isinstance(x, bool):
                    raise ResultFileError(f"{key} is not an integer")
            if n < 1:
                raise ResultFileError("n must be at least 1")
            if not isinstance(ms, dict):
                raise ResultFileError("metrics is not an object")
        except ResultFileError as exc:
            warn.append(f"{where}.{unit} ignored: {exc}")
            continue
        metrics: dict[str, list[float | None]] = {}
        for m, values in ms.items():
            try:
                v = _floats(values, f"{where}.{unit}.metrics.{m}")
                if len(v) != n:
                    raise ResultFileError(f"has {len(v)} values, n is {n}")
                metrics[str(m)] = v
            except ResultFileError as exc:
                warn.append(f"{where}.{unit}.metrics.{m} ignored: {exc}")
        out[str(unit)] = {"seed": seed, "n": n, "metrics": metrics}
    return out


def _check_version(raw: Any) -> int:
    if not isinstance(raw, dict):
        raise ResultFileError("not a JSON object")
    version = raw.get("schema_version")
    if version == 1:
        raise ResultFileError(
            "scored under protocol 1 (level-dependent CRPS, clipped SEDI, pooled trends); " +
            "rescore it with 'tailshift submit' or 'tailshift score'")
    if version != SUPPORTED_SCHEMA_VERSION:
        raise ResultFileError(
            f"schema_version is {version!r}, this leaderboard reads {SUPPORTED_SCHEMA_VERSION}; " +
            "not a TailShift result file"
        )
    return version


def _metrics(metrics_raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(metrics_raw, dict):
        raise ResultFileError("metrics must be an object")
    metrics = {}
    for m, spec in metrics_raw.items():
        spec = spec if isinstance(spec, dict) else {}
        hib = spec.get("higher_is_better")
        metrics[str(m)] = {
            "family": _str(spec.get("family")),
            "units": _str(spec.get("units")),
            "description": _str(spec.get("description")),
            "higher_is_better": hib if isinstance(hib, bool) else None,
            "target": _num(spec.get("target"), f"metrics.{m}.target"),
        }
    return metrics


def _role(r: Any, warn: list[str], where: str) -> dict[str, Any]:
    if not isinstance(r, dict):
        raise ResultFileError(f"{where} must be an object")
    channels = r.get("channels") or []
    return {
        "n_scenes": r.get("n_scenes") if isinstance(r.get("n_scenes"), int) else None,
        "n_pixels": r.get("n_pixels") if isinstance(r.get("n_pixels"), int) else None,
        "channels": [str(c) for c in channels] if isinstance(channels, list) else [],
        "forecast": _forecast(r.get("forecast")),
        "scores": _scores(r.get("scores"), f"{where}.scores"),
        "undefined": {str(k): str(v) for k, v in (r.get("undefined") or {}).items()}
        if isinstance(r.get("undefined"), dict) else {},
        "groups": _groups(r.get("groups"), warn, f"{where}.groups"),
        "worst_group": _worst(r.get("worst_group"), warn, f"{where}.worst_group"),
        "curves": _curves(r.get("curves"), warn, f"{where}.curves"),
        "examples": _examples(r.get("examples"), warn, f"{where}.examples"),
        "replicates": _replicates(r.get("replicates"), warn, f"{where}.replicates"),
    }


def normalise(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Check and normalise the content of one result file.

    Returns
    -------
    (data, warnings)
        The normalised result and the cosmetic problems met (optional parts dropped).

    Raises
    ------
    ResultFileError
        If the content is not a usable result (see the module docstring).
    """
    version = _check_version(raw)
    warn: list[str] = []
    sub = raw.get("submission")
    if not isinstance(sub, dict) or not isinstance(sub.get("name"), str) or not sub["name"].strip():
        raise ResultFileError("submission.name is missing or empty")
    split = raw.get("split")
    if (not isinstance(split, dict) or not isinstance(split.get("name"), str)
            or not split["name"].strip()):
        raise ResultFileError("split.name is missing or empty")
    sources = sub.get("training_sources") or []
    if not isinstance(sources, list):
        raise ResultFileError("submission.training_sources must be a list")
    dataset = raw.get("dataset") if isinstance(raw.get("dataset"), dict) else {}
    metrics = _metrics(raw.get("metrics") or {})
    roles_raw = raw.get("roles")
    if not isinstance(roles_raw, dict) or not roles_raw:
        raise ResultFileError("roles is missing or empty: the file holds no scores")
    roles = {str(role): _role(r, warn, f"roles.{role}") for role, r in roles_raw.items()}
    data = {
        "schema_version": version,
        "created_by": _str(raw.get("created_by")),
        "submission": {
            "name": sub["name"],
            "model": _str(sub.get("model")),
            "description": _str(sub.get("description")),
            "training_sources": sorted({str(s) for s in sources}),
            "code_hash": None if sub.get("code_hash") is None else str(sub["code_hash"]),
            "baseline": None if sub.get("baseline") is None else str(sub["baseline"]),
        },
        "split": {"name": split["name"], "hash": _str(split.get("hash"))},
        "dataset": {k: _str(dataset.get(k)) for k in ("checksum", "preset", "generator_version")},
        "metrics": metrics,
        "roles": roles,
        "gap": _scores(raw.get("gap"), "gap"),
    }
    return data, warn


def load_result(path: Path, rel: str) -> LoadedResult | Skipped:
    """Read one file; return a :class:`LoadedResult` or a :class:`Skipped` — never raise.

    ``rel`` (the path relative to the results folder) names the file in reasons and warnings,
    so the site does not depend on where the results folder lies.
    """
    try:
        raw = read_result(path)
    except Exception as exc:  # the scorer's validator: any error means "skip"
        return Skipped(rel, str(exc).replace(str(path), rel))
    try:
        data, warn = normalise(raw)
    except (ResultFileError, TypeError, AttributeError, KeyError) as exc:
        return Skipped(rel, str(exc))
    return LoadedResult(rel, data, warn)


def collect(results_dir: Path,
            exclude: Path | None = None) -> tuple[list[LoadedResult], list[Skipped]]:
    """Read every ``*.json`` under ``results_dir`` in path order.

    Hidden files and folders (e.g. the scorer's temporary files) are ignored, and so is
    ``exclude`` (the site folder, should it lie inside the results folder). A second file for
    the same (split, submission name) is skipped as a duplicate; the first in path order is kept.
    """
    loaded: list[LoadedResult] = []
    skipped: list[Skipped] = []
    seen: dict[tuple[str, str], str] = {}
    ex = exclude.resolve() if exclude is not None else None
    paths = sorted(p for p in results_dir.rglob("*.json")
                   if not any(part.startswith(".") for part in p.relative_to(results_dir).parts)
                   and not (ex is not None and ex in p.resolve().parents))
    for path in paths:
        rel = path.relative_to(results_dir).as_posix()
        if not path.is_file():
            continue
        res = load_result(path, rel)
        if isinstance(res, Skipped):
            skipped.append(res)
            continue
        key = (res.data["split"]["name"], res.data["submission"]["name"])
        if key in seen:
            skipped.append(Skipped(rel, f"duplicate of {seen[key]}: same submission " +
                                        f"{key[1]!r} on split {key[0]!r}; remove one of them"))
            continue
        seen[key] = rel
        loaded.append(res)
    return loaded, skipped
