"""``tailshift data ...``: generate and describe the synthetic world.

Thin wrappers around library functions (CONVENTIONS.md 11): ``generate`` calls
:func:`benchmark.world.generate.generate`. Other commands of this group are appended below as
functions decorated with ``@app.command``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchmark.cli_common import console, settings

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

    from benchmark.io import read_manifest
    from benchmark.world.generate import generate

    target = out if out is not None else settings(ctx).data_dir
    con = console()
    t0 = time.perf_counter()
    path = generate(target, preset=preset, seed=seed, force=force, workers=workers, progress=True)
    dt = time.perf_counter() - t0
    manifest = read_manifest(path)
    n = sum(int(s["n_scenes"]) for s in manifest["stores"].values())
    con.print(
        f"wrote {path} (preset {preset}, seed {seed}): {n} scenes in {dt:.1f} s, "
        f"{n / max(dt, 1e-9):.1f} scenes/s; dataset checksum {manifest['dataset_checksum'][:16]}"
    )
