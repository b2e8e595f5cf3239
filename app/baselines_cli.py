"""``tailshift train``, ``tailshift predict`` and ``tailshift submit`` (thin: library calls only).

``train`` -> :func:`tailshift.baselines.registry.train`; ``predict`` -> :func:`tailshift.app.running.run_predictions`;
``submit`` -> :func:`tailshift.app.submission.submit`. ``--data`` / ``--scheduler`` are the root options
(:func:`tailshift.app.common.settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tailshift.app.common import console, settings


class RichProgress:
    """A progress callback ``(stage, done, total, metrics)`` drawing one rich bar per stage."""

    def __init__(self, enabled: bool = True):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console(), disable=not enabled, transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int | None, metrics: dict | None = None) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, info="")
        task = self.tasks[stage]
        info = ""
        if metrics:
            info = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                             if isinstance(v, float) and k != "epoch")
        self.progress.update(task, completed=done, total=total, info=info)
        if stage == "epoch":  # a new epoch: restart the batch bar
            batch = self.tasks.get("batch")
            if batch is not None:
                self.progress.reset(batch)


def _sources(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(s.strip() for s in value.split(",") if s.strip())


# Long on purpose (~100 lines): the typer commands train / predict / submit, declared as
# closures with their options; each body is a few lines calling the library.
def register(app: typer.Typer) -> None:
    """Add ``train``, ``predict`` and ``submit`` to the root app."""

    @app.command("train")
    def train_cmd(
        ctx: typer.Context,
        baseline: Annotated[str, typer.Argument(help="Registry name: climatology, bayesian, gbm, unet.")],
        split: Annotated[str, typer.Option("--split", help="Split to train for (its train role).")],
        config: Annotated[
            Path | None, typer.Option("--config", help="TOML config (default: the baseline's).")
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/BASELINE-SPLIT).")] = None,
        device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")] = "cpu",
        quick: Annotated[bool, typer.Option("--quick", help="Use the baseline's small quick-world config.")] = False,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run directory.")] = False,
    ) -> None:
        """Train a reference baseline; writes a run directory (checkpoints, run.json, weights)."""
        # deferred: the CLI starts without loading the engine
        from tailshift.baselines import registry

        s = settings(ctx)
        spec = registry.get(baseline)
        if quick and config is None:
            config = registry.CONFIG_DIR / spec.quick_config
        with RichProgress() as prog:
            run = registry.train(baseline, config, s.data_dir, split, out, device=device,
                                 progress=prog, force=force, resume=resume)
        timing = run.meta.get("timing", {})
        console().print(f"wrote {run.path} ({timing.get('seconds', 0):.1f} s)")

    @app.command("predict")
    def predict_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Run directory, file.py:factory, or .pt/.pt2 with sidecar.")],
        split: Annotated[str, typer.Option("--split", help="Split name.")],
        out: Annotated[Path, typer.Option("--out", help="Output .zarr or .nc.")],
        role: Annotated[str, typer.Option("--role", help="Role to predict.")] = "ood_test",
        batch_size: Annotated[int, typer.Option("--batch-size", help="Scenes per model call.")] = 16,
        timeout: Annotated[
            float | None, typer.Option("--timeout", help="Seconds allowed per batch.")
        ] = None,
        sources: Annotated[str | None, typer.Option("--sources", help="Declared training sources, e.g. obs,sim.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite the output.")] = False,
        device: Annotated[str, typer.Option("--device", help="Inference device for torch models: cpu, cuda, cuda:N, auto.")] = "cpu",
    ) -> None:
        """Run a model over one role of a split and write a validated prediction file."""
        # deferred: the CLI starts without loading the engine
        from tailshift.app.models import load_model
        from tailshift.app.running import run_predictions
        from tailshift.app.submission import check_run_against

        # deferred: the CLI starts without loading the engine
        from tailshift.splits import load_split

        s = settings(ctx)
        m = load_model(model, _sources(sources), device)
        check_run_against(m, load_split(split), s.data_dir)
        with RichProgress() as prog:
            path = run_predictions(m, s.data_dir, split, role, out, batch_size=batch_size,
                                   timeout=timeout, force=force,
                                   progress=lambda st, d, t: prog(st, d, t))
        console().print(f"wrote {path}")

    @app.command("submit")
    def submit_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Run directory (or directory of runs), file.py:factory, or .pt/.pt2.")],
        name: Annotated[str, typer.Option("--name", help="Submission name shown on the leaderboard.")],
        split: Annotated[
            list[str] | None, typer.Option("--split", help="Split(s); default for runs: their own.")
        ] = None,
        description: Annotated[str | None, typer.Option("--description")] = None,
        results: Annotated[Path | None, typer.Option("--results", help="Results directory.")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
        timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds allowed per batch.")] = None,
        sources: Annotated[str | None, typer.Option("--sources", help="Training sources, e.g. obs,sim.")] = None,
        keep_predictions: Annotated[
            Path | None, typer.Option("--keep-predictions", help="Keep prediction stores here.")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace existing results.")] = False,
        device: Annotated[str, typer.Option("--device", help="Inference device for torch models: cpu, cuda, cuda:N, auto.")] = "cpu",
    ) -> None:
        """Predict, validate and score a model on every evaluation role of each split."""
        # deferred: the CLI starts without loading the engine
        from tailshift.app.score import unranked_notes

        # deferred: the CLI starts without loading the engine
        from tailshift.app.submission import submit

        s = settings(ctx)
        with RichProgress() as prog:
            paths = submit(model, name, split or None, s.data_dir, results, batch_size=batch_size,
                           timeout=timeout, force=force, description=description,
                           sources=_sources(sources), scheduler=s.scheduler,
                           keep_predictions=keep_predictions, device=device,
                           progress=lambda st, d, t: prog(st, d, t))
        for p in paths:
            console().print(f"wrote {p}")
            for line in unranked_notes(p):
                console().print(line)
