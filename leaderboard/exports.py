"""The site's numbers for machines: ``leaderboard.json``, ``leaderboard.csv``
and the JSON block the comparison page reads (with the paired replicates it needs).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tailshift.leaderboard.columns import GROUPS, HEADLINE
from tailshift.leaderboard.ranking import RANK_METRIC, RANK_ROLE, RANK_RULE
from tailshift.leaderboard.reader import Skipped
from tailshift.metrics.paired import data_identity, replicates_of

#: Written into the machine-readable files and the footer of every page.
GENERATOR = "tailshift leaderboard v1"


def machine_data(views: list[dict], skipped: list[Skipped]) -> dict:
    """Content of ``leaderboard.json``: per split its hashes, ranking rule, metric specs
    and submissions (rank, page, every score per role and the gap), and the skipped files."""
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


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(text: str) -> str:
    """A free-text CSV cell that spreadsheets show as text: ``'`` before a formula start."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(machine: dict) -> str:
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


#: Roles of the comparison page that can carry paired replicates (the gap has none).
COMPARE_ROLES = tuple(g["key"] for g in GROUPS if g["key"] != "gap")


def _round6(v: float | None) -> float | None:
    return None if v is None or v != v else float(f"{v:.6g}")


def _compare_replicates(datas: list[dict]) -> list[dict]:
    """The replicates the comparison page needs, per submission of one split.

    ``{role: {"keys": [pairing key, ...], "m": {metric: {"k": key index, "v": [v_1..v_n]}}}}``:
    only metrics the page shows (a numeric score of that role), taken from the unit
    :func:`tailshift.metrics.paired.replicates_of` picks, only where another submission of the
    split has replicates of the same metric and role with the same pairing key (unit, seed, n,
    n_scenes, split hash, dataset checksum), values rounded to 6 significant digits (null kept).
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


def compare_data(views: list[dict], machine: dict, specs: dict[str, dict]) -> dict:
    """Data of the comparison page: per split each submission's scores and, where another
    submission can be paired with it, its replicates (:func:`_compare_replicates`)."""
    return {
        "headline": list(HEADLINE), "metrics": specs, "groups": list(GROUPS),
        "splits": [{"name": s["name"], "submissions": [
            {"name": sub["name"], "rank_text": sub["rank_text"], "scores": sub["scores"],
             **({"replicates": rep} if rep else {})}
            for sub, rep in zip(ms["submissions"], _compare_replicates(
                [row["result"].data for row in s["rows"]]), strict=True)]}
            for s, ms in zip(views, machine["splits"], strict=True)],
    }


def json_for_script(obj: Any) -> str:
    """JSON safe in a ``<script type="application/json">`` block: ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
