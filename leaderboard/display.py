"""Numbers as the site and the CLI show them (one formatter for both).

Lives in the leaderboard layer so that both the site builder and the app layer
(``tailshift score`` prints a table of scores) may import it: the app sits above the leaderboard.
"""

from __future__ import annotations

from typing import Any


def fmt(v: Any, *, missing: str = "—", spec: str | None = None) -> str:
    """A score for display.

    ``yes``/``no`` for flags, ``missing`` for a missing value, text as it is. A number is written
    with the format ``spec`` when one is given (the CLI uses ``".4g"``), else as the site shows
    it: 3 significant digits, whole numbers from 1000, ``1.50e-05`` style below 1e-3 and from
    1e5, and ``0`` for zero.
    """
    if v is None:
        return missing
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if spec is not None:
        return format(v, spec)
    v = float(v)
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 1000:
        return f"{v:.0f}"
    return f"{v:.3g}"
