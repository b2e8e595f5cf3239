"""The metric registry: one :class:`MetricSpec` per registry name (docs/design.md, Conventions).

Registry names are part of the results contract (``benchmark/results.py``): the CLI, configs,
results and the leaderboard use them and nothing else. Entries are created in
:mod:`tailshift.metrics.definitions`, which fills :data:`REGISTRY` at import of :mod:`metrics`.

A spec carries the metadata written into every result file (family, units, direction, target,
description, source) plus two machine fields used by the score card:

* ``statistics`` -- names of the additive statistic blocks (see :mod:`tailshift.metrics.scorecard`) the metric is
  computed from; the card accumulates only the blocks its selected metrics need;
* ``fn`` -- ``fn(view) -> ndarray`` of shape ``(R,)`` (one value per bootstrap replicate, index 0
  the full sample), computed **only** from reduced statistics (docs/design.md, Conventions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Input kinds a metric can need. A metric is computed when ANY of its ``needs`` is available;
#: ``"point"`` is always available (derived from quantiles or samples when not given).
INPUT_KINDS = ("point", "quantiles", "samples")

FAMILIES = ("point", "probabilistic", "detection", "distribution", "tails", "trends", "spatial")


@dataclass(frozen=True)
class MetricSpec:
    """Metadata and reducer of one metric.

    Attributes
    ----------
    name : str
        Registry name (stable; part of the results contract).
    family : str
        One of :data:`FAMILIES`.
    needs : tuple of str
        Input kinds (any of them suffices), see :data:`INPUT_KINDS`.
    higher_is_better : bool or None
        ``True``/``False`` for ranked metrics; ``None`` when closeness to ``target`` wins, or
        (with ``target=None`` as well) for descriptive quantities that are not ranked
        (e.g. ``gev_xi``, ``scaling_mean``).
    target : float or None
        The ideal value where it is not an end of the range (bias 0, coverage 0.9, ratios 1).
    units : str
        Units of the value (``"mm h-1"``, ``"%"``, ``"%/K"``, ``"km"``, ``"1"``).
    description : str
        One sentence for the leaderboard.
    source : str
        Reference for the definition.
    statistics : tuple of str
        Statistic blocks the metric is reduced from (see :mod:`tailshift.metrics.scorecard`).
    fn : callable
        ``fn(view) -> ndarray (R,)`` from reduced statistics; booleans as 0/1 floats.
    kind : str
        ``"float"`` or ``"bool"`` (value type written to results).
    groupable : bool
        Whether the metric is also reported per group (tails/trends are headline-only).
    why : callable or None
        ``why(view) -> str``: why the value is undefined, written to the result's
        ``undefined`` map when it is (e.g. "fewer than 4 populated warming bins").
    """

    name: str
    family: str
    needs: tuple[str, ...] = ("point",)
    higher_is_better: bool | None = False
    target: float | None = None
    units: str = "1"
    description: str = ""
    source: str = ""
    statistics: tuple[str, ...] = ()
    fn: Callable | None = field(default=None, repr=False, compare=False)
    kind: str = "float"
    groupable: bool = True
    why: Callable | None = field(default=None, repr=False, compare=False)

    @property
    def ranked(self) -> bool:
        """Whether models can be ordered by this metric (direction or target known)."""
        return self.higher_is_better is not None or self.target is not None

    def badness(self, value: float) -> float:
        """A number that grows as ``value`` gets worse (used for the worst group); NaN if unranked."""
        if self.higher_is_better is True:
            return -float(value)
        if self.higher_is_better is False:
            return float(value)
        if self.target is not None:
            return abs(float(value) - self.target)
        return float("nan")


#: name -> spec; filled by :mod:`tailshift.metrics.definitions`.
REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to :data:`REGISTRY` (names must be unique)."""
    if spec.name in REGISTRY:
        raise ValueError(f"metric {spec.name!r} registered twice")
    if spec.family not in FAMILIES:
        raise ValueError(f"metric {spec.name!r}: unknown family {spec.family!r}")
    if not set(spec.needs) <= set(INPUT_KINDS):
        raise ValueError(f"metric {spec.name!r}: unknown needs {spec.needs}")
    REGISTRY[spec.name] = spec
    return spec
