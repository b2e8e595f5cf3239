"""Run directories: what ``tailshift train`` writes and ``tailshift submit`` / ``predict`` read.

Layout of ``<run>/``::

    run.json      metadata (below)
    model.pt      torch weights: a state_dict saved with torch.save, read with weights_only=True
    model.npz     numpy arrays of non-torch models (np.load with allow_pickle=False)
    model.json    small JSON parameters of non-torch models
    history.json  per-epoch losses of iterative trainers (optional)

Never pickle: every file is readable without executing code from the file.

``run.json`` (``run_schema_version`` 1)::

    {"run_schema_version": 1, "baseline": str, "config": {...},
     "split": {"name": str, "hash": str}, "dataset": {"checksum": str, "preset": str,
     "generator_version": str}, "training_sources": ["obs", ...],
     "quantile_levels": [float], "channels": [str], "normalisation": {"mean": [K], "std": [K]},
     "timing": {"started": iso, "finished": iso, "seconds": float, ...},
     "code_version": {"tailshift": str, "git": str | null}, "extra": {...}}

Atomicity: training works in a sibling staging directory ``.<name>.partial`` and renames it to
``<run>`` only when everything is written; an interrupted run leaves only the staging directory
(which ``--resume`` continues from), never a half-written ``<run>``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

import tailshift
from tailshift.atomic import _replace, atomic_write_text, check_target
from tailshift.errors import BadInputError

RUN_SCHEMA_VERSION = 1
RUN_JSON = "run.json"
MODEL_PT = "model.pt"
MODEL_NPZ = "model.npz"
MODEL_JSON = "model.json"
CHECKPOINT = "checkpoint.pt"
HISTORY_JSON = "history.json"

_REQUIRED = ("baseline", "config", "split", "training_sources", "quantile_levels", "channels")


def now_iso() -> str:
    """UTC time stamp, ISO 8601, seconds resolution."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def code_version() -> dict[str, Any]:
    """Package version and, when run from a git checkout, the commit (``+dirty`` if modified)."""
    out: dict[str, Any] = {"tailshift": tailshift.__version__, "git": None}
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        out["git"] = head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def staging_path(out: str | Path) -> Path:
    """The staging directory of run ``out``."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def start_run(out: str | Path, force: bool = False, resume: bool = False) -> Path:
    """Create (or, with ``resume``, reuse) the staging directory of ``out`` and return it."""
    out = Path(out)
    check_target(out, force, what="run directory")
    stage = staging_path(out)
    if resume:
        if not (stage / CHECKPOINT).is_file():
            raise BadInputError(
                f"nothing to resume: {stage} has no {CHECKPOINT}; drop --resume to start afresh"
            )
        return stage
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    return stage


def finish_run(stage: Path, out: str | Path, meta: dict[str, Any], force: bool = False) -> RunDir:
    """Write ``run.json`` into ``stage``, drop the checkpoint, and rename ``stage`` to ``out``."""
    out = Path(out)
    check_target(out, force, what="run directory")
    meta = dict(meta)
    meta["run_schema_version"] = RUN_SCHEMA_VERSION
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"run metadata lacks {missing}")
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    atomic_write_text(stage / RUN_JSON, text, force=True)
    (stage / CHECKPOINT).unlink(missing_ok=True)
    _replace(stage, out)
    return RunDir(out)


def save_state_dict(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary sibling, then rename (a crash never leaves half a file)."""
    import torch  # deferred: heavy optional dependency (the numpy baselines never load it)

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """``torch.load(..., weights_only=True)`` on CPU: tensors and plain containers only."""
    import torch  # deferred: heavy optional dependency (the numpy baselines never load it)

    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise BadInputError(f"{path} does not exist; the run directory is incomplete") from exc
    except Exception as exc:  # unpickling refused or a corrupt file
        raise BadInputError(f"cannot load weights from {path} safely ({exc})") from exc


def save_arrays(path: str | Path, **arrays: np.ndarray) -> None:
    """Save numpy arrays (no object dtype) as ``.npz``, atomically."""
    path = Path(path)
    for name, a in arrays.items():
        if np.asarray(a).dtype.kind == "O":
            raise TypeError(f"array {name!r} has object dtype; it would need pickle")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Load a ``.npz`` written by :func:`save_arrays` (``allow_pickle=False``)."""
    try:
        with np.load(Path(path), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError as exc:
        raise BadInputError(f"{path} does not exist; the run directory is incomplete") from exc


def save_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (sorted keys)."""
    atomic_write_text(Path(path), json.dumps(obj, indent=2, sort_keys=True) + "\n", force=True)


def load_json(path: str | Path) -> Any:
    """Read a JSON file of a run directory."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadInputError(f"{path} does not exist; the run directory is incomplete") from exc
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path} is not valid JSON ({exc})") from exc


class RunDir:
    """A finished run directory; reading it validates ``run.json``.

    Raises
    ------
    BadInputError
        If ``path`` is not a directory with a readable, complete ``run.json``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / RUN_JSON).is_file():
            raise BadInputError(
                f"{self.path} is not a run directory (no {RUN_JSON}); pass the --out of " +
                "'tailshift train'"
            )
        self.meta = load_json(self.path / RUN_JSON)
        missing = [k for k in _REQUIRED if k not in self.meta]
        if missing:
            raise BadInputError(f"{self.path / RUN_JSON} lacks {missing}; retrain the model")
        version = self.meta.get("run_schema_version")
        if version != RUN_SCHEMA_VERSION:
            raise BadInputError(
                f"{self.path} has run schema version {version}, this TailShift reads " +
                f"{RUN_SCHEMA_VERSION}; retrain the model"
            )

    def file(self, name: str) -> Path:
        """Path of a file inside the run directory."""
        return self.path / name

    @property
    def baseline(self) -> str:
        return str(self.meta["baseline"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta["config"])

    @property
    def split_name(self) -> str:
        return str(self.meta["split"]["name"])

    @property
    def split_hash(self) -> str | None:
        return self.meta["split"].get("hash")

    @property
    def training_sources(self) -> tuple[str, ...]:
        return tuple(self.meta["training_sources"])

    @property
    def quantile_levels(self) -> np.ndarray:
        return np.asarray(self.meta["quantile_levels"], dtype=np.float64)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.meta["channels"])

    @property
    def normalisation(self) -> tuple[np.ndarray, np.ndarray] | None:
        norm = self.meta.get("normalisation")
        if not norm:
            return None
        return np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, baseline={self.baseline!r}, split={self.split_name!r})"


def dataset_info(data_dir: str | Path) -> dict[str, Any]:
    """The ``dataset`` block of ``run.json``: checksum, preset and generator version.

    Read from the dataset's manifest (the checksum recomputed from the store checksums when the
    manifest lacks it).
    """
    # deferred: tailshift.io imports xarray (heavy); the registry imports this module cheaply
    from tailshift.io import dataset_checksum, read_manifest

    manifest = read_manifest(data_dir)
    return {
        "checksum": manifest.get("dataset_checksum") or dataset_checksum(manifest),
        "preset": manifest.get("preset"),
        "generator_version": manifest.get("generator_version"),
    }


def base_meta(baseline: str, config_dict: dict[str, Any], split: Any, dataset: dict[str, Any],
              sources: tuple[str, ...], channels: tuple[str, ...], levels: np.ndarray) -> dict:
    """The common part of ``run.json``; ``dataset`` is the block of :func:`dataset_info`."""
    return {
        "baseline": baseline,
        "config": config_dict,
        "split": {"name": split.name, "hash": getattr(split, "hash", None)},
        "dataset": dict(dataset),
        "training_sources": list(sources),
        "quantile_levels": [float(v) for v in levels],
        "channels": list(channels),
        "code_version": code_version(),
    }
