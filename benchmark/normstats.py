"""Per-channel normalisation statistics of ``tb`` over the train role only, cached per dataset.

Streamed chunk by chunk (:mod:`tailshift.benchmark.readplan`) with the parallel update of Chan,
Golub & LeVeque (1979); only ``train`` scenes are read, so evaluation data never leaks into the
normalisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tailshift import schema
from tailshift.atomic import atomic_write_text
from tailshift.benchmark.dataset import SplitView, check_sources, resolve_role_channels
from tailshift.benchmark.readplan import read_plan, read_unit
from tailshift.errors import BadInputError
from tailshift.io import read_manifest
from tailshift.splits.loader import load_split
from tailshift.splits.model import Split

#: Version of the normalisation-statistics cache file (bump when its content changes).
NORM_CACHE_VERSION = 1


def _merge_moments(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al. (1979) parallel update of count, mean and sum of squared deviations."""
    n = n_a + n_b
    safe = np.where(n > 0, n, 1)
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / safe
    m2 = m2_a + m2_b + delta**2 * n_a * n_b / safe
    return n, mean, m2


def _norm_cache_key(
    split: Split, manifest_checksum: str, channels: Sequence[str], sources: Sequence[str]
) -> str:
    text = f"v{NORM_CACHE_VERSION}|{split.hash}|{manifest_checksum}|{','.join(channels)}|{','.join(sources)}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def normalisation_stats(
    data_dir: str | os.PathLike,
    split: Split | str,
    channels: str | Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    cache: bool = True,
    view: SplitView | None = None,
) -> dict:
    """Per-channel mean and standard deviation of ``tb`` (K) over the train role only.

    Streamed chunk by chunk (memory of one store chunk) with NaN pixels ignored, using the
    parallel update of Chan, Golub & LeVeque (1979) in float64. Only ``train`` scenes are read, so
    evaluation data can never leak into the normalisation.

    Parameters
    ----------
    channels : str or sequence of str, optional
        Channel set name or names (default: ``split.channels_for("train")``). Statistics are per
        channel, so a role with fewer channels uses the train values of its channels.
    sources : sequence of str, optional
        Train sources to use. Default: ``("obs",)`` when the train role has observations (the
        instrument a retrieval is applied to; simulated TBs carry the simulator's biases, docs/world.md
        6), else the train role's sources.
    cache : bool
        Read/write ``<data_dir>/cache/norm-<key>.json`` keyed by split hash, manifest checksum,
        channels and sources (written atomically; skipped with a warning if not writable).

    Returns
    -------
    dict
        ``{"channels": [...], "mean": [...], "std": [...], "n_pixels": [...], "n_scenes": int,
        "sources": [...], "role": "train", "split", "split_hash", "manifest_checksum"}``.
    """
    split = load_split(split)
    chans = schema.resolve_channels(channels, default=split.channels_for("train"))
    train = split.role("train")
    if sources is None:
        sources = (schema.SOURCE_OBS,) if schema.SOURCE_OBS in train.sources else train.sources
    sources = check_sources(split, "train", sources)
    manifest = read_manifest(data_dir)
    checksum = str(manifest.get("dataset_checksum", ""))
    path = (
        Path(data_dir) / "cache" / f"norm-{_norm_cache_key(split, checksum, chans, sources)}.json"
    )
    if cache:
        stats = _read_cache(path, split, chans)
        if stats is not None:
            return stats
    view = view or SplitView(data_dir, split)
    n, mean, m2, n_scenes = _train_moments(view, split, chans, sources)
    if n_scenes == 0 or np.any(n < 2):
        raise BadInputError(
            f"the train role of split {split.name!r} has no usable {list(sources)} scenes on "
            + f"{data_dir}; use a larger dataset or other sources"
        )
    std = np.sqrt(m2 / (n - 1))
    stats = {
        "channels": list(chans),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "n_pixels": n.astype(np.int64).tolist(),
        "n_scenes": int(n_scenes),
        "sources": list(sources),
        "role": "train",
        "split": split.name,
        "split_hash": split.hash,
        "manifest_checksum": checksum,
        "cache_version": NORM_CACHE_VERSION,
    }
    if cache:
        try:
            atomic_write_text(path, json.dumps(stats, indent=2, sort_keys=True) + "\n", force=True)
        except (OSError, BadInputError) as exc:
            warnings.warn(f"normalisation statistics not cached ({exc})", stacklevel=2)
    return stats


def _read_cache(path: Path, split: Split, chans: Sequence[str]) -> dict | None:
    """The cached statistics at ``path`` if present, readable and for these channels and split."""
    if not path.is_file():
        return None
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
        if stats.get("channels") == list(chans) and stats.get("split_hash") == split.hash:
            return stats
    except (OSError, ValueError):
        pass  # unreadable cache: recompute and rewrite
    return None


def _train_moments(
    view: SplitView, split: Split, chans: Sequence[str], sources: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-channel pixel count, mean and sum of squared deviations of the train ``tb``, and the
    number of scenes read (NaN pixels ignored; one store chunk in memory at a time)."""
    nc = len(chans)
    n, mean, m2 = np.zeros(nc), np.zeros(nc), np.zeros(nc)
    n_scenes = 0
    for unit in read_plan(view, "train", sources):
        ds = view.datasets[unit.source]
        resolve_role_channels(split, "train", chans, ds)
        tb = read_unit(ds, unit, [schema.VAR_TB], chans)[schema.VAR_TB].astype(np.float64)
        x = np.moveaxis(tb, 1, 0).reshape(nc, -1)
        cnt = np.isfinite(x).sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.where(cnt > 0, np.nansum(x, axis=1) / np.maximum(cnt, 1), 0.0)
            dev = np.where(np.isfinite(x), x - mu[:, None], 0.0)
        n, mean, m2 = _merge_moments(n, mean, m2, cnt, mu, (dev**2).sum(axis=1))
        n_scenes += len(unit.positions)
    return n, mean, m2, n_scenes
