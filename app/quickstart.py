"""``tailshift quickstart``: the main job, end to end and offline, on the quick world.

Steps (each a library call usable from Python):

1. generate the ``quick`` world into the data directory, or reuse it when the directory already
   holds a complete dataset of that preset and seed;
2. print its climatology card (and write the card figures next to it);
3. train the fast baselines with their ``*_quick.toml`` configs on each split;
4. submit every run (predict → validate → score all evaluation roles);
5. build the leaderboard site from those results and print its path and a summary table.

Everything the quickstart writes goes below ``work_dir`` (default ``runs/quickstart``: runs,
results, site), never into ``leaderboard/results``, whose committed reference results come from
the ``standard`` world and must not be mixed with quick-world numbers (different dataset
checksums).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from tailshift.errors import BadInputError

#: Baselines trained by default: the four reference baselines with their quick configs.
DEFAULT_BASELINES = ("climatology", "bayesian", "gbm", "unet")
#: Splits evaluated by default: the warming split (the benchmark's central question) and the
#: regime split (the geographic shift SatRain exposes).
DEFAULT_SPLITS = ("temporal", "regime")
#: Headline metrics of the terminal summary (registry names).
SUMMARY_METRICS = ("crps", "twcrps_10", "sedi_p99", "scaling_error_p999")


@dataclass
class QuickstartReport:
    """What the quickstart produced, with wall-clock time per step (s)."""

    data_dir: Path
    site_index: Path
    results: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def ensure_world(data_dir: Path, preset: str, seed: int, progress: bool = True) -> bool:
    """Generate the world unless ``data_dir`` already holds it; return True if generated."""
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.world.generate import generate

    # deferred: the CLI starts without loading the engine
    from tailshift.io import read_manifest

    if (data_dir / "manifest.json").is_file():
        manifest = read_manifest(data_dir)
        if manifest.get("preset") == preset and int(manifest.get("seed", -1)) == seed:
            # deferred: the CLI starts without loading the engine
            from tailshift.benchmark.world.generate import GENERATOR_VERSION

            if manifest.get("generator_version") == GENERATOR_VERSION:
                return False
        raise BadInputError(
            f"{data_dir} holds another dataset (preset {manifest.get('preset')!r}, seed "
            + f"{manifest.get('seed')}, version {manifest.get('generator_version')}); pass "
            + "--data to point the quickstart at a fresh directory, or delete that one"
        )
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BadInputError(
            f"{data_dir} exists and is not a TailShift dataset; pass --data DIR with a new path"
        )
    generate(data_dir, preset=preset, seed=seed, force=data_dir.exists(), progress=progress)
    return True


def summary_rows(results: Sequence[Path]) -> list[dict]:
    """One row per (split, submission): headline ID/OOD values from the result files."""
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.results import read_result

    rows = []
    for path in results:
        res = read_result(path)
        roles = res["roles"]
        row = {"split": res["split"]["name"], "name": res["submission"]["name"]}
        for metric, role in {(m, r) for _, m, r in SUMMARY_COLUMNS} | {
                (m, r) for m in SUMMARY_METRICS for r in ("id_test", "ood_test")}:
            score = roles.get(role, {}).get("scores", {}).get(metric)
            row[f"{metric}:{role}"] = None if score is None else score.get("value")
        rows.append(row)
    return rows


#: Columns of the terminal summary: (header, metric, role). Kept to what fits 80 columns.
SUMMARY_COLUMNS = (
    ("CRPS ID", "crps", "id_test"),
    ("CRPS OOD", "crps", "ood_test"),
    ("twCRPS10 OOD", "twcrps_10", "ood_test"),
    ("SEDI99 OOD", "sedi_p99_calibrated", "ood_test"),
    ("ΔP99.9 %/K all", "scaling_error_p999", "all_test"),
)


def print_summary(rows: list[dict], console) -> None:
    """Render :func:`summary_rows` as a compact rich table (one row per split and model)."""
    from rich.table import Table

    table = Table(title="Quickstart results (quick world)", title_justify="left")
    table.add_column("split", no_wrap=True)
    table.add_column("model", no_wrap=True)
    for header, _, _ in SUMMARY_COLUMNS:
        table.add_column(header, justify="right")

    def fmt(v):
        return "—" if v is None else f"{v:.3g}"

    for row in rows:
        name = row["name"].removesuffix(" (quick)")
        cells = [fmt(row.get(f"{metric}:{role}")) for _, metric, role in SUMMARY_COLUMNS]
        table.add_row(row["split"], name, *cells)
    console.print(table)


# Long on purpose (~100 lines): the quickstart's five steps read top to bottom as the README
# describes them; each step is one call into the library.
def run_quickstart(
    data_dir: str | Path = "data",
    work_dir: str | Path = "runs/quickstart",
    splits: Sequence[str] = DEFAULT_SPLITS,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    preset: str = "quick",
    seed: int = 0,
    progress: bool = True,
    console=None,
) -> QuickstartReport:
    """Run the quickstart; see the module docstring. Returns a :class:`QuickstartReport`."""
    # deferred: the CLI starts without loading the engine
    from tailshift.app.baselines_cli import RichProgress

    # deferred: the CLI starts without loading the engine
    from tailshift.app.common import console as make_console

    # deferred: the CLI starts without loading the engine
    from tailshift.app.submission import submit

    # deferred: the CLI starts without loading the engine
    from tailshift.baselines import registry

    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.world.card import (
        compute_card,
        render_card,
        write_card_plots,
    )

    # deferred: the CLI starts without loading the engine
    from tailshift.leaderboard.build import build_site

    # deferred: the CLI starts without loading the engine
    from tailshift.splits import load_split

    con = console or make_console()
    data_dir, work_dir = Path(data_dir), Path(work_dir)
    for name in splits:
        load_split(name)  # unknown split: fail before any work
    for name in baselines:
        registry.get(name)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    con.rule(f"1/5 world ({preset}, seed {seed}) in {data_dir}")
    generated = ensure_world(data_dir, preset, seed, progress=progress)
    con.print("generated" if generated else "reusing the existing dataset")
    timings["world"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    con.rule("2/5 climatology card")
    card = compute_card(data_dir, progress=progress)
    render_card(card, con)
    plots = write_card_plots(card, data_dir / "card")
    con.print(f"card figures: {plots[0].parent}")
    timings["card"] = time.perf_counter() - t0

    results_dir, runs_dir = work_dir / "results", work_dir / "runs"
    result_files: list[Path] = []
    t_train = t_submit = 0.0
    for split in splits:
        for baseline in baselines:
            config = registry.CONFIG_DIR / f"{baseline}_quick.toml"
            con.rule(f"3/5 train {baseline} on {split}")
            t0 = time.perf_counter()
            with RichProgress(progress) as bar:
                run = registry.train(
                    baseline, config=config, data_dir=data_dir, split=split,
                    out_dir=runs_dir / f"{baseline}-{split}", progress=bar, force=True,
                )
            t_train += time.perf_counter() - t0
            con.rule(f"4/5 submit {baseline} on {split}")
            t0 = time.perf_counter()
            with RichProgress(progress) as bar:
                result_files += submit(
                    run.path, name=f"{baseline} (quick)", splits=[split], data_dir=data_dir,
                    results_dir=results_dir, force=True, progress=bar,
                    description=f"reference baseline {baseline}, config {config.name}",
                )
            t_submit += time.perf_counter() - t0
    timings["train"], timings["submit"] = t_train, t_submit

    t0 = time.perf_counter()
    con.rule("5/5 leaderboard site")
    report = build_site(results_dir, work_dir / "site")
    for skipped in report.skipped:
        con.print(f"[yellow]skipped[/] {skipped}")
    timings["site"] = time.perf_counter() - t0

    print_summary(summary_rows(result_files), con)
    con.print(
        "time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
        + f", total {sum(timings.values()):.0f}"
    )
    con.print(f"leaderboard site: {Path(report.index).resolve()}")
    return QuickstartReport(data_dir, Path(report.index), result_files, timings)


def register(app: typer.Typer) -> None:
    """Add ``tailshift quickstart`` to the root app."""

    @app.command("quickstart")
    def quickstart_cmd(
        ctx: typer.Context,
        work_dir: Annotated[
            Path, typer.Option("--work-dir", help="Where runs, results and the site go.")
        ] = Path("runs/quickstart"),
        split: Annotated[
            list[str] | None, typer.Option("--split", help="Split(s) to evaluate (repeatable).")
        ] = None,
        baseline: Annotated[
            list[str] | None, typer.Option("--baseline", help="Baseline(s) to train (repeatable).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="World seed.")] = 0,
        preset: Annotated[
            str, typer.Option("--preset", help="World preset (quick; tiny for smoke tests).")
        ] = "quick",
    ) -> None:
        """Offline end-to-end run: quick world, card, fast baselines, scores, leaderboard site."""
        # deferred: the CLI starts without loading the engine
        from tailshift.app.common import settings

        run_quickstart(
            data_dir=settings(ctx).data_dir,
            work_dir=work_dir,
            splits=tuple(split or DEFAULT_SPLITS),
            baselines=tuple(baseline or DEFAULT_BASELINES),
            seed=seed,
            preset=preset,
        )
