"""View models of the site: what the templates render, built from the loaded result files.

* :func:`split_views` -- one ``dict`` per split for the index table: specs, ranks (with the
  note on how they were judged), one row per submission with its headline cells, best values
  marked, page names;
* :func:`site_specs` -- the specs of every metric across splits (the index legend, comparison);
* :func:`submission_context` -- the context of one submission page.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tailshift.benchmark.results import slugify
from tailshift.errors import BadInputError
from tailshift.leaderboard.columns import (
    DEFAULT_SPECS,
    GROUPS,
    HEADLINE,
    LABELS,
    badness,
    spec_of,
)
from tailshift.leaderboard.plots import role_label
from tailshift.leaderboard.ranking import (
    RANK_METRIC,
    RANK_ROLE,
    RANK_ROLE_FALLBACK,
    RANK_RULE,
    RankDetails,
    rank_details,
    rank_note,
)
from tailshift.leaderboard.reader import LoadedResult
from tailshift.metrics.paired import data_identity
from tailshift.schema import EVAL_ROLES

# --- names --------------------------------------------------------------------------------------


def page_slug(text: str) -> str:
    """A file-name-safe slug for a page or anchor: :func:`tailshift.benchmark.results.slugify`,
    cut to 80 characters, and ``x`` for a name without a letter or digit (the site shows every
    valid file, whatever its name)."""
    try:
        return slugify(text)[:80]
    except BadInputError:
        return "x"


def unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``, ... : the first not in ``taken`` (then added to it)."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


# --- the index table ----------------------------------------------------------------------------


def _score_of(data: dict, group: str, m: str) -> dict | None:
    """The score of metric ``m`` in a column group (a role, or ``"gap"``), or None."""
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


def _split_specs(results: list[LoadedResult]) -> dict[str, dict]:
    """Specs of a split's metrics: the first file describing a metric wins; headline metrics
    no file describes (or describes without words) come from the registry."""
    specs: dict[str, dict] = {}
    for res in results:
        for m, s in res.data["metrics"].items():
            specs.setdefault(m, s)
    specs = {**DEFAULT_SPECS, **specs}
    for m in HEADLINE:  # keep a description when the file left it empty
        if not specs[m].get("description"):
            specs[m] = {**specs[m], "description": DEFAULT_SPECS[m]["description"]}
    return specs


class _Ranking(NamedTuple):
    """How one split was ranked: the role, per submission (file order) why it is unranked and
    its ranking score, the ranks and rules, the page's note and the display order."""

    role: str
    unranked: list[str | None]
    scores: list[dict | None]
    details: RankDetails
    note: str
    order: list[int]


def _rank_split(results: list[LoadedResult], specs: dict[str, dict]) -> _Ranking:
    rank_role = RANK_ROLE
    if all(_score_of(r.data, RANK_ROLE, RANK_METRIC) is None for r in results):
        rank_role = RANK_ROLE_FALLBACK  # e.g. the iid split has no OOD role
    unranked = [_unranked_reason(r.data, rank_role) for r in results]
    rank_scores = [None if why else _score_of(r.data, rank_role, RANK_METRIC)
                   for r, why in zip(results, unranked, strict=True)]
    details = rank_details(rank_scores, spec_of(specs, RANK_METRIC),
                           roles=[r.data["roles"].get(rank_role) for r in results],
                           metric=RANK_METRIC,
                           identities=[data_identity(r.data) for r in results])
    ranks = details.ranks
    which = "OOD-test" if rank_role == RANK_ROLE else "ID-test"
    note = rank_note(details, f"{which} {LABELS.get(RANK_METRIC, RANK_METRIC)}")
    order = sorted(range(len(results)), key=lambda i: (
        ranks[i] is None, ranks[i] or 0,
        (rank_scores[i] or {}).get("value") is None,
        (rank_scores[i] or {}).get("value") or 0.0,
        results[i].data["submission"]["name"]))
    return _Ranking(rank_role, unranked, rank_scores, details, note, order)


def _rows(results: list[LoadedResult], ranking: _Ranking, anchor: str) -> list[dict]:
    """One row per submission, in display order (cells are added by :func:`_add_cells`)."""
    ranks = ranking.details.ranks
    pages: set[str] = set()
    rows = []
    for i in ranking.order:
        sub = results[i].data["submission"]
        r = ranks[i]
        shared = r is not None and sum(1 for x in ranks if x == r) > 1
        page = unique(page_slug(sub["name"]), pages)
        rows.append({
            "name": sub["name"], "model": sub["model"], "sources": sub["training_sources"],
            "description": sub["description"],
            "rank": r,
            "rank_text": ("unranked" if ranking.unranked[i] else "—") if r is None else (
                f"={r}" if shared else str(r)),
            "unranked": ranking.unranked[i],
            "rank_sort": "" if r is None else str(r),
            "page": page, "href": f"s/{anchor}/{page}.html",
            "search": " ".join([sub["name"], sub["model"], *sub["training_sources"]]).lower(),
            "result": results[i],
        })
    return rows


def _cell_badness(group: str, value: Any, spec: dict) -> float | None:
    """Smaller is better, for marking a column's best value; None: not comparable.

    A flag is never marked; the gap of a target metric has no direction (its sign says nothing).
    """
    if value is None or isinstance(value, bool):
        return None
    if group == "gap" and spec["higher_is_better"] is None:
        return None
    return badness(value, spec)


def _add_cells(rows: list[dict], specs: dict[str, dict]) -> None:
    """Give each row its headline cells (per column group and metric), the best of each column
    marked (only where at least two submissions are comparable)."""
    best: dict[tuple[str, str], float] = {}
    for g in GROUPS:
        for m in HEADLINE:
            spec = spec_of(specs, m)
            cands = []
            for row in rows:
                s = _score_of(row["result"].data, g["key"], m)
                b = _cell_badness(g["key"], None if s is None else s["value"], spec)
                if b is not None:
                    cands.append(b)
            if len(cands) > 1:
                best[(g["key"], m)] = min(cands)
    for row in rows:
        cells = []
        for g in GROUPS:
            for j, m in enumerate(HEADLINE):
                s = _score_of(row["result"].data, g["key"], m)
                is_best = False
                if s is not None and (g["key"], m) in best:
                    b = _cell_badness(g["key"], s["value"], spec_of(specs, m))
                    is_best = b is not None and b == best[(g["key"], m)]
                cells.append({"score": s, "group": g["key"], "first": j == 0, "best": is_best})
        row["cells"] = cells


def _split_view(index: int, name: str, results: list[LoadedResult], anchors: set[str]) -> dict:
    specs = _split_specs(results)
    ranking = _rank_split(results, specs)
    anchor = unique(page_slug(name), anchors)
    rows = _rows(results, ranking, anchor)
    _add_cells(rows, specs)
    details = ranking.details
    return {
        "name": name, "anchor": anchor, "index": index, "rows": rows, "specs": specs,
        "hashes": sorted({r.data["split"]["hash"] for r in results}),
        "checksums": sorted({r.data["dataset"]["checksum"] for r in results}),
        "rank_note": ranking.note,
        "rank_by": {"role": ranking.role, "metric": RANK_METRIC, "paired_pairs": details.paired,
                    "overlap_pairs": details.overlap, "note": ranking.note,
                    "unpaired_reasons": list(details.reasons)},
        "source_options": sorted({"+".join(r["sources"]) for r in rows if r["sources"]}),
    }


def split_views(loaded: list[LoadedResult]) -> list[dict]:
    """One view per split, sorted by split name (see the module docstring)."""
    by_split: dict[str, list[LoadedResult]] = {}
    for res in loaded:
        by_split.setdefault(res.data["split"]["name"], []).append(res)
    anchors: set[str] = set()
    return [_split_view(index, name, by_split[name], anchors)
            for index, name in enumerate(sorted(by_split))]


def site_specs(views: list[dict]) -> dict[str, dict]:
    """Specs of every metric of the site: the first split describing a metric wins; the
    headline metrics come first, from the registry where no split describes them."""
    specs: dict[str, dict] = {}
    for sp in views:
        for m, s in sp["specs"].items():
            specs.setdefault(m, s)
    return {**DEFAULT_SPECS, **specs}


# --- a submission page --------------------------------------------------------------------------


def _headline_first(names: set[str]) -> list[str]:
    return [m for m in HEADLINE if m in names] + sorted(names - set(HEADLINE))


def submission_context(sp: dict, row: dict, plots: list[dict]) -> dict:
    """The template context of one submission page (split view ``sp``, index row ``row``)."""
    res: LoadedResult = row["result"]
    d = res.data
    roles = [r for r in (*EVAL_ROLES, *sorted(d["roles"])) if r in d["roles"]]
    roles = list(dict.fromkeys(roles))
    names = {m for r in roles for m in d["roles"][r]["scores"]} | set(d["gap"])
    group_metrics = {
        r: {dim: _headline_first({m for sc in labels.values() for m in sc})
            for dim, labels in d["roles"][r]["groups"].items()}
        for r in roles
    }
    by_int = {}
    for r in roles:
        c = d["roles"][r]["curves"].get("by_intensity")
        if c:
            by_int[r] = {"bins": c["bins"], "rows": [(k, v) for k, v in c.items() if k != "bins"]}
    return {
        "sub": d["submission"], "split": d["split"], "dataset": d["dataset"],
        "split_anchor": sp["anchor"], "rank_text": row["rank_text"], "rank_rule": RANK_RULE,
        "unranked": row.get("unranked"),
        "rank_note": sp["rank_note"],
        "roles": roles, "role_labels": {r: role_label(r) for r in roles},
        "role_info": d["roles"], "source_file": res.path, "created_by": d["created_by"],
        "warnings": res.warnings, "specs": {**sp["specs"], **d["metrics"]},
        "metric_names": _headline_first(names),
        "headline": HEADLINE, "scores": {r: d["roles"][r]["scores"] for r in roles},
        "gap": d["gap"], "has_gap": bool(d["gap"]),
        "groups": {r: d["roles"][r]["groups"] for r in roles},
        "worst": {r: d["roles"][r]["worst_group"] for r in roles},
        "group_metrics": group_metrics, "by_intensity": by_int,
        "plots": [{**p, "src": f"{row['page']}/{p['key']}.svg" if p["svg"] else None}
                  for p in plots],
    }
