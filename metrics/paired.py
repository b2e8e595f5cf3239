"""Paired bootstrap differences between two submissions scored on the same data.

Why the replicates are paired
-----------------------------
The scorer's bootstrap (:mod:`tailshift.metrics.bootstrap`) is a Poisson bootstrap (Hanley & MacGibbon
2006; Chamandy et al. 2012): in replicate ``b`` every scene (or region-year block) ``u`` gets the
weight ``w ~ Poisson(1)`` that is a *pure function* of ``(seed, u, b)``. Two submissions scored
on the same split and dataset, with the same seed and number of replicates, therefore see
**the same resampled scenes with the same weights in replicate b**. Replicate ``b`` of
submission A and replicate ``b`` of submission B are one draw of the pair ``(score_A, score_B)``,
so the replicate differences ``A_b - B_b`` are bootstrap draws of the difference ``A - B``
(the two-sample / paired comparison of Efron & Tibshirani 1993, *An Introduction to the
Bootstrap*, ch. 16: resample the units once and compute both statistics on the same resample).

Their percentile interval accounts for the positive correlation of the two scores (a hard scene
is hard for every model), which the independent combination of two marginal CIs,
``d +- z sqrt(se_A^2 + se_B^2)``, ignores: that combination is valid only for independent
samples and is far too wide for correlated ones.

Result-file content used (written by the scorer, optional)
----------------------------------------------------------
``roles.<role>.replicates``::

    {"scene": {"seed": 0, "n": 200, "metrics": {"crps": [v_1, ..., v_n], ...}},
     "block": {"seed": 7919, "n": 200, "metrics": {"rl_ratio_10": [...], ...}}}

``v_b`` is the metric on bootstrap replicate ``b`` (``null``: undefined on that replicate);
replicate 0, the full sample, is ``roles.<role>.scores.<metric>.value``. "scene" replicates
resample scenes, "block" replicates resample region-year blocks (tail metrics).

When two roles are paired
-------------------------
Same unit, same seed, same ``n``, same ``n_scenes`` of the role, and scored on the same split and
dataset. The role blocks do not say which split and dataset they belong to, so the caller passes
an identity for each (``split_a``, ``split_b``): any value compared with ``==``, normally
:func:`data_identity` of the result file, i.e. ``(split.hash, dataset.checksum)``. When both are
given and differ, the roles cannot be paired; when neither is given, that check is the caller's
(the leaderboard compares submissions of one split and passes them).

Pure functions of plain dicts (a result file as read by :func:`json.load`, or as normalised by
:mod:`tailshift.leaderboard.reader`); numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from statistics import NormalDist
from typing import Any

import numpy as np

#: Units of replicates, in the order in which :func:`replicates_of` looks for a metric.
UNITS = ("scene", "block")
#: Level of the marginal CIs in result files (for the independent fallback).
MARGINAL_LEVEL = 0.95

__all__ = ["UNITS", "compare_results", "data_identity", "paired_difference", "percentile",
           "replicates_of"]


def data_identity(result: Mapping) -> tuple[str, str]:
    """``(split hash, dataset checksum)`` of a result file: what ``split_a``/``split_b`` expect."""
    split = result.get("split") or {}
    dataset = result.get("dataset") or {}
    return str(split.get("hash") or ""), str(dataset.get("checksum") or "")


def replicates_of(role: Mapping | None, metric: str) -> tuple[str, int, int, np.ndarray] | None:
    """The bootstrap replicates of ``metric`` in a role block.

    Returns
    -------
    (unit, seed, n, values) or None
        ``values`` is a float array of length ``n`` (replicates 1..n, NaN where the file has
        ``null``). ``None`` when the role carries no replicates of ``metric``. A metric listed
        under several units is taken from the first of :data:`UNITS` (then other units, sorted).

    Raises
    ------
    ValueError
        If the replicates are malformed (``seed``/``n`` not integers, a list whose length is not
        ``n``, a value that is not a number or null).
    """
    reps = (role or {}).get("replicates")
    if not isinstance(reps, Mapping):
        return None
    units = [u for u in UNITS if u in reps] + sorted(u for u in reps if u not in UNITS)
    for unit in units:
        block = reps[unit]
        if not isinstance(block, Mapping):
            continue
        metrics = block.get("metrics")
        if not isinstance(metrics, Mapping) or metrics.get(metric) is None:
            continue
        seed, n, values = block.get("seed"), block.get("n"), metrics[metric]
        for key, x in (("seed", seed), ("n", n)):
            if not isinstance(x, int) or isinstance(x, bool):
                raise ValueError(f"replicates.{unit}.{key} is not an integer: {x!r}")
        if not isinstance(values, list | tuple) or len(values) != n:
            got = len(values) if isinstance(values, list | tuple) else type(values).__name__
            raise ValueError(f"replicates.{unit}.metrics.{metric} must be a list of n={n} " +
                             f"values, got {got}")
        if any(isinstance(v, bool) or not (v is None or isinstance(v, int | float))
               for v in values):
            raise ValueError(f"replicates.{unit}.metrics.{metric} holds a value that is not a " +
                             "number or null")
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        arr[~np.isfinite(arr)] = np.nan
        return str(unit), seed, n, arr
    return None


def percentile(values: Iterable[float], p: float) -> float:
    """``np.percentile(values, 100 * p)`` (numpy's default 'linear' method), NaNs dropped.

    Sorted values ``x``, index ``h = (n - 1) p``, ``x[floor h] + (h - floor h)(x[ceil h] -
    x[floor h])``. ``static/compare.js`` implements the same operations.
    """
    v = np.asarray(list(values), dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(np.percentile(v, 100 * p))


def _full_value(role: Mapping | None, metric: str, which: str) -> float:
    scores = (role or {}).get("scores") or {}
    s = scores.get(metric)
    v = s.get("value") if isinstance(s, Mapping) else s
    if v is None or isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{which} has no numeric full-sample value of {metric!r}")
    return float(v)


def paired_difference(role_a: Mapping, role_b: Mapping, metric: str, level: float = 0.95,
                      target: float | None = None, split_a: Any = None,
                      split_b: Any = None) -> dict:
    """Paired bootstrap difference A - B of ``metric`` between two role blocks.

    Parameters
    ----------
    role_a, role_b
        ``roles.<role>`` blocks of two result files (same role).
    metric
        Registry name of the metric.
    level
        Level of the percentile interval.
    target
        For a metric with a target value (e.g. ``rl_ratio_10``, target 1): compare the
        "badness" ``|v - target|`` instead of ``v``, on the full sample and on every replicate.
    split_a, split_b
        Identity of the data each role was scored on, compared with ``==`` (normally
        :func:`data_identity` of each result file: split hash and dataset checksum). Give both
        or neither; with neither, the caller vouches that the split and dataset are the same.

    Returns
    -------
    dict
        ``value`` (A - B on the full sample), ``ci_low``, ``ci_high`` (percentiles
        ``(1 - level)/2`` and ``1 - (1 - level)/2`` of the replicate differences, numpy's
        default linear percentile), ``n`` (replicates used: those where both are defined),
        ``paired`` (True), and ``unit``, ``seed``.

    Raises
    ------
    ValueError
        If the two cannot be paired, with the reason: replicates missing, different unit, seed
        or ``n``, different ``n_scenes``, different split/dataset identity, no replicate defined
        for both, or no full-sample value.
    """
    if (split_a is None) != (split_b is None):
        raise TypeError("give both split_a and split_b, or neither")
    if split_a is not None and split_a != split_b:
        raise ValueError(f"scored on different data (split/dataset {split_a!r} vs {split_b!r})")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    ra, rb = replicates_of(role_a, metric), replicates_of(role_b, metric)
    missing = [w for w, r in (("A", ra), ("B", rb)) if r is None]
    if missing:
        raise ValueError(f"no bootstrap replicates of {metric!r} for {' and '.join(missing)}")
    (unit_a, seed_a, n_a, va), (unit_b, seed_b, n_b, vb) = ra, rb
    for what, x, y in (("unit", unit_a, unit_b), ("seed", seed_a, seed_b), ("n", n_a, n_b)):
        if x != y:
            raise ValueError(f"replicates of {metric!r} not paired: different {what} " +
                             f"({x!r} vs {y!r})")
    sa, sb = (role_a or {}).get("n_scenes"), (role_b or {}).get("n_scenes")
    if sa != sb:
        raise ValueError(f"replicates of {metric!r} not paired: different n_scenes ({sa} vs {sb})")
    a, b = _full_value(role_a, metric, "A"), _full_value(role_b, metric, "B")
    if target is not None:
        a, b = abs(a - target), abs(b - target)
        va, vb = np.abs(va - target), np.abs(vb - target)
    d = va - vb
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError(f"no bootstrap replicate of {metric!r} is defined for both")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(d, [100 * alpha, 100 * (1 - alpha)])
    return {"value": a - b, "ci_low": float(lo), "ci_high": float(hi), "n": int(d.size),
            "paired": True, "unit": unit_a, "seed": seed_a}


def _independent(sa: Any, sb: Any, target: float | None, level: float) -> tuple[float, Any, Any]:
    """A - B with the normal-approximation CI of two independent marginal CIs (the fallback)."""
    def parts(s):
        if not isinstance(s, Mapping):
            return s, None, None
        return s.get("value"), s.get("ci_low"), s.get("ci_high")

    (a, la, ha), (b, lb, hb) = parts(sa), parts(sb)
    d = abs(a - target) - abs(b - target) if target is not None else a - b
    if None in (la, ha, lb, hb):
        return d, None, None
    z95 = NormalDist().inv_cdf(1 - (1 - MARGINAL_LEVEL) / 2)
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    # SE of each score from its CI width; for |v - target| the same SE (delta method, away
    # from the target)
    h = z * math.hypot((ha - la) / (2 * z95), (hb - lb) / (2 * z95))
    return d, d - h, d + h


def _numeric(role: Mapping | None, m: str) -> bool:
    try:
        _full_value(role, m, "")
    except ValueError:
        return False
    return True


def compare_results(result_a: Mapping, result_b: Mapping, role: str = "ood_test",
                    metrics: Iterable[str] | None = None, level: float = 0.95) -> list[dict]:
    """Compare two result files metric by metric: A - B with a CI and a verdict.

    Uses :func:`paired_difference` where both files carry paired replicates of the metric for
    ``role`` (rule ``"paired"``); otherwise the independent normal approximation of the two
    marginal 95% CIs, ``d +- z sqrt(se_A^2 + se_B^2)`` with ``se = (hi - lo) / (2 * 1.96)``
    (rule ``"independent"``, too wide when the scores are correlated; ``reason`` says why the
    pairing failed).

    ``metrics``: names to compare (default: every metric with a numeric value in both roles,
    in the order of ``result_a``). Directions come from ``result["metrics"][m]``
    (``higher_is_better``; ``target``). For a metric with a target, ``difference`` and the CI are
    of the distance to the target, ``|A - t| - |B - t|`` (negative: A closer).

    Returns
    -------
    list of dict
        One row per metric: ``metric``, ``value_a``, ``value_b``, ``difference``, ``ci_low``,
        ``ci_high``, ``rule`` ("paired" or "independent"), ``verdict`` ("A better", "B better",
        "no difference"; "differs" for a metric without direction whose CI excludes 0),
        ``target``, ``n`` (paired replicates used, or None) and ``reason``.

    Raises
    ------
    ValueError
        If a requested metric has no numeric value in one of the two roles.
    KeyError
        If a result has no ``role``.
    """
    for w, r in (("A", result_a), ("B", result_b)):
        if role not in (r.get("roles") or {}):
            raise KeyError(f"result {w} has no role {role!r}")
    role_a, role_b = result_a["roles"][role], result_b["roles"][role]
    if metrics is None:
        names = [m for m in (role_a.get("scores") or {})
                 if _numeric(role_a, m) and _numeric(role_b, m)]
    else:
        names = list(metrics)
    ident_a, ident_b = data_identity(result_a), data_identity(result_b)
    rows = []
    for m in names:
        a, b = _full_value(role_a, m, "A"), _full_value(role_b, m, "B")
        spec = (result_a.get("metrics") or {}).get(m) or (result_b.get("metrics") or {}).get(m) or {}
        hib = spec.get("higher_is_better")
        target = spec.get("target") if hib is None else None
        reason = None
        try:
            p = paired_difference(role_a, role_b, m, level=level, target=target,
                                  split_a=ident_a, split_b=ident_b)
            d, lo, hi, rule, n = p["value"], p["ci_low"], p["ci_high"], "paired", p["n"]
        except ValueError as exc:
            reason = str(exc)
            d, lo, hi = _independent(role_a["scores"][m], role_b["scores"][m], target, level)
            rule, n = "independent", None
        verdict = "no difference"
        if lo is not None and (lo > 0 or hi < 0):
            if hib is True:
                verdict = "A better" if lo > 0 else "B better"
            elif hib is False or target is not None:
                verdict = "A better" if hi < 0 else "B better"
            else:
                verdict = "differs"
        rows.append({"metric": m, "value_a": a, "value_b": b, "difference": d, "ci_low": lo,
                     "ci_high": hi, "rule": rule, "verdict": verdict, "target": target, "n": n,
                     "reason": reason})
    return rows
