"""What the index table shows, and the metric specs the site reads scores with.

The headline metrics (:data:`HEADLINE`), their short labels and the column groups are the site's
own choice. Everything else about a metric -- direction, target, units, family, description --
comes from the result files and, where a file does not describe a metric, from the metric
registry (:data:`tailshift.metrics.REGISTRY`), the one source of that metadata.

A spec here is the plain ``dict`` a result file carries per metric (``higher_is_better``,
``target``, ``units``, ``family``, ``description``; :mod:`tailshift.leaderboard.reader`).
"""

from __future__ import annotations

import math

from tailshift.leaderboard.display import fmt
from tailshift.metrics import REGISTRY, MetricSpec

#: Headline metrics of the index table, in column order (registry names, issue 5).
HEADLINE = ("crps", "twcrps_10", "sedi_p99_calibrated", "rl_ratio_10", "scaling_error_p999",
            "scaling_consistent_p999", "eff_resolution")
#: Short column labels of the headline metrics.
LABELS = {
    "crps": "CRPS",
    "twcrps_10": "twCRPS₁₀",
    "sedi_p99_calibrated": "SEDI P99",
    "rl_ratio_10": "RL ratio 10",
    "scaling_error_p999": "P99.9 scaling err",
    "scaling_consistent_p999": "trend consistent",
    "eff_resolution": "eff. res.",
}
#: Column groups of the index table: the two evaluation roles and the gap.
#: OOD first: the ranking uses it and it is what the benchmark is about.
#: "all_test" (both test roles scored together, written by ``tailshift submit``) is where the
#: trend columns are most trustworthy: it spans the whole warming range of the split.
GROUPS = ({"key": "ood_test", "label": "OOD test"}, {"key": "id_test", "label": "ID test"},
          {"key": "gap", "label": "Gap (OOD − ID)"},
          {"key": "all_test", "label": "All test (ID ∪ OOD)"})
#: The spec of a metric nobody describes: no direction, no units.
UNKNOWN_SPEC = {"higher_is_better": None, "target": None, "units": "", "family": "",
                "description": ""}


def registry_spec(metric: str) -> dict:
    """The spec of ``metric`` from the metric registry (:data:`UNKNOWN_SPEC` if unregistered)."""
    s = REGISTRY.get(metric)
    if s is None:
        return dict(UNKNOWN_SPEC)
    return {"higher_is_better": s.higher_is_better, "target": s.target, "units": s.units,
            "family": s.family, "description": s.description}


#: Specs of the headline metrics, used where the result files do not describe them.
DEFAULT_SPECS = {m: registry_spec(m) for m in HEADLINE}


def spec_of(specs: dict, metric: str) -> dict:
    """The spec of ``metric``: from ``specs`` (the result files), else from the registry."""
    return specs.get(metric) or registry_spec(metric)


def badness(value: float, spec: dict) -> float | None:
    """A number that grows as ``value`` gets worse, or None when the metric has no direction.

    :meth:`tailshift.metrics.MetricSpec.badness` applied to a spec read from a result file.
    """
    b = MetricSpec(name="", family=spec.get("family") or "",
                   higher_is_better=spec["higher_is_better"],
                   target=spec.get("target")).badness(value)
    return None if math.isnan(b) else b


def arrow(spec: dict) -> str:
    """The direction mark of a column header: ↑, ↓, →target or nothing."""
    if spec["higher_is_better"] is True:
        return "↑"
    if spec["higher_is_better"] is False:
        return "↓"
    if spec.get("target") is not None:
        return f"→{fmt(spec['target'])}"
    return ""
