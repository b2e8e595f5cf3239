"""Loading a submitted model, in any of its three forms.

Model forms (docs/design.md "Models"), told apart by :func:`load_models`:

1. ``path/to/file.py:factory`` (or ``package.module:factory``): ``factory()`` returns an object
   with ``predict(inputs: xr.Dataset) -> xr.Dataset`` in the predictions schema for that batch.
   A bare callable (SatRain's ``retrieval_fn(xr.Dataset) -> xr.Dataset`` convention) is wrapped
   as its ``predict``. Optional attributes: ``training_sources`` (else ``--sources``, else
   ``("obs",)``), ``description``.
2. A run directory written by ``tailshift train`` (``run.json``; :mod:`tailshift.baselines.rundir`), or a
   directory of run directories: each run is submitted for the split it was trained for, its
   training sources, split hash and dataset checksum are read from its metadata and checked.
3. A TorchScript (``.pt``/``.ts``) or ``torch.export`` (``.pt2``) file with a sidecar TOML of the
   same stem (``model.pt`` -> ``model.toml``)::

       channels = ["36.64V", "36.64H", "89.0V", "89.0H"]  # or "drain4" / "all"
       quantile_levels = [0.05, 0.5, 0.95]                 # strictly increasing in (0, 1)
       transform = "none"            # or "gprof_nn": the output is in that transformed space
       mean = [...]; std = [...]     # optional per-channel input normalisation (K)
       training_sources = ["obs"]
       batch_size = 8                # exported programs with a static batch: the last batch
                                     # is padded to it

   The program maps ``(batch, channel, y, x)`` float32 to ``(batch, quantile, y, x)``. TorchScript
   archives are loaded with ``torch.jit.load`` and exported programs with ``torch.export.load``:
   neither unpickles arbitrary Python objects; state dicts elsewhere use ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.baselines import common, registry
from tailshift.baselines.device import resolve_device
from tailshift.baselines.rundir import RunDir
from tailshift.errors import BadInputError, TailShiftError

#: Default scenes per model call.



#: Scenes per model call when a submission does not say.
DEFAULT_BATCH = 16
PROGRAM_SUFFIXES = (".pt", ".pt2", ".ts", ".torchscript")


class ModelFailure(TailShiftError):
    """The submitted model raised or was too slow on a batch (exit code 1)."""


@dataclass
class LoadedModel:
    """A model ready to run, with what the results need to know about it."""

    model: Any
    spec: str
    kind: str  # "python" | "run" | "program"
    training_sources: tuple[str, ...] = (schema.SOURCE_OBS,)
    splits: tuple[str, ...] = ()
    baseline: str | None = None
    description: str = ""
    code_hash: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- loading


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class CallableModel:
    """Adapter: a function ``f(xr.Dataset) -> xr.Dataset`` (SatRain ``retrieval_fn``) as a model."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def predict(self, inputs: Any) -> Any:
        return self.fn(inputs)


def _load_python(spec: str, sources: Sequence[str] | None) -> LoadedModel:
    target, _, attr = spec.rpartition(":")
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise BadInputError(f"model file {path} does not exist; pass path/to/file.py:factory")
        mod_name = f"tailshift_submission_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}"
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        if mspec is None or mspec.loader is None:
            raise BadInputError(f"cannot import {path}; is it a Python file?")
        module = importlib.util.module_from_spec(mspec)
        sys.modules[mod_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            mspec.loader.exec_module(module)
        except Exception as exc:
            raise ModelFailure(f"importing {path} raised {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(str(path.resolve().parent))
        code_hash = _file_hash(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise BadInputError(
                f"cannot import module {target!r} ({exc}); pass path/to/file.py:factory or an "
                + "importable module:factory"
            ) from exc
        code_hash = _file_hash(Path(module.__file__)) if getattr(module, "__file__", None) else None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise BadInputError(f"{target} has no callable {attr!r}; name the factory after the colon")
    try:
        obj = factory()
    except Exception as exc:
        raise ModelFailure(f"{spec}: calling {attr}() raised {type(exc).__name__}: {exc}") from exc
    if not hasattr(obj, "predict"):
        if callable(obj):
            obj = CallableModel(obj)
        else:
            raise BadInputError(
                f"{spec}: {attr}() returned {type(obj).__name__}, which has no predict(inputs) "
                + "method and is not callable"
            )
    declared = getattr(obj, "training_sources", None) or sources or (schema.SOURCE_OBS,)
    return LoadedModel(obj, spec, "python", tuple(declared), description=str(getattr(obj, "description", "")),
                       code_hash=code_hash)


def _load_run(path: Path, device: str = "cpu") -> LoadedModel:




    run = RunDir(path)
    model = registry.load(run, device=device)
    return LoadedModel(
        model, str(path), "run", run.training_sources, splits=(run.split_name,), baseline=run.baseline,
        description=registry.get(run.baseline).description,
        code_hash=(run.meta.get("code_version") or {}).get("git"), meta=run.meta,
    )


class ProgramModel:
    """A TorchScript / exported program with its sidecar: ``predict`` in the predictions schema."""

    def __init__(self, path: Path, side: dict[str, Any], device: str = "cpu"):
        import torch  # deferred: torch is heavy and only program models need it





        self.path = path
        self.device = resolve_device(device)
        self.channels = schema.resolve_channels(side.get("channels", "all"))
        levels = np.asarray(side.get("quantile_levels", []), dtype=np.float64)
        if levels.ndim != 1 or levels.size == 0 or np.any(np.diff(levels) <= 0) or levels[0] <= 0 or levels[-1] >= 1:
            raise BadInputError(
                f"sidecar of {path}: quantile_levels must be a non-empty, strictly increasing list "
                + "inside (0, 1)"
            )
        self.quantile_levels = levels
        self.transform = side.get("transform", "none")
        if self.transform not in common.TRANSFORMS:
            raise BadInputError(f"sidecar of {path}: transform must be one of {list(common.TRANSFORMS)}")
        n = len(self.channels)
        self.mean = np.asarray(side.get("mean", np.zeros(n)), np.float32)
        self.std = np.asarray(side.get("std", np.ones(n)), np.float32)
        if self.mean.shape != (n,) or self.std.shape != (n,):
            raise BadInputError(f"sidecar of {path}: mean and std need one value per channel ({n})")
        self.exported = path.suffix == ".pt2"
        self.batch_size = int(side.get("batch_size", 1 if self.exported else DEFAULT_BATCH))
        try:
            if self.exported:
                self.module = torch.export.load(str(path)).module().to(self.device)
            else:
                import warnings

                with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self.module = torch.jit.load(str(path), map_location=self.device)
                self.module.eval()
        except Exception as exc:
            raise BadInputError(f"cannot load {path} as a TorchScript / exported program ({exc})") from exc

    def predict(self, inputs: Any) -> Any:
        import torch  # deferred: torch is heavy and only program models need it



        tb = common.tb_array(inputs, self.channels, fill=self.mean)
        x = np.nan_to_num((tb - self.mean[None, :, None, None]) / self.std[None, :, None, None])
        x = x.astype(np.float32)
        n = x.shape[0]
        outs = []
        with torch.no_grad():
            for sl in range(0, n, self.batch_size):
                part = x[sl:sl + self.batch_size]
                k = part.shape[0]
                if self.exported and k < self.batch_size:
                    part = np.concatenate([part, np.zeros((self.batch_size - k,) + part.shape[1:], np.float32)])
                out = self.module(torch.from_numpy(np.ascontiguousarray(part)).to(self.device))
                outs.append(np.asarray(out.detach().float().cpu().numpy())[:k])
        q = np.concatenate(outs)
        expected = (n, len(self.quantile_levels)) + x.shape[2:]
        if q.shape != expected:
            raise BadInputError(
                f"{self.path} returned shape {q.shape}; the sidecar implies {expected} "
                + "(batch, quantile, y, x)"
            )
        q = common.rain_inverse(q, self.transform)
        return common.to_predictions(inputs, q, self.quantile_levels)


def _load_program(path: Path, sources: Sequence[str] | None, device: str = "cpu") -> LoadedModel:
    side_path = path.with_suffix(".toml")
    if not side_path.is_file():
        raise BadInputError(
            f"{path} needs a sidecar {side_path} naming channels and quantile_levels "
            + "(see 'tailshift submit --help')"
        )
    try:
        side = tomllib.loads(side_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"sidecar {side_path} is not valid TOML ({exc})") from exc
    known = {"channels", "quantile_levels", "transform", "mean", "std", "training_sources",
             "batch_size", "description"}
    unknown = sorted(set(side) - known)
    if unknown:
        raise BadInputError(f"sidecar {side_path} has unknown key(s) {unknown}; valid: {sorted(known)}")
    model = ProgramModel(path, side, device=device)
    declared = side.get("training_sources") or sources or (schema.SOURCE_OBS,)
    return LoadedModel(model, str(path), "program", tuple(declared), description=side.get("description", ""),
                       code_hash=_file_hash(path))


def load_models(spec: str | Path, sources: Sequence[str] | None = None,
                device: str = "cpu") -> list[LoadedModel]:
    """Load the model(s) named by ``spec`` (see the module docstring for the three forms).

    A directory of run directories gives one model per run; every other form gives one.
    ``device`` places torch models (U-Net runs, TorchScript / exported programs) for inference;
    a Python entry point chooses its own device.
    """
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        if (path / "run.json").is_file():
            return [_load_run(path, device)]
        runs = sorted(p for p in path.iterdir() if (p / "run.json").is_file())
        if not runs:
            raise BadInputError(
                f"{path} is neither a run directory nor a directory of runs (no run.json); pass "
                + "the --out of 'tailshift train'"
            )
        return [_load_run(p, device) for p in runs]
    if path.suffix in PROGRAM_SUFFIXES:
        if not path.is_file():
            raise BadInputError(f"model file {path} does not exist")
        return [_load_program(path, sources, device)]
    if ":" in text and not path.exists():
        return [_load_python(text, sources)]
    raise BadInputError(
        f"cannot tell what model {text!r} is: pass path/to/file.py:factory, a run directory, or a "
        + "TorchScript/exported program (.pt/.pt2) with a sidecar .toml"
    )


def load_model(spec: str | Path, sources: Sequence[str] | None = None,
               device: str = "cpu") -> LoadedModel:
    """:func:`load_models` for a spec that names exactly one model."""
    models = load_models(spec, sources, device)
    if len(models) != 1:
        raise BadInputError(f"{spec} holds {len(models)} runs; name one of them")
    return models[0]


# ----------------------------------------------------------------------------------- running
