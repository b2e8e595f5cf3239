"""``tailshift score`` and ``tailshift export``: thin commands over :mod:`tailshift.benchmark.evaluate`
and :mod:`tailshift.benchmark.export` (docs/design.md, Conventions).

::

    tailshift score PRED --split NAME --role ood_test --name NAME [--results DIR] [--force]
                    [--description TEXT] [--training-sources obs,sim] [--model SPEC]
                    [--metrics crps,mae] [--chunk N] [--scheduler tcp://HOST:PORT]
    tailshift score --validate-only PRED --split NAME --role ood_test
    tailshift export --split NAME --role ood_test --out inputs.nc [--force] [--chunk N]

Bad input (invalid predictions -- every problem in one message --, an existing role without
``--force``, an unknown split or role) exits with code 2 and writes nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tailshift.app.common import console, settings
from tailshift.errors import BadInputError
from tailshift.leaderboard.display import fmt

SplitOpt = Annotated[str, typer.Option("--split", help="Split name (see 'tailshift splits list').")]
RoleOpt = Annotated[
    str, typer.Option("--role", help="Role to score: id_test or ood_test (or a val role).")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="dask.distributed scheduler address (overrides the global option).",
    ),
]


def _split_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


@contextmanager
def _progress(description: str):
    """A rich progress bar; yields a ``progress(done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _fmt(x) -> str:
    """A score in the CLI table: the site's formatter with 4 significant digits, ``-`` if none."""
    return fmt(x, missing="-", spec=".4g")


def _print_scores(path: Path, role: str) -> None:
    from rich.table import Table

    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.results import read_result

    result = read_result(path)
    block = result["roles"][role]
    table = Table(title=f"{result['submission']['name']} - {result['split']['name']} / {role}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for metric, s in block["scores"].items():
        ci = f"[{_fmt(s.get('ci_low'))}, {_fmt(s.get('ci_high'))}]"
        table.add_row(metric, _fmt(s.get("value")), ci)
    out = console()
    out.print(table)
    if "gap" in result:
        out.print(
            f"generalisation gap (ood_test - id_test) recorded for {len(result['gap'])} metrics"
        )
    for line in unranked_notes(path, roles=(role,)):
        out.print(line)
    undefined = block.get("undefined") or {}
    if undefined:
        out.print(f"{len(undefined)} metrics undefined (reasons under roles.{role}.undefined " +
                  "in the result file)")
    out.print(f"{block['n_scenes']} scenes scored; result written to {path}")


def unranked_notes(path: Path, roles=None) -> list[str]:
    """One line per role of the result file at ``path`` whose forecast is not admissible."""
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.results import read_result

    out = []
    for role, block in read_result(path)["roles"].items():
        fc = block.get("forecast") or {}
        if (roles is None or role in roles) and fc.get("admissible") is False:
            out.append(f"[yellow]unranked[/] ({role}): {fc.get('reason')} " +
                       "(docs/protocol.md, section 1)")
    return out


def score_command(
    ctx: typer.Context,
    predictions: Annotated[Path, typer.Argument(help="Predictions: a .nc file or .zarr store.")],
    split: SplitOpt,
    role: RoleOpt,
    name: Annotated[
        str | None, typer.Option("--name", help="Submission name (result file slug).")
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option("--results", help="Results directory (default leaderboard/results)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a role already in the result file.")
    ] = False,
    description: Annotated[
        str, typer.Option("--description", help="One line about the model.")
    ] = "",
    training_sources: Annotated[
        list[str] | None,
        typer.Option(
            "--training-sources",
            help="Sources the model was trained on: obs, sim or obs,sim (default: the split's).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model spec recorded in the result.")
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option("--metrics", help="Registry names to compute (default: all that apply)."),
    ] = None,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Scenes per block.")] = 32,
    validate_only: Annotated[
        bool,
        typer.Option("--validate-only", help="Only check the predictions; write nothing."),
    ] = False,
    scheduler: SchedulerOpt = None,
) -> None:
    """Validate predictions for one split role, score them and write the result file."""
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.evaluate import (
        check_prediction_file,
        score,
    )

    opts = settings(ctx)
    if validate_only:
        with console().status("validating predictions"):
            summary = check_prediction_file(predictions, opts.data_dir, split, role, chunk=chunk)
        console().print(
            f"{predictions}: valid for {split}/{role} ({summary['n_scenes']} scenes, "
            + f"{', '.join(summary['variables'])})"
        )
        return
    if not name:
        raise BadInputError("--name is required to write a result (or pass --validate-only)")
    with _progress(f"scoring {predictions.name} on {split}/{role}") as update:
        path = score(
            predictions,
            opts.data_dir,
            split,
            role,
            name,
            results,
            force,
            model=model,
            description=description,
            training_sources=_split_list(training_sources),
            scheduler=scheduler or opts.scheduler,
            chunk=chunk,
            metrics=_split_list(metrics),
            progress=update,
        )
    _print_scores(path, role)


def export_command(
    ctx: typer.Context,
    split: SplitOpt,
    role: RoleOpt,
    out: Annotated[Path, typer.Option("--out", help="Output .nc file or .zarr store.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")] = False,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Scenes per written chunk.")] = 64,
) -> None:
    """Export a role's model inputs (TBs, ancillary, scene ids; no labels) for external models."""
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.export import export_role

    opts = settings(ctx)
    with _progress(f"exporting {split}/{role}") as update:
        path = export_role(
            opts.data_dir, split, role, out, force=force, chunk=chunk, progress=update
        )
    console().print(
        f"inputs of {split}/{role} written to {path}; predict every scene, then run "
        + f"'tailshift score PRED --split {split} --role {role} --name NAME'"
    )


def register(app: typer.Typer) -> None:
    """Add ``score`` and ``export`` to the root app."""
    app.command("score")(score_command)
    app.command("export")(export_command)
