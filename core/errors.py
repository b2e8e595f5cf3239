"""Exceptions shared by the library and the CLI.

The CLI maps :class:`BadInputError` to exit code 2 and any other :class:`TailShiftError` to exit
code 1 (docs/design.md "CLI"), printing the message on one line. Messages name the problem and the fix.
"""

from __future__ import annotations

import sys


class TailShiftError(Exception):
    """Base class of TailShift's own errors (exit code 1)."""


class BadInputError(TailShiftError, ValueError):
    """The user gave something unusable: a path, a file, an option, a split (exit code 2)."""


def report(exc: TailShiftError) -> int:
    """Print ``exc`` as one ``error:`` line on stderr; return its exit code (2 bad input, else 1)."""
    print(f"error: {exc}", file=sys.stderr)
    return 2 if isinstance(exc, BadInputError) else 1
