"""The ``tailshift`` command line (typer + rich).

A thin layer: each package owns its subcommands (docs/design.md, Conventions) and every command calls a
library function usable from Python. Exit codes: 0 ok, 1 failure, 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tailshift.app import baselines_cli, quickstart, score
from tailshift.app.common import Settings
from tailshift.app.leaderboard_cli import app as leaderboard_app
from tailshift.app.splits_cli import app as splits_app
from tailshift.app.world_cli import app as data_app
from tailshift.errors import TailShiftError, report
from tailshift.paths import default_data_dir

app = typer.Typer(
    name="tailshift",
    help="TailShift: out-of-distribution benchmark for passive-microwave precipitation retrieval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Dataset directory (else $TAILSHIFT_DATA, else ./data)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="dask.distributed scheduler address (default in-process)."),
    ] = None,
) -> None:
    ctx.obj = Settings(data_dir=data if data is not None else default_data_dir(), scheduler=scheduler)


app.add_typer(data_app, name="data", help="Generate and describe the synthetic world.")
app.add_typer(splits_app, name="splits", help="List and show the OOD splits.")
app.add_typer(leaderboard_app, name="leaderboard", help="Build the static leaderboard site.")
score.register(app)
baselines_cli.register(app)
quickstart.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: maps errors to exit codes and one-line messages."""
    try:
        app(args=argv, standalone_mode=False)
    except TailShiftError as exc:
        return report(exc)
    except KeyboardInterrupt:
        print("interrupted; nothing partial was kept", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        click_errors, usage_errors = [click.exceptions.ClickException], [click.exceptions.UsageError]
        try:  # typer >= 0.2x vendors its own copy of click
            from typer._click import exceptions as _typer_click

            click_errors.append(_typer_click.ClickException)
            usage_errors.append(_typer_click.UsageError)
        except ImportError:  # pragma: no cover - older typer uses click itself
            pass
        if isinstance(exc, tuple(click_errors)):
            exc.show()
            return 2 if isinstance(exc, tuple(usage_errors)) else exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
