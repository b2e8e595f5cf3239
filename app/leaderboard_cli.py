"""``tailshift leaderboard ...``: build the static leaderboard site (issue 5).

A thin layer over :func:`tailshift.leaderboard.build.build_site` (docs/design.md, Conventions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Build the static leaderboard site.")


@app.callback()
def _group() -> None:
    """Build the static leaderboard site."""


@app.command("build")
def build(
    results: Annotated[Path, typer.Option("--results", help="Folder of result files " +
                                          "(<split>/<name>.json).")] = Path("leaderboard/results"),
    out: Annotated[Path, typer.Option("--out", help="Site folder to (re)create.")] = Path(
        "leaderboard/site"),
    force: Annotated[bool, typer.Option("--force", help="Replace OUT even when it is not a " +
                                        "TailShift site.")] = False,
) -> None:
    """Build the site from result files; open OUT/index.html in a browser (works offline)."""
    # deferred: the CLI starts without loading the engine
    from tailshift.app.common import console

    # deferred: the CLI starts without loading the engine
    from tailshift.leaderboard.build import build_site

    con = console()
    with con.status("building the leaderboard site"):
        report = build_site(results, out, force=force)
    con.print(f"built {report.n_results} result(s) on {len(report.splits)} split(s): " +
              f"{', '.join(report.splits) or 'none'}")
    for s in report.skipped:
        con.print(f"[yellow]skipped[/yellow] {s.path}: {s.reason}", markup=True, soft_wrap=True)
    for w in report.warnings:
        con.print(f"[yellow]warning[/yellow] {w}", soft_wrap=True)
    typer.echo(str(report.index))
