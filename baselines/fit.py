"""Training of the non-iterative baselines (climatology, bayesian, gbm): fit once, save, done.

Each of these model modules defines ``fit(config, ds, progress, sources) -> model`` and gets its
``train`` from :func:`make_train`; :func:`fit_and_save` opens the training role, fits, and writes
the run directory atomically (:mod:`tailshift.baselines.rundir`).
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tailshift import schema
from tailshift.baselines import common
from tailshift.baselines.rundir import (
    RunDir,
    base_meta,
    dataset_info,
    finish_run,
    now_iso,
    start_run,
)

#: ``fit(config, train_ds, progress, sources) -> model`` of a model module; the model has
#: ``save(directory)`` and ``quantile_levels`` (optionally ``normalisation`` and ``extra``).
FitFn = Callable[[Any, Any, common.ProgressFn | None, tuple[str, ...]], Any]


def fit_and_save(
    baseline: str,
    config: Any,
    data_dir: str | Path,
    split: Any,
    out_dir: str | Path,
    fit: Callable[[Any, Any, tuple[str, ...]], Any],
    channels: tuple[str, ...],
    progress: common.ProgressFn | None = None,
    force: bool = False,
) -> RunDir:
    """Shared ``train`` of the non-iterative baselines (climatology, bayesian, gbm).

    Resolves the split and the training sources, opens the training role lazily, calls
    ``fit(train_ds, progress, sources) -> model`` and writes ``model.save(stage)`` plus ``run.json``
    atomically.
    """
    split = common.resolve_split(split)
    sources = common.training_sources(tuple(config.sources), split)
    if channels:
        common.check_training_channels(split, channels)
    stage = start_run(out_dir, force=force)
    try:
        started, t0 = now_iso(), time.perf_counter()
        ds = common.load_role(data_dir, split, "train", channels=channels or None, sources=sources)
        if progress:
            progress("fit", 0, 1, None)
        model = fit(ds, progress, sources)
        if progress:
            progress("fit", 1, 1, None)
        model.save(stage)
        meta = base_meta(
            baseline, common.config_to_dict(config), split, dataset_info(data_dir), sources,
            channels, model.quantile_levels,
        )
        norm = getattr(model, "normalisation", None)
        if norm is not None:
            meta["normalisation"] = {"mean": [float(v) for v in norm[0]],
                                     "std": [float(v) for v in norm[1]]}
        meta["timing"] = {
            "started": started, "finished": now_iso(), "seconds": time.perf_counter() - t0,
            "n_train_scenes": int(ds.sizes[schema.DIM_SCENE]),
        }
        meta["extra"] = dict(getattr(model, "extra", {}) or {})
        return finish_run(stage, out_dir, meta, force=force)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def make_train(fit: FitFn, doc: str) -> Callable[..., RunDir]:
    """The ``train`` of a non-iterative model module whose ``fit`` is ``fit``.

    The returned function has the registry's signature ``train(config, data_dir, split, out_dir,
    device="cpu", progress=None, force=False, resume=False) -> RunDir``; ``device`` and ``resume``
    are accepted and unused (these models fit on the CPU in one pass). The model reads the
    channels ``config.channel_names`` (none when the config has no channels, as climatology).
    """

    def train(config: Any, data_dir: str | Path, split: Any, out_dir: str | Path,
              device: str = "cpu", progress: common.ProgressFn | None = None,
              force: bool = False, resume: bool = False) -> RunDir:
        return fit_and_save(
            config.BASELINE, config, data_dir, split, out_dir, functools.partial(fit, config),
            channels=getattr(config, "channel_names", ()), progress=progress, force=force,
        )

    train.__doc__ = doc
    train.__module__ = fit.__module__  # documented as the model module's own train
    train.__qualname__ = "train"
    return train
