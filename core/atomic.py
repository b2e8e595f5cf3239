"""Atomic writes: write to a temporary sibling, then rename, so nothing half-written is left.

Used by every writer of datasets, predictions, results and sites (docs/results.md: "written
atomically (temp file + rename)").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tailshift.errors import BadInputError


def check_target(path: Path, force: bool, what: str = "output") -> None:
    """Refuse an existing target unless ``force``; refuse an unwritable parent directory."""
    path = Path(path)
    if path.exists() and not force:
        raise BadInputError(f"{what} {path} already exists; pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise BadInputError(f"cannot write {what} {path}: {probe} is not writable; choose another path")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(tmp: Path, final: Path) -> None:
    # mkstemp/mkdtemp create 0600/0700 entries; give the result the usual permissions.
    os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_umask())
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(tmp, final)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False, what: str = "output") -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; rename it to ``path`` only on success.

    On any exception the temporary directory is removed and ``path`` is left as it was.
    """
    final = Path(path)
    check_target(final, force, what)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace(tmp, final)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, force: bool = False, what: str = "output") -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it to ``path`` only on success."""
    final = Path(path)
    check_target(final, force, what)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent, suffix=final.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    _replace(tmp, final)


def atomic_write_text(path: str | os.PathLike, text: str, force: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_file(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
