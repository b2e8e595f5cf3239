"""Subcommands (placeholder until this package's issue lands)."""

import typer

app = typer.Typer(no_args_is_help=True)
