"""Shared CLI plumbing: the settings object passed through typer's context, and the console.

No global state: the root callback stores a :class:`Settings` in ``ctx.obj`` and every command
reads it with :func:`settings`. Library functions never read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from tailshift.paths import default_data_dir


@dataclass(frozen=True)
class Settings:
    """Global CLI options (docs/design.md "CLI")."""

    data_dir: Path
    scheduler: str | None = None


def settings(ctx: typer.Context) -> Settings:
    """The :class:`Settings` of the running command (defaults when called without the root)."""
    root = ctx.find_root()
    if isinstance(root.obj, Settings):
        return root.obj
    return Settings(data_dir=default_data_dir())


def console() -> Console:
    """The rich console used for progress and tables (stderr stays free for errors)."""
    return Console(highlight=False)
