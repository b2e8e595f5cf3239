"""``run.json`` of a torch run: the common part (:func:`tailshift.baselines.rundir.base_meta`)
plus normalisation, rain transform, timing, loader and device, and the training history."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tailshift.baselines.checkpoint import TrainState
from tailshift.baselines.loaders import TrainingData
from tailshift.baselines.rundir import base_meta, now_iso


def torch_run_meta(baseline: str, config: Any, config_dict: dict[str, Any], split: Any,
                   dataset: dict[str, Any], sources: tuple[str, ...], channels: tuple[str, ...],
                   levels: np.ndarray, data: TrainingData, state: TrainState, started: str,
                   t_start: float, device: str, world: int, amp: str,
                   n_parameters: int) -> dict[str, Any]:
    """The metadata of a finished torch run.

    ``started`` is the ISO time stamp and ``t_start`` the ``time.perf_counter()`` of the start;
    ``amp`` names the autocast dtype (``"off"`` without mixed precision).
    """
    meta = base_meta(baseline, config_dict, split, dataset, sources, channels, levels)
    meta["normalisation"] = {"mean": data.mean.tolist(), "std": data.std.tolist(),
                             "sources": list(data.norm_sources)}
    meta["transform"] = config.transform
    history = state.history
    speeds = [h["train_scenes_per_s"] for h in history]
    train, val = data.train, data.val
    meta["timing"] = {
        "started": started, "finished": now_iso(),
        "seconds": time.perf_counter() - t_start,
        "epochs_run": len(history), "best_epoch": state.best_epoch,
        "train_scenes_per_s": float(np.median(speeds)) if speeds else None,
        "n_train_scenes": train.n, "n_val_scenes": val.n if val else 0,
        "loader": type(train).__name__ + (" (in memory)" if train.cached else ""),
        "device": device, "world_size": world, "amp": amp,
    }
    meta["extra"] = {"n_parameters": n_parameters, "history": history,
                     "early_stopping_on": "id_val" if val is not None else "train"}
    return meta
