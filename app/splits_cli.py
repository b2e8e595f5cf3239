"""``tailshift splits list | show NAME``: what the OOD splits are and what each role contains.

``show`` prints the definition (train sources, each role's selections and channels, the split
hash) and, when the dataset directory (global ``--data``) exists, the role sizes on that dataset:
scenes per source, years, regimes and warming range (:func:`tailshift.benchmark.dataset.role_sizes`). When
the directory does not exist it says so and prints the definition only; a directory that exists
but is broken is an error (exit 2).
"""

from __future__ import annotations

from typing import Annotated

import typer

from tailshift.app.common import console, settings

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """List the shipped splits with their roles and hash."""
    from rich.table import Table

    # deferred: the CLI starts without loading the engine
    from tailshift.splits.loader import (
        list_splits,
        load_split,
    )

    table = Table(title="TailShift splits")
    for col in ("name", "roles", "train sources", "hash", "description"):
        table.add_column(col)
    for name in list_splits():
        sp = load_split(name)
        table.add_row(
            sp.name, " ".join(sp.roles), ",".join(sp.train_sources), sp.short_hash, sp.description
        )
    console().print(table)


def _fmt_range(r: list | None, unit: str = "") -> str:
    if r is None:
        return "-"
    lo, hi = r
    return f"{lo}{unit}" if lo == hi else f"{lo}-{hi}{unit}"


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Split name (see 'splits list') or a .toml path.")],
) -> None:
    """Show a split's definition and, with a dataset, its role sizes."""
    # deferred: the CLI starts without loading the engine
    from tailshift import schema

    # deferred: the CLI starts without loading the engine
    from tailshift.splits.loader import load_split

    sp = load_split(name)
    con = console()

    def say(text: str) -> None:
        con.print(text, markup=False, soft_wrap=True)

    say(f"{sp.name}: {sp.description}")
    say(f"file {sp.path}  sha256 {sp.hash}")
    say(
        f"train sources: {', '.join(sp.train_sources)}; evaluation roles: {', '.join(sp.eval_roles)}"
    )
    for role, spec in sp.roles.items():
        chans = spec.channels
        cname = next((k for k, v in schema.CHANNEL_SETS.items() if v == chans), None)
        cdesc = f"{cname}, {len(chans)}" if cname else ", ".join(chans)
        say(f"  {role}: {spec.description} (channels: {cdesc})")
        for sel in spec.selections:
            say(f"    - {sel.describe()}")

    data_dir = settings(ctx).data_dir
    if not data_dir.exists():
        say(
            f"no dataset at {data_dir}: definition only (role sizes need data; generate one with "
            + f"'tailshift data generate --out {data_dir}' or pass --data DIR)"
        )
        return
    # deferred: the CLI starts without loading the engine
    from tailshift.benchmark.dataset import role_sizes

    sizes = role_sizes(data_dir, sp)
    say(f"role sizes on {data_dir}:")
    for role, info in sizes.items():
        srcs = ", ".join(f"{k} {v}" for k, v in info["sources"].items()) or "none"
        say(
            f"  {role:<8} {info['n_scenes']:>6} scenes ({srcs}); years {_fmt_range(info['years'])}; "
            + f"warming {_fmt_range(info['warming'], ' K')}; {info['channels']} channels"
        )
        if info["regimes"]:
            regs = ", ".join(f"{k} {v}" for k, v in info["regimes"].items())
            say(f"  {'':<8} regimes: {regs}")
