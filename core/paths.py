"""Default locations (standard library only, so the CLI and the models can read them cheaply)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """The data directory when none is given: ``$TAILSHIFT_DATA`` if set, else ``./data``."""
    return Path(os.environ.get("TAILSHIFT_DATA", "data"))
