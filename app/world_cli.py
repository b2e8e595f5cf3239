"""``tailshift data ...``: generate and describe the synthetic world.

Thin wrappers around library functions (docs/design.md, Conventions): ``generate`` calls
:func:`tailshift.benchmark.world.generate.generate`. Other commands of this group are appended below as
functions decorated with ``@app.command``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tailshift.app.common import console, settings

app = typer.Typer(no_args_is_help=True)


@app.command("generate")
def generate_cmd(
    ctx: typer.Context,
    preset: Annotated[
        str, typer.Option("--preset", help="World size: tiny (tests), quick, standard.")
    ] = "quick",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Dataset directory to create (default: the global --data)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing dataset directory.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", help="Worker processes (content does not depend on it).")
    ] = 1,
) -> None:
    """Generate the synthetic world: obs.zarr, sim.zarr and manifest.json."""
    import time

    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.world.generate import generate

    # deferred: the CLI starts without loading the engine
    from tailshift.io import read_manifest

    target = out if out is not None else settings(ctx).data_dir
    con = console()
    t0 = time.perf_counter()
    path = generate(target, preset=preset, seed=seed, force=force, workers=workers, progress=True)
    dt = time.perf_counter() - t0
    manifest = read_manifest(path)
    n = sum(int(s["n_scenes"]) for s in manifest["stores"].values())
    rate = n / max(dt, 1e-9)
    checksum = manifest["dataset_checksum"][:16]
    con.print(f"wrote {path} (preset {preset}, seed {seed}): {n} scenes in {dt:.1f} s")
    con.print(f"{rate:.1f} scenes/s; dataset checksum {checksum}")


# --- tailshift data info (owned by the world card, benchmark/world/card/) --------------------
@app.command("info")
def info_command(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Argument(help="Dataset directory (default: the global --data)."),
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option("--plots", help="Where to write the card's figures (default: DIR/card/)."),
    ] = None,
    no_plots: Annotated[
        bool, typer.Option("--no-plots", help="Only print the card; write no figures.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any check of the card fails.")
    ] = False,
) -> None:
    """Print the world's climatology card (targets, physics, scaling, sim-obs) and write its plots."""
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.world.card import (
        compute_card,
        render_card,
        write_card_plots,
    )

    # deferred: the CLI starts without loading the engine
    from tailshift.errors import TailShiftError

    data_dir = data_dir if data_dir is not None else settings(ctx).data_dir
    out = console()
    card = compute_card(data_dir, progress=True)
    render_card(card, out)
    if not no_plots:
        target = plots if plots is not None else Path(data_dir) / "card"
        paths = write_card_plots(card, target)
        out.print(f"figures: {target}/ (" + ", ".join(p.name for p in paths) + ", card.json)")
    if strict and not card.passed:
        raise TailShiftError(f"{card.n_failed} check(s) of the world card failed")
