"""Subcommands (placeholder until this package's issue lands)."""

import typer

app = typer.Typer(no_args_is_help=True)


# --- tailshift data info (owned by the world card, benchmark/world/card.py) ------------------
from pathlib import Path as _Path  # noqa: E402 (this block is appended; aliased to not clash)
from typing import Annotated as _Annotated  # noqa: E402


@app.command("info")
def info_command(
    ctx: typer.Context,
    data_dir: _Annotated[
        _Path | None,
        typer.Argument(help="Dataset directory (default: the global --data)."),
    ] = None,
    plots: _Annotated[
        _Path | None,
        typer.Option("--plots", help="Where to write the card's figures (default: DIR/card/)."),
    ] = None,
    no_plots: _Annotated[
        bool, typer.Option("--no-plots", help="Only print the card; write no figures.")
    ] = False,
    strict: _Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any check of the card fails.")
    ] = False,
) -> None:
    """Print the world's climatology card (targets, physics, scaling, sim-obs) and write its plots."""
    from benchmark.cli_common import console, settings
    from benchmark.errors import TailShiftError
    from benchmark.world.card import compute_card, render_card, write_card_plots

    data_dir = data_dir if data_dir is not None else settings(ctx).data_dir
    out = console()
    card = compute_card(data_dir, progress=True)
    render_card(card, out)
    if not no_plots:
        target = plots if plots is not None else _Path(data_dir) / "card"
        paths = write_card_plots(card, target)
        out.print(f"figures: {target}/ (" + ", ".join(p.name for p in paths) + ", card.json)")
    if strict and not card.passed:
        raise TailShiftError(f"{card.n_failed} check(s) of the world card failed")
