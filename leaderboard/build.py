"""Build the static leaderboard site from result files (issue 5; DESIGN.md "Results").

``build_site(results_dir, out_dir)`` reads every ``*.json`` under ``results_dir`` (format v1,
``benchmark/results.py``), and writes a self-contained site that works from disk (``file://``),
offline, with nothing fetched from the network:

* ``index.html`` — one section per split: a sortable, filterable table of submissions with the
  headline scores (:data:`HEADLINE`) for ID test, OOD test and the gap (OOD − ID), each with its
  CI; the rank; the training sources; the split hash and dataset checksum;
* ``s/<split>/<submission>.html`` — every metric per role and per group (worst group marked), and
  plots rendered at build time (:mod:`tailshift.leaderboard.plots`, SVG);
* ``compare.html`` — pick two submissions of a split, see B − A with a CI: the paired bootstrap CI
  where both carry paired replicates of the metric and role, else an independent approximation;
* ``tailshift.leaderboard.json`` and ``tailshift.leaderboard.csv`` — the same numbers for machines;
* ``static/`` — the stylesheet and a little vanilla JS (sorting, filtering, comparison).

Decisions
---------
Ranking
    Submissions of a split are ranked by **OOD-test CRPS** (:data:`RANK_ROLE`,
    :data:`RANK_METRIC`): the benchmark is about out-of-distribution skill, and CRPS is the proper
    score that covers the whole predictive distribution. Rank of submission *i* =
    1 + the number of submissions significantly better than *i*. *j* is significantly better
    than *i* when the **paired bootstrap** 95% CI of their difference (in "badness" units: the
    value, its negative, or the distance to a target) lies entirely on *j*'s side of 0
    (:func:`tailshift.metrics.paired.paired_difference`; the scorer's hashed Poisson weights make the
    replicates of two submissions on the same split, dataset, seed and ``n`` paired). For a pair
    that cannot be paired (a file without replicates, another seed, ``n``, ``n_scenes``, split
    hash or dataset checksum) the old rule decides: *j*'s 95% CI lies entirely on the better side
    of *i*'s CI. "Better" is closed transitively (better than a submission that is better than
    *i* counts as better than *i*), so two submissions share a rank, shown as ``=k``, only when
    neither is significantly better than the other: their paired CI includes 0 (or, by the
    fallback, their CIs overlap). Each split's section says which rule ranked it
    (:func:`rank_note`). A submission without an OOD CRPS is unranked (``—``) and listed last. A
    missing CI is treated as the point value. A split without any OOD-test score (``iid``) is
    ranked by ID-test CRPS instead.
Directions
    Taken from the ``metrics`` section of the result files (``higher_is_better``, ``target``);
    where a file does not describe a headline metric, :data:`DEFAULT_SPECS` (issue 5) is used.
Bad files
    A malformed or foreign file is skipped and reported (listed on the index page, in
    ``tailshift.leaderboard.json`` and by the CLI); a malformed optional part (a curve, groups) is dropped
    with a warning shown on the submission page. A second file for the same (split, submission
    name) is skipped as a duplicate, the first in path order is kept. Nothing of that crashes
    the build.
Rebuilding
    The site is built in a temporary directory and renamed into place. An existing ``out_dir``
    that is a TailShift site (it holds :data:`SITE_MARKER`) is replaced without ``force`` so
    rebuilding is idempotent; any other existing path needs ``force=True``. Output is
    deterministic: no timestamps, sorted inputs, SVG with a fixed hash salt — building twice gives
    identical bytes.
Escaping
    Templates are rendered by jinja2 with autoescape on; data for the comparison page is embedded
    as JSON with ``<``, ``>`` and ``&`` escaped and inserted by JS with ``textContent`` only. A
    Content-Security-Policy meta tag allows scripts only from the site's own files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailshift.atomic import atomic_dir
from tailshift.errors import BadInputError
from tailshift.leaderboard.reader import LoadedResult, Skipped, load_result
from tailshift.metrics.paired import data_identity, paired_difference, replicates_of
from tailshift.schema import EVAL_ROLES

#: Headline metrics of the index table, in column order (registry names, issue 5).
HEADLINE = ("crps", "twcrps_10", "sedi_p99_calibrated", "rl_ratio_10", "scaling_error_p999",
            "scaling_consistent_p999", "eff_resolution")
#: Short column labels of the headline metrics.
LABELS = {
    "crps": "CRPS",
    "twcrps_10": "twCRPS₁₀",
    "sedi_p99_calibrated": "SEDI P99",
    "rl_ratio_10": "RL ratio 10",
    "scaling_error_p999": "P99.9 scaling err",
    "scaling_consistent_p999": "trend consistent",
    "eff_resolution": "eff. res.",
}
#: Fallback metric descriptions when a result file lacks them (directions from issue 5).
DEFAULT_SPECS = {
    "crps": {"higher_is_better": False, "target": None, "units": "mm h-1", "family": "probabilistic",
             "description": "CRPS"},
    "twcrps_10": {"higher_is_better": False, "target": None, "units": "mm h-1",
                  "family": "probabilistic", "description": "threshold-weighted CRPS above 10 mm/h"},
    "sedi_p99_calibrated": {"higher_is_better": True, "target": None, "units": "1",
                            "family": "detection",
                            "description": "SEDI at each field's own P99 (frequency-bias " +
                                           "corrected)"},
    "rl_ratio_10": {"higher_is_better": None, "target": 1.0, "units": "1", "family": "tails",
                    "description": "return level exceeded once in 10 region-year blocks, " +
                                   "retrieved / reference"},
    "scaling_error_p999": {"higher_is_better": None, "target": 0.0, "units": "% K-1",
                           "family": "trends", "description": "P99.9 scaling error"},
    "scaling_consistent_p999": {"higher_is_better": True, "target": None, "units": "1",
                                "family": "trends",
                                "description": "wet-pixel P99.9 scaling consistent with the " +
                                               "truth (error CI within 0.5 %/K of 0)"},
    "eff_resolution": {"higher_is_better": False, "target": None, "units": "km",
                       "family": "spatial", "description": "effective resolution"},
}
RANK_ROLE = "ood_test"
#: Fallback for splits without an OOD role (``iid``): rank by ID-test CRPS there.
RANK_ROLE_FALLBACK = "id_test"
RANK_METRIC = "crps"
RANK_RULE = ("by OOD-test CRPS (lower is better); =k marks a shared rank: rank = 1 + the number " +
             "of submissions significantly better, judged by the paired bootstrap 95% CI of the " +
             "difference where both result files carry paired replicates, else by " +
             "non-overlapping 95% CIs; so a tie means no significant difference.")
#: Column groups of the index table: the two evaluation roles and the gap.
#: OOD first: the ranking uses it and it is what the benchmark is about.
#: "all_test" (both test roles scored together, written by ``tailshift submit``) is where the
#: trend columns are most trustworthy: it spans the whole warming range of the split.
GROUPS = ({"key": "ood_test", "label": "OOD test"}, {"key": "id_test", "label": "ID test"},
          {"key": "gap", "label": "Gap (OOD − ID)"},
          {"key": "all_test", "label": "All test (ID ∪ OOD)"})
#: File that marks a directory as a site written by this builder (safe to replace on rebuild).
SITE_MARKER = ".tailshift-leaderboard"
GENERATOR = "tailshift leaderboard v1"
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class BuildReport:
    """What a build did: where the site is, which results were used and which were skipped."""

    out_dir: Path
    index: Path
    n_results: int
    splits: tuple[str, ...]
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# --- small helpers ------------------------------------------------------------------------------

def slug(text: str) -> str:
    """A file-name-safe slug: lower case, runs outside ``[a-z0-9]`` -> ``-``, trimmed."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:80] or "x"


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def fmt(v: Any) -> str:
    """Number for display: 3 significant digits, ``—`` for missing, yes/no for flags."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    v = float(v)
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 1000:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _sortkey(v: Any) -> str:
    if v is None:
        return ""
    return repr(float(v))


def _spec(specs: dict, m: str) -> dict:
    return specs.get(m) or DEFAULT_SPECS.get(m) or {"higher_is_better": None, "target": None,
                                                    "units": "", "family": "", "description": ""}


def _badness(v: float, spec: dict) -> float | None:
    """A number where smaller is better, or None when the metric has no direction."""
    if spec["higher_is_better"] is True:
        return -v
    if spec["higher_is_better"] is False:
        return v
    if spec.get("target") is not None:
        return abs(v - spec["target"])
    return None


def _interval(s: dict, spec: dict) -> tuple[float, float] | None:
    """The CI as (best end, worst end) in 'badness' units, for the tie rule."""
    v = s.get("value") if s else None
    if v is None or isinstance(v, bool):
        return None
    lo = s["ci_low"] if s.get("ci_low") is not None else v
    hi = s["ci_high"] if s.get("ci_high") is not None else v
    if spec["higher_is_better"] is True:
        return -hi, -lo
    if spec["higher_is_better"] is False:
        return lo, hi
    t = spec.get("target")
    if t is None:
        return None
    if lo <= t <= hi:
        return 0.0, max(abs(lo - t), abs(hi - t))
    return min(abs(lo - t), abs(hi - t)), max(abs(lo - t), abs(hi - t))


@dataclass(frozen=True)
class RankDetails:
    """Ranks and which rule judged the pairs: ``paired`` pairs by the paired bootstrap CI of
    their difference, ``overlap`` pairs by the marginal-CI overlap rule (no paired replicates;
    ``reasons`` says why, one line per distinct reason)."""

    ranks: list[int | None]
    paired: int = 0
    overlap: int = 0
    reasons: tuple[str, ...] = ()


def _better_paired(role_j: dict | None, role_i: dict | None, metric: str, spec: dict,
                   ident_j: Any, ident_i: Any) -> int:
    """+1 if j is significantly better than i by the paired CI, -1 if worse, 0 if not
    significant. Raises ValueError when the two cannot be paired."""
    hib = spec["higher_is_better"]
    target = spec.get("target") if hib is None else None
    d = paired_difference(role_j or {}, role_i or {}, metric, target=target,
                          split_a=ident_j, split_b=ident_i)
    lo, hi = (-d["ci_high"], -d["ci_low"]) if hib is True else (d["ci_low"], d["ci_high"])
    return 1 if hi < 0 else (-1 if lo > 0 else 0)  # badness of j - badness of i


def rank_details(scores: list[dict | None], spec: dict, roles: list[dict | None] | None = None,
                 metric: str = RANK_METRIC, identities: list[Any] | None = None) -> RankDetails:
    """Ranks with ties, by paired bootstrap differences where possible (module docstring).

    Parameters
    ----------
    scores
        The ranking score of each submission (``{"value", "ci_low", "ci_high"}`` or None).
    spec
        The metric's direction (``higher_is_better``, ``target``).
    roles
        The role block of each submission holding ``scores`` and, optionally, ``replicates``
        (:mod:`tailshift.metrics.paired`); None: no pairing, the overlap rule for every pair.
    metric
        The metric's name in the role blocks.
    identities
        The data each submission was scored on (:func:`tailshift.metrics.paired.data_identity`); pairs
        with different identities fall back to the overlap rule.
    """
    iv = [_interval(s, spec) if s else None for s in scores]
    n = len(iv)
    better = [[False] * n for _ in range(n)]  # better[j][i]: j significantly better than i
    n_paired = n_overlap = 0
    reasons: dict[str, None] = {}
    for i in range(n):
        for j in range(i + 1, n):
            if iv[i] is None or iv[j] is None:
                continue
            verdict = None
            if roles is not None:
                try:
                    verdict = _better_paired(roles[j], roles[i], metric, spec,
                                             None if identities is None else identities[j],
                                             None if identities is None else identities[i])
                except ValueError as exc:
                    reasons[str(exc)] = None
            if verdict is not None:
                n_paired += 1
                better[j][i], better[i][j] = verdict > 0, verdict < 0
            else:
                n_overlap += 1
                better[j][i], better[i][j] = iv[j][1] < iv[i][0], iv[i][1] < iv[j][0]
    for k in range(n):  # transitive closure (Warshall): a chain of significant differences
        for i in range(n):
            if better[i][k]:
                for j in range(n):
                    if better[k][j]:
                        better[i][j] = True
    ranks = [None if iv[i] is None else 1 + sum(1 for j in range(n) if j != i and better[j][i])
             for i in range(n)]
    return RankDetails(ranks, n_paired, n_overlap, tuple(reasons))


def rank_with_ties(scores: list[dict | None], spec: dict, roles: list[dict | None] | None = None,
                   metric: str = RANK_METRIC,
                   identities: list[Any] | None = None) -> list[int | None]:
    """Ranks with ties: ``rank_i = 1 + #{j significantly better than i}``; ``None`` for a missing
    score.

    Without ``roles`` (or for a pair without paired replicates), j is better than i when the
    worst end of CI_j is better than the best end of CI_i, so overlapping CIs tie. With
    ``roles`` carrying paired replicates, the paired bootstrap CI of the difference decides.
    See :func:`rank_details` and the module docstring.
    """
    return rank_details(scores, spec, roles, metric, identities).ranks


def rank_note(details: RankDetails, label: str) -> str:
    """One sentence for the page: which rule ranked the table (``label``: e.g. "OOD-test CRPS")."""
    p, o = details.paired, details.overlap
    if p + o == 0:
        return f"Ranked by {label}; fewer than two ranked submissions, nothing to compare."
    paired = (f"the paired bootstrap 95% CI of their difference in {label} (same scene " +
              "weights for both, so correlated errors cancel)")
    if o == 0:
        return (f"Ranked by paired bootstrap differences ({f'all {p} pairs' if p > 1 else '1 pair'}): " +
                f"two submissions share a rank only when {paired} includes 0.")
    overlap = f"their 95% CIs of {label} overlap (independent CIs: conservative)"
    if p == 0:
        return ("Ranked by overlapping CIs: the result files carry no paired bootstrap " +
                f"replicates, so two submissions share a rank when {overlap}.")
    return (f"Ranked by paired bootstrap differences for {p} of {p + o} pairs: a tie there " +
            f"means {paired} includes 0. The other {o} pair{'s' if o > 1 else ''} (replicates " +
            f"missing or not paired) tie when {overlap}.")


def _json_for_script(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["sortkey"] = _sortkey
    return env


# --- reading ------------------------------------------------------------------------------------

def collect(results_dir: Path, exclude: Path | None = None) -> tuple[list[LoadedResult], list[Skipped]]:
    """Read every ``*.json`` under ``results_dir`` in path order.

    Hidden files and folders (e.g. the scorer's temporary files) are ignored, and so is
    ``exclude`` (the site folder, should it lie inside the results folder).
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


# --- view models --------------------------------------------------------------------------------

def _score_of(data: dict, group: str, m: str) -> dict | None:
    if group == "gap":
        return data["gap"].get(m)
    role = data["roles"].get(group)
    return role["scores"].get(m) if role else None


def _unranked_reason(data: dict, role: str) -> str | None:
    """Why a submission is not ranked on ``role`` (its forecast is not admissible:
    metrics/levels.py), or None."""
    fc = (data["roles"].get(role) or {}).get("forecast") or {}
    if fc.get("admissible") is False:
        return fc.get("reason") or "the forecast is not admissible"
    return None


def _split_views(loaded: list[LoadedResult]) -> list[dict]:
    by_split: dict[str, list[LoadedResult]] = {}
    for res in loaded:
        by_split.setdefault(res.data["split"]["name"], []).append(res)
    anchors: set[str] = set()
    views = []
    for index, name in enumerate(sorted(by_split)):
        results = by_split[name]
        specs: dict[str, dict] = {}
        for res in results:
            for m, s in res.data["metrics"].items():
                specs.setdefault(m, s)
        specs = {**{m: DEFAULT_SPECS[m] for m in HEADLINE}, **specs}
        for m in HEADLINE:  # keep a description when the file left it empty
            if not specs[m].get("description"):
                specs[m] = {**specs[m], "description": DEFAULT_SPECS[m]["description"]}
        rank_role = RANK_ROLE
        if all(_score_of(r.data, RANK_ROLE, RANK_METRIC) is None for r in results):
            rank_role = RANK_ROLE_FALLBACK  # e.g. the iid split has no OOD role
        unranked = [_unranked_reason(r.data, rank_role) for r in results]
        rank_scores = [None if why else _score_of(r.data, rank_role, RANK_METRIC)
                       for r, why in zip(results, unranked, strict=True)]
        details = rank_details(rank_scores, _spec(specs, RANK_METRIC),
                               roles=[r.data["roles"].get(rank_role) for r in results],
                               metric=RANK_METRIC,
                               identities=[data_identity(r.data) for r in results])
        ranks = details.ranks
        role_label = "OOD-test" if rank_role == RANK_ROLE else "ID-test"
        note = rank_note(details, f"{role_label} {LABELS.get(RANK_METRIC, RANK_METRIC)}")
        order = sorted(range(len(results)), key=lambda i: (
            ranks[i] is None, ranks[i] or 0,
            (rank_scores[i] or {}).get("value") is None,
            (rank_scores[i] or {}).get("value") or 0.0,
            results[i].data["submission"]["name"]))
        anchor = _unique(slug(name), anchors)
        pages: set[str] = set()
        rows = []
        for i in order:
            d = results[i].data
            sub = d["submission"]
            r = ranks[i]
            shared = r is not None and sum(1 for x in ranks if x == r) > 1
            page = _unique(slug(sub["name"]), pages)
            rows.append({
                "name": sub["name"], "model": sub["model"], "sources": sub["training_sources"],
                "description": sub["description"],
                "rank": r,
                "rank_text": ("unranked" if unranked[i] else "—") if r is None else (
                    f"={r}" if shared else str(r)),
                "unranked": unranked[i],
                "rank_sort": "" if r is None else str(r),
                "page": page, "href": f"s/{anchor}/{page}.html",
                "search": " ".join([sub["name"], sub["model"], *sub["training_sources"]]).lower(),
                "result": results[i],
            })
        # best value per column
        best: dict[tuple[str, str], float] = {}
        for g in GROUPS:
            for m in HEADLINE:
                spec = _spec(specs, m)
                cands = []
                for row in rows:
                    s = _score_of(row["result"].data, g["key"], m)
                    v = None if s is None else s["value"]
                    if v is None or isinstance(v, bool):
                        continue
                    if g["key"] == "gap" and spec["higher_is_better"] is None:
                        continue  # the gap of a target metric has no direction
                    b = v if g["key"] == "gap" and spec["higher_is_better"] is False else (
                        -v if g["key"] == "gap" else _badness(v, spec))
                    if b is not None:
                        cands.append(b)
                if len(cands) > 1:
                    best[(g["key"], m)] = min(cands)
        for row in rows:
            cells = []
            for g in GROUPS:
                for j, m in enumerate(HEADLINE):
                    s = _score_of(row["result"].data, g["key"], m)
                    spec = _spec(specs, m)
                    is_best = False
                    if s is not None and (g["key"], m) in best and s["value"] is not None \
                            and not isinstance(s["value"], bool):
                        v = s["value"]
                        b = (v if spec["higher_is_better"] is False else -v) if g["key"] == "gap" \
                            else _badness(v, spec)
                        is_best = b == best[(g["key"], m)]
                    cells.append({"score": s, "group": g["key"], "first": j == 0, "best": is_best})
            row["cells"] = cells
        hashes = sorted({r.data["split"]["hash"] for r in results})
        checksums = sorted({r.data["dataset"]["checksum"] for r in results})
        views.append({
            "name": name, "anchor": anchor, "index": index, "rows": rows, "specs": specs,
            "hashes": hashes, "checksums": checksums, "rank_note": note,
            "rank_by": {"role": rank_role, "metric": RANK_METRIC, "paired_pairs": details.paired,
                        "overlap_pairs": details.overlap, "note": note,
                        "unpaired_reasons": list(details.reasons)},
            "source_options": sorted({"+".join(r["sources"]) for r in rows if r["sources"]}),
        })
    return views


def _arrow(spec: dict) -> str:
    if spec["higher_is_better"] is True:
        return "↑"
    if spec["higher_is_better"] is False:
        return "↓"
    if spec.get("target") is not None:
        return f"→{fmt(spec['target'])}"
    return ""


# --- writers ------------------------------------------------------------------------------------

def _render_plots(job: tuple[str, dict]) -> tuple[str, list[dict]]:
    from tailshift.leaderboard.plots import all_plots

    key, data = job
    return key, all_plots(data)


def _plots_for(views: list[dict], jobs: int) -> dict[str, list[dict]]:
    """Render every submission's plots, in worker processes when that is safe and worth it.

    Workers are forked (cheap: no re-import), so they are used only when this process runs no
    other thread (forking a threaded process, e.g. one holding a dask client, can deadlock);
    if the pool fails for any reason the plots are rendered here, serially. Output is the same.
    """
    import threading

    work = [(f"{sp['anchor']}/{row['page']}", row["result"].data) for sp in views for row in sp["rows"]]
    if jobs > 1 and len(work) >= 4 and threading.active_count() == 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if "fork" in mp.get_all_start_methods():
            try:
                with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool:
                    return dict(pool.map(_render_plots, work, chunksize=1))
            except Exception:  # e.g. BrokenProcessPool: fall back to rendering here
                pass
    return dict(map(_render_plots, work))


def _submission_context(sp: dict, row: dict, plots: list[dict]) -> dict:
    res: LoadedResult = row["result"]
    d = res.data
    roles = [r for r in (*EVAL_ROLES, *sorted(d["roles"])) if r in d["roles"]]
    roles = list(dict.fromkeys(roles))
    specs = {**sp["specs"], **d["metrics"]}
    names = {m for r in roles for m in d["roles"][r]["scores"]} | set(d["gap"])
    metric_names = [m for m in HEADLINE if m in names] + sorted(names - set(HEADLINE))
    group_metrics = {}
    for r in roles:
        group_metrics[r] = {}
        for dim, labels in d["roles"][r]["groups"].items():
            ms = {m for sc in labels.values() for m in sc}
            group_metrics[r][dim] = [m for m in HEADLINE if m in ms] + sorted(ms - set(HEADLINE))
    by_int = {}
    for r in roles:
        c = d["roles"][r]["curves"].get("by_intensity")
        if c:
            by_int[r] = {"bins": c["bins"], "rows": [(k, v) for k, v in c.items() if k != "bins"]}
    from tailshift.leaderboard.plots import ROLE_LABELS

    return {
        "sub": d["submission"], "split": d["split"], "dataset": d["dataset"],
        "split_anchor": sp["anchor"], "rank_text": row["rank_text"], "rank_rule": RANK_RULE,
        "unranked": row.get("unranked"),
        "rank_note": sp["rank_note"],
        "roles": roles, "role_labels": {r: ROLE_LABELS.get(r, r) for r in roles},
        "role_info": d["roles"], "source_file": res.path, "created_by": d["created_by"],
        "warnings": res.warnings, "specs": specs, "metric_names": metric_names,
        "headline": HEADLINE, "scores": {r: d["roles"][r]["scores"] for r in roles},
        "gap": d["gap"], "has_gap": bool(d["gap"]),
        "groups": {r: d["roles"][r]["groups"] for r in roles},
        "worst": {r: d["roles"][r]["worst_group"] for r in roles},
        "group_metrics": group_metrics, "by_intensity": by_int,
        "plots": [{**p, "src": f"{row['page']}/{p['key']}.svg" if p["svg"] else None}
                  for p in plots],
    }


def _machine_data(views: list[dict], skipped: list[Skipped]) -> dict:
    splits = []
    for sp in views:
        subs = []
        for row in sp["rows"]:
            d = row["result"].data
            subs.append({
                "name": d["submission"]["name"], "model": d["submission"]["model"],
                "description": d["submission"]["description"],
                "training_sources": d["submission"]["training_sources"],
                "code_hash": d["submission"]["code_hash"], "baseline": d["submission"]["baseline"],
                "rank": row["rank"], "rank_text": row["rank_text"], "page": row["href"],
                "result_file": row["result"].path, "split_hash": d["split"]["hash"],
                "dataset_checksum": d["dataset"]["checksum"],
                "scores": {**{r: b["scores"] for r, b in d["roles"].items()}, "gap": d["gap"]},
            })
        splits.append({"name": sp["name"], "hashes": sp["hashes"],
                       "dataset_checksums": sp["checksums"], "rank_by": sp["rank_by"],
                       "metrics": sp["specs"],
                       "submissions": subs})
    return {"generator": GENERATOR, "rank_by": {"role": RANK_ROLE, "metric": RANK_METRIC,
                                                "rule": RANK_RULE},
            "headline": list(HEADLINE), "splits": splits,
            "skipped": [{"file": s.path, "reason": s.reason} for s in skipped]}


#: Roles of the comparison page that can carry paired replicates (the gap has none).
COMPARE_ROLES = tuple(g["key"] for g in GROUPS if g["key"] != "gap")


def _round6(v: float | None) -> float | None:
    return None if v is None or v != v else float(f"{v:.6g}")


def _compare_replicates(datas: list[dict]) -> list[dict]:
    """The replicates the comparison page needs, per submission of one split.

    ``{role: {"keys": [pairing key, ...], "m": {metric: {"k": key index, "v": [v_1..v_n]}}}}``:
    only metrics the page shows (a numeric score of that role), taken from the unit
    :func:`tailshift.metrics.paired.replicates_of` picks, only where another submission of the split has
    replicates of the same metric and role with the same pairing key (unit, seed, n, n_scenes,
    split hash, dataset checksum), values rounded to 6 significant digits (null kept).
    """
    picked: list[dict[str, dict[str, tuple[str, Any]]]] = []
    count: dict[tuple[str, str, str], int] = {}
    for d in datas:
        per: dict[str, dict[str, tuple[str, Any]]] = {}
        split_hash, checksum = data_identity(d)
        for role in COMPARE_ROLES:
            block = d["roles"].get(role)
            if not block or not block.get("replicates"):
                continue
            for m, s in block["scores"].items():
                v = s.get("value")
                if v is None or isinstance(v, bool):
                    continue
                try:
                    rep = replicates_of(block, m)
                except ValueError:
                    continue
                if rep is None:
                    continue
                unit, seed, n, values = rep
                key = f"{unit}|{seed}|{n}|{block.get('n_scenes')}|{split_hash}|{checksum}"
                per.setdefault(role, {})[m] = (key, values)
                count[(role, m, key)] = count.get((role, m, key), 0) + 1
        picked.append(per)
    out = []
    for per in picked:
        entry: dict[str, dict] = {}
        for role, ms in per.items():
            keys: list[str] = []
            kept = {}
            for m, (key, values) in ms.items():
                if count[(role, m, key)] < 2:
                    continue  # nobody to pair with: leave it out
                if key not in keys:
                    keys.append(key)
                kept[m] = {"k": keys.index(key), "v": [_round6(float(x)) for x in values]}
            if kept:
                entry[role] = {"keys": keys, "m": kept}
        out.append(entry)
    return out


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(text: str) -> str:
    """A free-text CSV cell that spreadsheets show as text: a leading ``'`` before a formula start."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_text(machine: dict) -> str:
    """One row per (split, submission, role, metric). Free-text cells (names, paths) are guarded
    against formula injection; numbers are written with ``repr`` and left alone. Ranks are the
    integer plus a ``rank_tied`` flag (the site's ``=2`` would read as a formula)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["split", "split_hash", "dataset_checksum", "submission", "model",
                "training_sources", "rank", "rank_tied", "role", "metric", "value", "ci_low",
                "ci_high", "result_file"])
    for sp in machine["splits"]:
        for sub in sp["submissions"]:
            rank = "" if sub["rank"] is None else str(sub["rank"])
            tied = str(sub["rank_text"].startswith("=")).lower()
            for role, scores in sub["scores"].items():
                for m, s in scores.items():
                    w.writerow([_csv_safe(sp["name"]), sub["split_hash"], sub["dataset_checksum"],
                                _csv_safe(sub["name"]), _csv_safe(sub["model"]),
                                "+".join(sub["training_sources"]), rank, tied,
                                _csv_safe(role), _csv_safe(m), "" if s["value"] is None else (
                                    str(s["value"]).lower() if isinstance(s["value"], bool)
                                    else repr(s["value"])),
                                "" if s["ci_low"] is None else repr(s["ci_low"]),
                                "" if s["ci_high"] is None else repr(s["ci_high"]),
                                _csv_safe(sub["result_file"])])
    return buf.getvalue()


def _check_paths(results_dir: Path, out_dir: Path, force: bool) -> None:
    if not results_dir.is_dir():
        raise BadInputError(f"results directory {results_dir} does not exist; score a model first " +
                            "(tailshift submit) or pass --results DIR")
    r, o = results_dir.resolve(), out_dir.resolve()
    if o == r or o in r.parents:
        raise BadInputError(f"output {out_dir} would replace the results in {results_dir}; " +
                            "choose another --out")
    if out_dir.exists() and not force and not (out_dir / SITE_MARKER).is_file():
        raise BadInputError(f"{out_dir} exists and is not a TailShift leaderboard site; " +
                            "pass --force to replace it or choose another --out")


def build_site(results_dir: str | os.PathLike = "leaderboard/results",
               out_dir: str | os.PathLike = "leaderboard/site", force: bool = False,
               jobs: int | None = None) -> BuildReport:
    """Build the static site from the result files of ``results_dir`` into ``out_dir``.

    Parameters
    ----------
    results_dir
        Folder of result files ``<split>/<slug>.json`` (any ``*.json`` below it is read).
    out_dir
        Site folder to (re)create atomically. A previous site is replaced; another existing path
        needs ``force``.
    force
        Replace ``out_dir`` even when it is not a TailShift site.
    jobs
        Worker processes for the plots (default: up to 4, at most the CPU count).

    Returns
    -------
    BuildReport
        ``index`` is the path of ``index.html``; ``skipped`` lists the files not used and why.

    Raises
    ------
    tailshift.errors.BadInputError
        If ``results_dir`` is missing or ``out_dir`` may not be replaced.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    _check_paths(results_dir, out_dir, force)
    loaded, skipped = collect(results_dir, exclude=out_dir)
    views = _split_views(loaded)
    if jobs is None:
        jobs = min(4, os.cpu_count() or 1)
    plots = _plots_for(views, jobs)
    env = _env()
    common = {"generator": GENERATOR, "n_results": len(loaded)}
    warnings = [f"{res.path}: {w}" for res in loaded for w in res.warnings]
    for key, ps in plots.items():
        warnings += [f"{key}: plot {p['key']} failed: {p['error']}" for p in ps if p["error"]]
    specs_all: dict[str, dict] = {}
    for sp in views:
        for m, s in sp["specs"].items():
            specs_all.setdefault(m, s)
    specs_all = {**{m: DEFAULT_SPECS[m] for m in HEADLINE}, **specs_all}
    machine = _machine_data(views, skipped)
    with atomic_dir(out_dir, force=True, what="leaderboard site") as tmp:
        tmp.chmod(0o755)  # mkdtemp makes 0700; a site is meant to be readable
        (tmp / SITE_MARKER).write_text("TailShift leaderboard site; rebuilt by " +
                                       "`tailshift leaderboard build`\n", encoding="utf-8")
        shutil.copytree(_HERE / "static", tmp / "static",
                        ignore=shutil.ignore_patterns("__pycache__", ".*"))
        index = env.get_template("index.html").render(
            root="", splits=views, groups=GROUPS, headline=HEADLINE, labels=LABELS,
            arrows={m: _arrow(specs_all[m]) for m in HEADLINE}, specs_all=specs_all,
            skipped=skipped, rank_rule=RANK_RULE, **common)
        (tmp / "index.html").write_text(index, encoding="utf-8")
        page = env.get_template("submission.html")
        page_error = env.get_template("page_error.html")
        for sp in views:
            for row in sp["rows"]:
                folder = tmp / "s" / sp["anchor"]
                (folder / row["page"]).mkdir(parents=True, exist_ok=True)
                ps = plots[f"{sp['anchor']}/{row['page']}"]
                for p in ps:
                    if p["svg"]:
                        (folder / row["page"] / f"{p['key']}.svg").write_bytes(p["svg"])
                try:
                    html = page.render(root="../../", **_submission_context(sp, row, ps), **common)
                except Exception as exc:  # one odd result must not break the whole site
                    warnings.append(f"{row['result'].path}: page failed: {type(exc).__name__}: {exc}")
                    html = page_error.render(root="../../", name=row["name"], split=sp["name"],
                                             source_file=row["result"].path,
                                             error=f"{type(exc).__name__}: {exc}", **common)
                (folder / f"{row['page']}.html").write_text(html, encoding="utf-8")
        compare_data = {
            "headline": list(HEADLINE), "metrics": specs_all, "groups": list(GROUPS),
            "splits": [{"name": s["name"], "submissions": [
                {"name": sub["name"], "rank_text": sub["rank_text"], "scores": sub["scores"],
                 **({"replicates": rep} if rep else {})}
                for sub, rep in zip(ms["submissions"], _compare_replicates(
                    [row["result"].data for row in s["rows"]]), strict=True)]}
                for s, ms in zip(views, machine["splits"], strict=True)],
        }
        compare = env.get_template("compare.html").render(
            root="", splits=views, data_json=_json_for_script(compare_data), **common)
        (tmp / "compare.html").write_text(compare, encoding="utf-8")
        (tmp / "tailshift.leaderboard.json").write_text(
            json.dumps(machine, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8")
        (tmp / "tailshift.leaderboard.csv").write_text(_csv_text(machine), encoding="utf-8")
    return BuildReport(out_dir=out_dir, index=out_dir / "index.html", n_results=len(loaded),
                       splits=tuple(sp["name"] for sp in views), skipped=tuple(skipped),
                       warnings=tuple(warnings))
