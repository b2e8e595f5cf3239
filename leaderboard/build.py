"""Build the static leaderboard site from result files (issue 5; docs/results.md).

``build_site(results_dir, out_dir)`` reads every ``*.json`` under ``results_dir`` (schema
version 2, ``benchmark/results.py``), and writes a self-contained site that works from disk
(``file://``), offline, with nothing fetched from the network:

* ``index.html`` — one section per split: a sortable, filterable table of submissions with the
  headline scores (:data:`tailshift.leaderboard.columns.HEADLINE`) for ID test, OOD test and the
  gap (OOD − ID), each with its CI; the rank; the training sources; the split hash and dataset
  checksum;
* ``s/<split>/<submission>.html`` — every metric per role and per group (worst group marked), and
  plots rendered at build time (:mod:`tailshift.leaderboard.plots`, SVG);
* ``compare.html`` — pick two submissions of a split, see B − A with a CI: the paired bootstrap
  CI where both carry paired replicates of the metric and role, else an independent
  approximation;
* ``leaderboard.json`` and ``leaderboard.csv`` — the same numbers for machines
  (:mod:`tailshift.leaderboard.exports`);
* ``static/`` — the stylesheet and a little vanilla JS (sorting, filtering, comparison).

This module writes the site; the parts live in their own modules: reading
(:mod:`~tailshift.leaderboard.reader`), ranking (:mod:`~tailshift.leaderboard.ranking`), the
columns and metric specs (:mod:`~tailshift.leaderboard.columns`), the view models of the pages
(:mod:`~tailshift.leaderboard.views`), the machine-readable exports
(:mod:`~tailshift.leaderboard.exports`) and the plots (:mod:`~tailshift.leaderboard.plots`).

Decisions
---------
Ranking
    Submissions of a split are ranked by **OOD-test CRPS** (``RANK_ROLE``, ``RANK_METRIC`` in
    :mod:`tailshift.leaderboard.ranking`): the benchmark is about out-of-distribution skill, and
    CRPS is the proper score that covers the whole predictive distribution. Rank of submission
    *i* = 1 + the number of submissions significantly better than *i*. *j* is significantly
    better than *i* when the **paired bootstrap** 95% CI of their difference (in "badness" units:
    the value, its negative, or the distance to a target) lies entirely on *j*'s side of 0
    (:func:`tailshift.metrics.paired.paired_difference`; the scorer's hashed Poisson weights make
    the replicates of two submissions on the same split, dataset, seed and ``n`` paired). For a
    pair that cannot be paired (a file without replicates, another seed, ``n``, ``n_scenes``,
    split hash or dataset checksum) the old rule decides: *j*'s 95% CI lies entirely on the
    better side of *i*'s CI. "Better" is closed transitively (better than a submission that is
    better than *i* counts as better than *i*), so two submissions share a rank, shown as ``=k``,
    only when neither is significantly better than the other: their paired CI includes 0 (or, by
    the fallback, their CIs overlap). Each split's section says which rule ranked it
    (:func:`tailshift.leaderboard.ranking.rank_note`). A submission without an OOD CRPS is
    unranked (``—``) and listed last. A missing CI is treated as the point value. A split
    without any OOD-test score (``iid``) is ranked by ID-test CRPS instead.
Directions
    Taken from the ``metrics`` section of the result files (``higher_is_better``, ``target``);
    where a file does not describe a headline metric, the metric registry
    (:data:`tailshift.metrics.REGISTRY`, read by :mod:`tailshift.leaderboard.columns`) is used.
Bad files
    A malformed or foreign file is skipped and reported (listed on the index page, in
    ``leaderboard.json`` and by the CLI); a malformed optional part (a curve, groups) is
    dropped with a warning shown on the submission page. A second file for the same (split,
    submission name) is skipped as a duplicate, the first in path order is kept. Nothing of that
    crashes the build.
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

import json
import multiprocessing as mp
import os
import shutil
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from tailshift.atomic import atomic_dir
from tailshift.errors import BadInputError
from tailshift.leaderboard.columns import GROUPS, HEADLINE, LABELS, arrow
from tailshift.leaderboard.display import fmt
from tailshift.leaderboard.exports import (
    GENERATOR,
    compare_data,
    csv_text,
    json_for_script,
    machine_data,
)
from tailshift.leaderboard.plots import all_plots
from tailshift.leaderboard.ranking import RANK_RULE
from tailshift.leaderboard.reader import Skipped, collect
from tailshift.leaderboard.views import site_specs, split_views, submission_context

#: File that marks a directory as a site written by this builder (safe to replace on rebuild).
SITE_MARKER = ".tailshift-leaderboard"
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


def _sortkey(v: Any) -> str:
    if v is None:
        return ""
    return repr(float(v))


def _env() -> jinja2.Environment:
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


def _render_plots(job: tuple[str, dict]) -> tuple[str, list[dict]]:
    key, data = job
    return key, all_plots(data)


def _plots_for(views: list[dict], jobs: int) -> dict[str, list[dict]]:
    """Render every submission's plots, in worker processes when that is safe and worth it.

    Workers are forked (cheap: no re-import), so they are used only when this process runs no
    other thread (forking a threaded process, e.g. one holding a dask client, can deadlock);
    if the pool fails for any reason the plots are rendered here, serially. Output is the same.
    """
    work = [(f"{sp['anchor']}/{row['page']}", row["result"].data)
            for sp in views for row in sp["rows"]]
    if jobs > 1 and len(work) >= 4 and threading.active_count() == 1:
        if "fork" in mp.get_all_start_methods():
            try:
                with ProcessPoolExecutor(max_workers=jobs,
                                         mp_context=mp.get_context("fork")) as pool:
                    return dict(pool.map(_render_plots, work, chunksize=1))
            except Exception:  # e.g. BrokenProcessPool: fall back to rendering here
                pass
    return dict(map(_render_plots, work))


def _check_paths(results_dir: Path, out_dir: Path, force: bool) -> None:
    if not results_dir.is_dir():
        raise BadInputError(f"results directory {results_dir} does not exist; score a model " +
                            "first (tailshift submit) or pass --results DIR")
    r, o = results_dir.resolve(), out_dir.resolve()
    if o == r or o in r.parents:
        raise BadInputError(f"output {out_dir} would replace the results in {results_dir}; " +
                            "choose another --out")
    if out_dir.exists() and not force and not (out_dir / SITE_MARKER).is_file():
        raise BadInputError(f"{out_dir} exists and is not a TailShift leaderboard site; " +
                            "pass --force to replace it or choose another --out")


def _write_submission_pages(tmp: Path, env: jinja2.Environment, views: list[dict],
                            plots: dict[str, list[dict]], common: dict) -> list[str]:
    """Write ``s/<split>/<page>.html`` and its SVG plots for every submission; returns the
    warnings of pages that failed (an error page is written in their place)."""
    warnings = []
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
                html = page.render(root="../../", **submission_context(sp, row, ps), **common)
            except Exception as exc:  # one odd result must not break the whole site
                error = f"{type(exc).__name__}: {exc}"
                warnings.append(f"{row['result'].path}: page failed: {error}")
                html = page_error.render(root="../../", name=row["name"], split=sp["name"],
                                         source_file=row["result"].path, error=error, **common)
            (folder / f"{row['page']}.html").write_text(html, encoding="utf-8")
    return warnings


def _write_site(tmp: Path, views: list[dict], skipped: list[Skipped],
                plots: dict[str, list[dict]], common: dict) -> list[str]:
    """Write every file of the site into the (empty) folder ``tmp``; returns page warnings."""
    env = _env()
    specs = site_specs(views)
    machine = machine_data(views, skipped)
    tmp.chmod(0o755)  # mkdtemp makes 0700; a site is meant to be readable
    (tmp / SITE_MARKER).write_text("TailShift leaderboard site; rebuilt by " +
                                   "`tailshift leaderboard build`\n", encoding="utf-8")
    shutil.copytree(_HERE / "static", tmp / "static",
                    ignore=shutil.ignore_patterns("__pycache__", ".*"))
    index = env.get_template("index.html").render(
        root="", splits=views, groups=GROUPS, headline=HEADLINE, labels=LABELS,
        arrows={m: arrow(specs[m]) for m in HEADLINE}, specs_all=specs,
        skipped=skipped, rank_rule=RANK_RULE, **common)
    (tmp / "index.html").write_text(index, encoding="utf-8")
    warnings = _write_submission_pages(tmp, env, views, plots, common)
    compare = env.get_template("compare.html").render(
        root="", splits=views,
        data_json=json_for_script(compare_data(views, machine, specs)), **common)
    (tmp / "compare.html").write_text(compare, encoding="utf-8")
    (tmp / "leaderboard.json").write_text(
        json.dumps(machine, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8")
    (tmp / "leaderboard.csv").write_text(csv_text(machine), encoding="utf-8")
    return warnings


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
    views = split_views(loaded)
    if jobs is None:
        jobs = min(4, os.cpu_count() or 1)
    plots = _plots_for(views, jobs)
    common = {"generator": GENERATOR, "n_results": len(loaded)}
    warnings = [f"{res.path}: {w}" for res in loaded for w in res.warnings]
    for key, ps in plots.items():
        warnings += [f"{key}: plot {p['key']} failed: {p['error']}" for p in ps if p["error"]]
    with atomic_dir(out_dir, force=True, what="leaderboard site") as tmp:
        warnings += _write_site(tmp, views, skipped, plots, common)
    return BuildReport(out_dir=out_dir, index=out_dir / "index.html", n_results=len(loaded),
                       splits=tuple(sp["name"] for sp in views), skipped=tuple(skipped),
                       warnings=tuple(warnings))
