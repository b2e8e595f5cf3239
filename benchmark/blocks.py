"""One block of scenes through a score card: the card configuration, the point estimate, the
example scenes, and the mergeable :class:`BlockResult` (the unit of work everywhere; see
:mod:`tailshift.benchmark.evaluate` for how blocks are planned and merged)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tailshift.benchmark.results import EXAMPLE_DECIMALS, N_EXAMPLES
from tailshift.errors import BadInputError, TailShiftError
from tailshift.metrics import REGISTRY
from tailshift.metrics import kernels as K
from tailshift.metrics.scorecard import CardConfig, ScoreCard

DEFAULT_CHUNK = 32
#: How long to wait for a dask scheduler before giving up (``distributed.Client(timeout=...)``).

"""``progress(scenes_done, scenes_total)``, called after each block."""

Progress = Callable[[int, int], None]

EXAMPLE_LEVELS = (0.5, 0.99)


def make_config(
    config: Any = None,
    metrics: Sequence[str] | None = None,
    quantile_levels: Sequence[float] | None = None,
):
    """A :class:`tailshift.metrics.scorecard.CardConfig` from ``config`` (a CardConfig, a dict of its fields, or
    None), the metric names to compute, and the predictions' quantile levels (which win)."""
    if config is None:
        cfg = CardConfig()
    elif isinstance(config, CardConfig):
        cfg = config
    elif isinstance(config, Mapping):
        names = {f.name for f in dataclasses.fields(CardConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise BadInputError(
                f"unknown scoring option(s) {unknown}; valid options are {sorted(names)}"
            )
        cfg = CardConfig(**dict(config))
    else:
        raise BadInputError(f"config must be a CardConfig or a dict, not {type(config).__name__}")
    changes: dict[str, Any] = {}
    if metrics is not None:
        changes["metrics"] = tuple(check_metric_names(metrics))
    if quantile_levels is not None:
        changes["quantile_levels"] = tuple(float(q) for q in quantile_levels)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def check_metric_names(names: Sequence[str]) -> list[str]:
    """Registry names, checked; BadInputError listing unknown ones and the valid names."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise BadInputError(
            f"unknown metric(s) {unknown}; use registry names: {', '.join(sorted(REGISTRY))}"
        )
    return names


def _level_field(q: np.ndarray, levels, tau: float) -> np.ndarray:
    """Field at level ``tau`` of quantiles ``q`` (s, Q, y, x); interpolated fields in float32."""
    out = K.interp_level(q, levels, tau, axis=1)
    return out if float(tau) in {float(v) for v in levels} else out.astype(np.float32)


def point_estimate(
    point: np.ndarray | None,
    quantiles: np.ndarray | None,
    levels: Sequence[float] | None,
    samples: np.ndarray | None,
) -> np.ndarray:
    """The point estimate of a block: given, else the 0.5 quantile, else the ensemble mean."""
    if point is not None:
        return point
    if quantiles is not None:
        return _level_field(quantiles, levels, 0.5)
    if samples is not None:
        return samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    raise TailShiftError("no prediction variable in the block")


def _example_fields(
    i: int, point, quantiles, levels, samples
) -> tuple[np.ndarray, np.ndarray | None]:
    if quantiles is not None:
        q = quantiles[i : i + 1]
        return (
            _level_field(q, levels, EXAMPLE_LEVELS[0])[0],
            _level_field(q, levels, EXAMPLE_LEVELS[1])[0],
        )
    if samples is not None:
        med, q99 = np.quantile(samples[i], EXAMPLE_LEVELS, axis=0)
        return med, q99
    return point[i], None


def _round(a: np.ndarray | None) -> list | None:
    if a is None:
        return None

    a = np.round(np.asarray(a, dtype=np.float64), EXAMPLE_DECIMALS)
    return [[v if math.isfinite(v) else None for v in row] for row in a.tolist()]


def _example_key(ex: Mapping) -> tuple:
    return (-ex["_max"], ex["scene"])


def top_examples(candidates: Sequence[Mapping], n: int | None = None) -> list[dict]:
    """The ``n`` candidates with the largest reference maximum (ties: smaller scene id)."""
    n = N_EXAMPLES if n is None else n
    return [dict(e) for e in sorted(candidates, key=_example_key)[:n]]


@dataclass
class BlockResult:
    """A card of additive statistics plus the running example scenes and counts (mergeable)."""
    card: Any
    examples: list[dict] = field(default_factory=list)
    n_scenes: int = 0
    n_pixels: int = 0

    def merge(self, other: BlockResult) -> BlockResult:
        """Combine two results (``self`` first, ``other`` second)."""
        merged = self.card.merge(other.card)
        card = merged if merged is not None else self.card
        return BlockResult(
            card,
            top_examples([*self.examples, *other.examples]),
            self.n_scenes + other.n_scenes,
            self.n_pixels + other.n_pixels,
        )


def score_block(
    cfg,
    reference: np.ndarray,
    *,
    scene: np.ndarray,
    warming: np.ndarray,
    block: np.ndarray,
    groups: Mapping[str, np.ndarray],
    year: np.ndarray | None = None,
    point: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] | None = None,
    samples: np.ndarray | None = None,
) -> BlockResult:
    """Statistics of one block of aligned, cleaned arrays (the unit of work everywhere).

    ``reference`` and ``point`` are (s, y, x), ``quantiles`` (s, Q, y, x), ``samples``
    (s, M, y, x) in mm/h; ``scene``, ``warming``, ``block`` and each group are (s,).
    """
    reference = np.asarray(reference, dtype=np.float32)
    pt = point_estimate(point, quantiles, levels, samples)
    card = ScoreCard(cfg)
    card.update(
        reference,
        point=pt,
        quantiles=quantiles,
        samples=samples,
        scene=np.asarray(scene),
        warming=np.asarray(warming, dtype=np.float64),
        block=np.asarray(block).astype(str),
        year=None if year is None else np.asarray(year),
        groups={k: np.asarray(v).astype(str) for k, v in groups.items()},
    )
    maxima = np.nanmax(reference.reshape(reference.shape[0], -1), axis=1)
    candidates = []
    for i in range(reference.shape[0]):
        sid = scene[i].item() if hasattr(scene[i], "item") else scene[i]
        candidates.append({"_max": float(maxima[i]), "scene": sid, "_i": i})
    chosen = top_examples(candidates)
    examples = []
    for ex in chosen:
        i = ex.pop("_i")
        med, q99 = _example_fields(i, point, quantiles, levels, samples)
        examples.append(
            {
                "_max": ex["_max"],
                "scene": ex["scene"],
                "reference": _round(reference[i]),
                "median": _round(med),
                "q99": _round(q99),
            }
        )
    return BlockResult(card, examples, int(reference.shape[0]), int(np.isfinite(reference).sum()))


def fold(results) -> BlockResult:
    """Left fold ``((r0 + r1) + r2) + ...`` of an iterable of :class:`BlockResult` (constant memory)."""
    acc = None
    for r in results:
        acc = r if acc is None else acc.merge(r)
    if acc is None:
        raise TailShiftError("nothing to merge: the role has no scene")
    return acc


def finalize(result: BlockResult, channels: Sequence[str] = ()) -> dict:
    """The role block of a result file from merged statistics."""
    out = result.card.finalize()
    examples = [{k: v for k, v in e.items() if not k.startswith("_")} for e in result.examples]
    return {
        "n_scenes": int(result.n_scenes),
        "n_pixels": int(result.n_pixels),
        "channels": list(channels),
        "forecast": out.get("forecast", {}),
        "scores": out.get("scores", {}),
        "undefined": out.get("undefined", {}),
        "groups": out.get("groups", {}),
        "worst_group": out.get("worst_group", {}),
        "curves": out.get("curves", {}),
        "replicates": out.get("replicates", {}),
        "examples": examples,
    }
