"""The card's structured result: one :class:`Check` per row, :class:`ScalingFit` per fit, and the
:class:`Card` that holds them with the accumulated tables the plots are drawn from."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def pct_per_k(rate: float) -> float:
    """Per-K log rate a to %/K: 100 (exp(a) - 1) (docs/world.md, "Warming path and the climate
    response")."""
    return 100.0 * math.expm1(rate) if math.isfinite(rate) else float("nan")


def fmt_value(v: float | None, digits: int = 3) -> str:
    """A value as the card prints it: "n/a" when missing, fewer decimals for larger values."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    av = abs(v)
    if av == 0:
        return "0"
    if av >= 100:
        return f"{v:.0f}"
    if av >= 10:
        return f"{v:.1f}"
    if av >= 1:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


@dataclass
class Check:
    """One row of the card: a value, its target and tolerance, and whether it passes.

    ``passed`` is ``None`` when there is not enough data to decide ("n/a").
    """

    section: str
    subject: str
    quantity: str
    value: float
    target: str
    tolerance: str
    passed: bool | None
    units: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    note: str = ""


@dataclass
class ScalingFit:
    """Scaling of one statistic with warming, in per-K log rates and %/K.

    ``rate`` is the slope a of log(statistic) on warming (K-1); %/K = 100 (exp(a) - 1)
    (docs/world.md, "Warming path and the climate response"). ``expected`` is the world's truth
    from the manifest as an interval (``lo == hi`` for a point).
    """

    source: str
    group: str
    stat: str
    rate: float
    ci_low: float
    ci_high: float
    expected_lo: float | None
    expected_hi: float | None
    n_bins: int
    warming: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    intercept: float = float("nan")

    @property
    def pct(self) -> float:
        return pct_per_k(self.rate)


@dataclass
class Card:
    """Everything the card shows, plus the accumulated tables the plots are drawn from."""

    data_dir: str
    manifest: dict[str, Any]
    n_scenes: dict[str, int]
    size: int
    checks: list[Check]
    scaling: list[ScalingFit]
    climatology: dict[str, dict[str, float]]
    targets: dict[str, dict[str, float]]
    targets_source: str
    # plotting tables -----------------------------------------------------------------------
    rain_hist: dict[str, np.ndarray]
    tb_count: dict[str, np.ndarray]
    tb_sum: dict[str, np.ndarray]
    tb_sumsq: dict[str, np.ndarray]
    rain_sum: dict[str, np.ndarray]
    regimes: tuple[str, ...]
    channels: tuple[str, ...]
    examples: list[dict[str, Any]] = field(default_factory=list)
    sim_obs_diffs: dict[str, list[float]] = field(default_factory=dict)

    @property
    def n_passed(self) -> int:
        return sum(c.passed is True for c in self.checks)

    @property
    def n_failed(self) -> int:
        return sum(c.passed is False for c in self.checks)

    @property
    def n_na(self) -> int:
        return sum(c.passed is None for c in self.checks)

    @property
    def passed(self) -> bool:
        """True when no check failed (n/a rows do not fail the card)."""
        return self.n_failed == 0

    def section(self, name: str) -> list[Check]:
        return [c for c in self.checks if c.section == name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (no plotting tables)."""
        return _jsonable(
            {
                "data_dir": self.data_dir,
                "generator_version": self.manifest.get("generator_version"),
                "preset": self.manifest.get("preset"),
                "seed": self.manifest.get("seed"),
                "dataset_checksum": self.manifest.get("dataset_checksum"),
                "n_scenes": self.n_scenes,
                "size": self.size,
                "targets_source": self.targets_source,
                "climatology": self.climatology,
                "sim_minus_obs_tb": self.sim_obs_diffs,
                "checks": [asdict(c) for c in self.checks],
                "scaling": [{**asdict(s), "pct_per_k": s.pct} for s in self.scaling],
                "summary": {
                    "passed": self.n_passed,
                    "failed": self.n_failed,
                    "n/a": self.n_na,
                },
            }
        )


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
