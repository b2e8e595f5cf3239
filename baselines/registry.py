"""The baseline registry: one :class:`BaselineSpec` per reference model (docs/design.md, Conventions).

Every baseline module provides

* ``Config`` -- a frozen dataclass loaded from TOML (:func:`load_config`; unknown keys are a
  :class:`~tailshift.errors.BadInputError`), with a class attribute ``BASELINE``;
* ``train(config, data_dir, split, out_dir, device="cpu", progress=None, force=False,
  resume=False) -> RunDir``;
* ``load(run: RunDir) -> model`` where ``model.predict(inputs: xr.Dataset) -> xr.Dataset``
  follows docs/results.md (prediction files) and ``model.quantile_levels`` / ``model.channels`` /
  ``model.training_sources`` describe it.

The CLI, configs and run directories use registry names only. Importing this module is cheap
(no torch, no scikit-learn): the model modules are imported by :meth:`BaselineSpec.load_module`
when first used, and none of them imports the registry (the non-iterative ones get their
``train`` from :mod:`tailshift.baselines.fit`, the U-Net from :mod:`tailshift.baselines.train`).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailshift.baselines import common
from tailshift.baselines.device import resolve_device
from tailshift.baselines.rundir import RunDir
from tailshift.errors import BadInputError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class BaselineSpec:
    """One registered baseline.

    Attributes
    ----------
    name : str
        Registry name (``tailshift train NAME``).
    module : str
        Import path of the module implementing ``Config`` / ``train`` / ``load``.
    description : str
        One line for listings and result metadata.
    default_config : str
        File name under ``baselines/configs/`` used when no ``--config`` is given.
    quick_config : str
        The small config for the quick world (quickstart).
    """

    name: str
    module: str
    description: str
    default_config: str
    quick_config: str

    def load_module(self) -> Any:
        """Import the implementing module (heavy imports happen here, not at registry import)."""
        return importlib.import_module(self.module)


REGISTRY: dict[str, BaselineSpec] = {
    spec.name: spec
    for spec in (
        BaselineSpec(
            "climatology", "tailshift.baselines.climatology",
            "per-regime (fallback: surface, global) quantiles of the training rain: the floor",
            "climatology.toml", "climatology_quick.toml",
        ),
        BaselineSpec(
            "bayesian", "tailshift.baselines.bayesian",
            "GPROF-like Bayesian database retrieval: kernel-weighted TB-space neighbours",
            "bayesian.toml", "bayesian_quick.toml",
        ),
        BaselineSpec(
            "gbm", "tailshift.baselines.gbm",
            "quantile gradient boosting (scikit-learn HistGradientBoosting) on pixel and " +
            "neighbourhood features",
            "gbm.toml", "gbm_quick.toml",
        ),
        BaselineSpec(
            "unet", "tailshift.baselines.unet",
            "DRAIN-like quantile U-Net with a monotone quantile head (the reference)",
            "unet.toml", "unet_quick.toml",
        ),
    )
}


def get(name: str) -> BaselineSpec:
    """The spec of baseline ``name``; unknown names raise :class:`BadInputError`."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise BadInputError(
            f"unknown baseline {name!r}; choose one of {sorted(REGISTRY)}"
        ) from None


def load_config(name: str, path: str | Path | dict | None = None) -> Any:
    """The ``Config`` of baseline ``name`` from ``path`` (TOML), a dict, or its default file."""
    spec = get(name)
    module = spec.load_module()
    if path is None:
        path = CONFIG_DIR / spec.default_config
    return common.load_config(module.Config, path)


def train(
    name: str,
    config: Any = None,
    data_dir: str | Path = "data",
    split: Any = "iid",
    out_dir: str | Path | None = None,
    device: str = "cpu",
    progress: common.ProgressFn | None = None,
    force: bool = False,
    resume: bool = False,
) -> RunDir:
    """Train baseline ``name`` on the training role of ``split``; return the run directory."""
    spec = get(name)
    module = spec.load_module()
    if config is None or isinstance(config, str | Path | dict):
        config = load_config(name, config)
    if out_dir is None:
        split_name = split if isinstance(split, str) else split.name
        out_dir = Path("runs") / f"{name}-{split_name}"
    return module.train(
        config, data_dir, split, out_dir, device=device, progress=progress, force=force,
        resume=resume,
    )


def load(run_dir: str | Path | RunDir, device: str = "cpu") -> Any:
    """Load the model of a finished run directory (no pickle anywhere).

    ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``) places a torch model for inference; the
    numpy baselines (climatology, bayesian, gbm) run on the CPU whatever it says.
    """
    device = resolve_device(device)  # a bad or unavailable device is an error for every model
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    spec = get(run.baseline)
    module = spec.load_module()
    if "device" in inspect.signature(module.load).parameters:
        return module.load(run, device=device)
    return module.load(run)
