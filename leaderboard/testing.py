"""Fake result files (schema version 2, ``benchmark/results.py``), for tests and demos.

:func:`write_fake_results` writes a small, internally consistent set: several submissions, two
splits, both evaluation roles, grouped scores with the worst group, every curve kind and example
scenes. The numbers are random but shaped like real ones (the OOD role is worse than the ID role,
the tails of the retrieved distribution are too light, scaling rates scatter around the
Clausius–Clapeyron 7 %/K of docs/world.md, Warming path). Nothing here is a measurement.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from tailshift.benchmark.results import slugify
from tailshift.leaderboard.columns import badness
from tailshift.schema import EVAL_ROLES, REGIMES, SURFACES

#: Metric metadata as the scorer writes it (registry names; directions per issue 5).
FAKE_METRICS = {
    "crps": {"family": "probabilistic", "units": "mm h-1", "higher_is_better": False,
             "target": None,
             "description": "Continuous ranked probability score (from quantiles)"},
    "twcrps_10": {"family": "probabilistic", "units": "mm h-1", "higher_is_better": False,
                  "target": None, "description": "Threshold-weighted CRPS, v(x)=max(x, 10 mm/h)"},
    "sedi_p99": {"family": "detection", "units": "1", "higher_is_better": True, "target": None,
                 "description": "Symmetric extremal dependence index at the reference P99"},
    "rl_ratio_10": {"family": "tails", "units": "1", "higher_is_better": None, "target": 1.0,
                    "description": "10-year return level, retrieved / reference (GEV, L-moments)"},
    "scaling_error_p999": {"family": "trends", "units": "% K-1", "higher_is_better": None,
                           "target": 0.0,
                           "description": "P99.9 scaling with warming, retrieved - reference"},
    "scaling_in_cmip_range_p999": {"family": "trends", "units": "1", "higher_is_better": True,
                                   "target": None,
                                   "description": "P99.9 scaling inside the climate-model range"},
    "eff_resolution": {"family": "spatial", "units": "km", "higher_is_better": False,
                       "target": None,
                       "description": "Effective resolution (coherence above 1/sqrt 2)"},
    "bias_rel": {"family": "point", "units": "%", "higher_is_better": None, "target": 0.0,
                 "description": "Relative bias of the mean"},
    "mae": {"family": "point", "units": "mm h-1", "higher_is_better": False, "target": None,
            "description": "Mean absolute error"},
}

DEFAULT_NAMES = (
    "quantile-unet",
    "quantile-unet-twcrps",
    "hybrid-unet",
    "gbrt",
    "climatology",
)
DEFAULT_SPLITS = ("temporal", "regime")
INTENSITY_BINS = ("0.2-1", "1-10", "10-50", ">50")


def _score(rng: np.random.Generator, value: float, rel_width: float = 0.06) -> dict:
    half = abs(value) * rel_width * rng.uniform(0.5, 1.5) + 1e-3
    return {"value": round(value, 5), "ci_low": round(value - half, 5),
            "ci_high": round(value + half, 5)}


#: Metrics reported per group (and with a worst group) in the fake results.
_GROUPED = ("crps", "twcrps_10", "sedi_p99", "mae", "bias_rel")


def _groups(rng: np.random.Generator, values: dict[str, float]) -> dict[str, dict]:
    groups: dict[str, dict] = {"regime": {}, "surface_type": {}, "intensity_bin": {}}
    for dim, labels in (("regime", REGIMES), ("surface_type", SURFACES),
                        ("intensity_bin", INTENSITY_BINS)):
        for label in labels:
            f = rng.uniform(0.6, 1.6)
            groups[dim][label] = {
                m: _score(rng, v * f if m not in ("bias_rel", "scaling_error_p999")
                          else v + rng.normal(0, 3))
                for m, v in values.items() if m in _GROUPED}
    return groups


def _worst(groups: dict[str, dict]) -> dict[str, dict]:
    """The worst group of each grouped metric (the largest badness; the first on a tie)."""
    worst = {}
    for m in _GROUPED:
        spec = FAKE_METRICS[m]
        best_key = None
        for dim, labels in groups.items():
            for label, s in labels.items():
                v = s[m]["value"]
                key = badness(v, spec)
                if best_key is None or key > best_key[0]:
                    best_key = (key, dim, label, v)
        worst[m] = {"dim": best_key[1], "label": best_key[2], "value": best_key[3]}
    return worst


def _calibration_curves(rng: np.random.Generator, ood: bool, degrade: float) -> dict:
    edges = list(np.linspace(0, 1, 11))
    wave = (0.3 if ood else 0.1) * np.cos(np.linspace(0, np.pi, 10))
    dens = list(np.clip(1 + rng.normal(0, 0.15, 10) + wave, 0, None))
    levels = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
    observed = [min(1.0, max(0.0, lv + rng.normal(-0.02 * degrade, 0.02))) for lv in levels]
    return {
        "pit": {"edges": [round(e, 3) for e in edges],
                "density": [round(float(d), 4) for d in dens]},
        "reliability": {"levels": levels, "observed": [round(o, 4) for o in observed]},
    }


def _tail_curves(values: dict[str, float], skill: float, degrade: float) -> dict:
    p = [0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999]
    ref_q = [2.0 * (-np.log(1 - pi)) ** 1.4 for pi in p]
    tail = 0.85 / degrade * skill ** 0.2
    ret_q = [q * tail ** (i / 3) for i, q in enumerate(ref_q)]
    periods = [2, 5, 10, 20, 50, 100]
    ref_rl = [40 + 15 * np.log(T) for T in periods]
    ret_rl = [r * values["rl_ratio_10"] for r in ref_rl]

    def band(levels: list[float]) -> dict:
        return {"level": [round(r, 2) for r in levels],
                "ci_low": [round(r * 0.9, 2) for r in levels],
                "ci_high": [round(r * 1.12, 2) for r in levels]}

    return {
        "qq": {"p": p, "reference": [round(q, 3) for q in ref_q],
               "retrieved": [round(q, 3) for q in ret_q]},
        "return_levels": {"periods": periods, "reference": band(ref_rl),
                          "retrieved": band(ret_rl)},
    }


def _scaling_curve(rng: np.random.Generator, ood: bool, scal_err: float) -> dict:
    warming = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0] if ood else [0.0, 0.3, 0.6, 0.9]

    def scaled(base: float, rate: float) -> list[float]:
        return [round(base * (1 + rate / 100) ** w * rng.uniform(0.98, 1.02), 4) for w in warming]

    return {"warming": warming,
            "reference": {"mean": scaled(0.3, 2.5), "p99": scaled(12, 7.5),
                          "p999": scaled(40, 9.0)},
            "retrieved": {"mean": scaled(0.28, 2.2), "p99": scaled(10, 6.0),
                          "p999": scaled(32, 9.0 + scal_err)}}


def _examples(rng: np.random.Generator, size: int) -> list[dict]:
    yy, xx = np.mgrid[0:size, 0:size]
    examples = []
    for s in range(2):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 6) ** 2))
        ref = 30 * blob * rng.lognormal(0, 0.3, (size, size))
        med = 0.7 * ref + rng.normal(0, 0.3, ref.shape)
        q99 = 1.6 * ref + 1
        examples.append({"scene": int(rng.integers(1000, 9999)) + s,
                         **{k: np.round(np.clip(v, 0, None), 2).tolist()
                            for k, v in (("reference", ref), ("median", med), ("q99", q99))}})
    return examples


def _role_block(rng: np.random.Generator, skill: float, ood: bool, size: int) -> dict:
    degrade = 1.35 if ood else 1.0
    crps = 0.30 * degrade / skill * rng.uniform(0.9, 1.1)
    scal_err = rng.normal(-2.5 if ood else -1.0, 1.5) / skill
    ret_p999 = 7.0 + scal_err
    values = {
        "crps": crps,
        "twcrps_10": crps * 0.45 * degrade,
        "sedi_p99": min(0.95, 0.55 * skill / degrade),
        "rl_ratio_10": 1.0 - 0.25 * degrade / skill + rng.normal(0, 0.03),
        "scaling_error_p999": scal_err,
        "eff_resolution": 18.0 * degrade / skill,
        "bias_rel": rng.normal(-5 * degrade, 3),
        "mae": crps * 1.7,
    }
    scores = {m: _score(rng, v) for m, v in values.items()}
    scores["scaling_in_cmip_range_p999"] = {"value": bool(7.0 <= ret_p999 <= 14.0),
                                            "ci_low": None, "ci_high": None}
    # the random draws keep this order (scores, groups, calibration, examples, scaling), so a
    # seed gives the same fake result as before
    groups = _groups(rng, values)
    calibration = _calibration_curves(rng, ood, degrade)
    examples = _examples(rng, size)
    curves = {
        **calibration, **_tail_curves(values, skill, degrade),
        "scaling": _scaling_curve(rng, ood, scal_err),
        "by_intensity": {"bins": list(INTENSITY_BINS),
                         "mae": [round(crps * f, 4) for f in (0.5, 1.5, 6, 20)],
                         "bias_rel": [round(b, 2) for b in (15, -5, -20, -40)]},
    }
    return {
        "n_scenes": 120 if ood else 200,
        "n_pixels": (120 if ood else 200) * size * size,
        "channels": ["10.65V", "10.65H", "18.7V", "18.7H", "36.64V", "36.64H", "89.0V", "89.0H"],
        "scores": scores,
        "groups": groups,
        "worst_group": _worst(groups),
        "curves": curves,
        "examples": examples,
    }


def fake_result(name: str, split: str, *, seed: int = 0, sources: tuple[str, ...] = ("obs",),
                roles: tuple[str, ...] = EVAL_ROLES, skill: float = 1.0, size: int = 24,
                curves: bool = True) -> dict:
    """One result (schema version 2) as a ``dict`` (see the module docstring).

    ``curves=False`` leaves out ``curves`` and ``examples`` (as for a point-only model; no plots).
    """
    rng = np.random.default_rng(seed)
    roles_block = {r: _role_block(rng, skill, r.startswith("ood"), size) for r in roles}
    if not curves:
        for block in roles_block.values():
            block.pop("curves")
            block.pop("examples")
    out = {
        "schema_version": 2,
        "created_by": "tailshift 0.1.0",
        "submission": {"name": name, "model": f"baselines/{slugify(name)}",
                       "description": f"Fake submission {name} for tests",
                       "training_sources": list(sources), "code_hash": f"{seed:08x}",
                       "baseline": None},
        "split": {"name": split,
                  "hash": "sha256:" + hashlib.sha256(split.encode()).hexdigest()[:16]},
        "dataset": {"checksum": "sha256:0123456789abcdef", "preset": "quick",
                    "generator_version": "1"},
        "metrics": FAKE_METRICS,
        "roles": roles_block,
    }
    if "id_test" in roles_block and "ood_test" in roles_block:
        gap = {}
        for m, s in roles_block["ood_test"]["scores"].items():
            a, b = s["value"], roles_block["id_test"]["scores"][m]["value"]
            if isinstance(a, bool):
                continue
            half = 0.5 * ((s["ci_high"] - s["ci_low"]) ** 2
                          + (roles_block["id_test"]["scores"][m]["ci_high"]
                             - roles_block["id_test"]["scores"][m]["ci_low"]) ** 2) ** 0.5
            gap[m] = {"value": round(a - b, 5), "ci_low": round(a - b - half, 5),
                      "ci_high": round(a - b + half, 5)}
        out["gap"] = gap
    return out


def write_fake_results(results_dir: str | Path, names: tuple[str, ...] = DEFAULT_NAMES,
                       splits: tuple[str, ...] = DEFAULT_SPLITS, seed: int = 0,
                       size: int = 24, curves: bool = True) -> list[Path]:
    """Write ``len(names) x len(splits)`` result files to ``<results_dir>/<split>/<slug>.json``.

    The split hash is a fake but stable digest of the split name.
    """
    results_dir = Path(results_dir)
    paths = []
    for j, split in enumerate(splits):
        for i, name in enumerate(names):
            src = ("obs", "sim") if "hybrid" in name else ("obs",)
            res = fake_result(name, split, seed=seed + 100 * j + i, sources=src,
                              skill=1.4 - 0.15 * i, size=size, curves=curves)
            path = results_dir / split / f"{slugify(name)}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=1), encoding="utf-8")
            paths.append(path)
    return paths
