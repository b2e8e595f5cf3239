"""What the card compares with: regime climatology targets, the world's true scaling rates and the
simulator's published channel offsets.

The climatology targets are the regime table of docs/world.md ("Rain fields", calibration:
:data:`tailshift.benchmark.world.climate.TARGETS`), which a manifest's ``regime_targets`` may
override; the true scaling rates are the manifest's ``true_scaling`` (docs/world.md, "Warming path
and the climate response" and "Randomness, stores and the manifest"); the simulator's offsets are
:data:`tailshift.benchmark.world.forward.SIM_OFFSETS` (docs/world.md, "The simulator").
"""

from __future__ import annotations

from typing import Any

from tailshift import schema
from tailshift.benchmark.world import climate, forward

#: Relative tolerances on the regime targets. The targets are typical literature values to tune
#: against ("approximately"), so the body (rain fraction, conditional mean) and P99 are accepted
#: within +-35 %, P99.9 within +-50 % (its sampling error on a small world and its sensitivity to
#: the generalised-Pareto cap are larger). Decision of this module.
TOLERANCES: dict[str, float] = {"rain_fraction": 0.35, "cond_mean": 0.35, "p99": 0.35, "p999": 0.5}
STAT_LABELS = {
    "rain_fraction": ("rain fraction", "-"),
    "cond_mean": ("conditional mean", "mm/h"),
    "p99": ("P99 (wet)", "mm/h"),
    "p999": ("P99.9 (wet)", "mm/h"),
    "domain_mean": ("domain mean", "mm/h"),
}

# The sources as the card names them (the climatology table's title, card.json).
_SOURCE_CLIMATE = "climate.TARGETS (docs/world.md, Rain fields)"
_SOURCE_MANIFEST = "manifest"


def _target_row(row: Any) -> dict[str, float]:
    """The tolerance keys of one target row (``rain_frac`` read as ``rain_fraction``)."""
    row = dict(row) if isinstance(row, dict) else {}
    if "rain_frac" in row and "rain_fraction" not in row:
        row["rain_fraction"] = row["rain_frac"]
    return {k: float(row[k]) for k in TOLERANCES if k in row and row[k] is not None}


def regime_targets(
    manifest: dict[str, Any] | None = None,
) -> tuple[dict[str, dict[str, float]], str]:
    """Per-regime climatology targets and where they come from.

    The table is :data:`tailshift.benchmark.world.climate.TARGETS` (regime -> {rain_frac,
    cond_mean, p99, p999}; docs/world.md, "Rain fields"). A manifest's ``regime_targets``
    mapping (same shape; ``rain_fraction`` is accepted for ``rain_frac``) overrides it entry by
    entry; missing entries keep the climate module's value.

    The card measures the *reference* rain on the output grid (5-km footprint smoothing of the
    fine-grid truth, :func:`tailshift.benchmark.world.grid.reference_precip`), which is what
    retrievals are scored against; the climate module tunes the reference label to the same
    table. The tolerances of :data:`TOLERANCES` are wide enough for the remaining sampling error.
    """
    targets = {r: _target_row(v) for r, v in climate.TARGETS.items()}
    found, source = climate.TARGETS, _SOURCE_CLIMATE
    if manifest and isinstance(manifest.get("regime_targets"), dict):
        found, source = manifest["regime_targets"], _SOURCE_MANIFEST
    for regime, row in found.items():
        targets.setdefault(regime, {}).update(_target_row(row))
    return targets, source


def expected_rate(truth: dict[str, Any] | None, stat: str) -> tuple[float, float] | None:
    """The world's true per-K log rate of a statistic, as an interval (lo, hi).

    ``truth`` is one regime's ``manifest["true_scaling"]`` entry. An explicit ``a_<stat>`` key
    wins. Otherwise, following the world's scaling law (docs/world.md, "Warming path and the
    climate response": Q'(u) = Q(u) exp(dT [a_mean + (a_ext - a_mean) w(u)]), WAR lowered so that
    the domain mean rises by a_mean):

    * domain mean: ``a_mean`` (a point);
    * P99, P99.9: ``a_ext`` if given, else the interval [a_ext_strat, a_ext_conv] (a wet-pixel
      percentile mixes stratiform and convective pixels);
    * conditional mean: the interval [a_mean, max a_ext] (WAR falls while the domain mean rises
      at a_mean, so the wet-pixel mean rises faster than a_mean, but not faster than the tail).
    """
    if not truth:
        return None
    explicit = truth.get(f"a_{stat}")
    if explicit is not None:
        return float(explicit), float(explicit)
    a_mean = truth.get("a_mean")
    ext = [truth[k] for k in ("a_ext", "a_ext_strat", "a_ext_conv") if truth.get(k) is not None]
    if stat == "domain_mean":
        return None if a_mean is None else (float(a_mean), float(a_mean))
    if stat in ("p99", "p999"):
        return (float(min(ext)), float(max(ext))) if ext else None
    if stat == "cond_mean":
        if a_mean is None or not ext:
            return None
        return float(a_mean), float(max(ext))
    return None


def pooled_expected(true_scaling: dict[str, Any], stat: str) -> tuple[float, float] | None:
    """The hull of the regimes' true intervals: the truth of a fit pooled over regimes."""
    ivs = [expected_rate(true_scaling.get(r), stat) for r in schema.REGIMES]
    ivs = [iv for iv in ivs if iv is not None]
    if not ivs:
        return None
    return min(iv[0] for iv in ivs), max(iv[1] for iv in ivs)


def simulator_offsets() -> dict[str, float]:
    """Published constant channel offsets of the simulator (K), by channel name.

    :data:`tailshift.benchmark.world.forward.SIM_OFFSETS` in schema channel order
    (docs/world.md, "The simulator").
    """
    return {
        c: float(v) for c, v in zip(schema.CHANNEL_NAMES, forward.SIM_OFFSETS, strict=True)
    }
