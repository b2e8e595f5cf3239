"""The climatology card: proof that a generated world is what it claims (GitHub issue 2, part 3).

:func:`compute_card` streams once over both stores of a dataset directory and accumulates only
additive statistics (docs/design.md, "Conventions the code follows", 3), so memory is bounded by
one chunk of scenes plus a few small tables and one short histogram per scene. What it checks is
described in docs/world.md, "The climatology card":

* **climatology** per regime (observed store, observed era) against the regime targets;
* **physics** of the forward model: binned mean TB against rain rate;
* **scaling** of the domain mean, wet mean, P99 and P99.9 with warming against the manifest's
  ``true_scaling``;
* **simulator vs observed** TBs at matched (regime, warming bin, rain bin).

:func:`render_card` prints it as rich tables, :func:`write_card_plots` writes its figures and
``card.json``. ``tailshift data info`` and ``tailshift quickstart`` call these functions.

Modules, by responsibility:

* :mod:`.bins`: histogram and TB-cell layouts, :func:`rain_bin_index`, :func:`hist_quantile`;
* :mod:`.accumulate`: the streaming pass over a store (:class:`~.accumulate.StoreAcc`);
* :mod:`.targets`: regime targets, true scaling rates, simulator offsets;
* :mod:`.scaling`: :func:`fit_scaling` and the per-group fits;
* :mod:`.checks`: the check rows of every section and their thresholds;
* :mod:`.model`: :class:`Check`, :class:`ScalingFit`, :class:`Card`;
* :mod:`.compute`: :func:`compute_card`;
* :mod:`.render`: :func:`render_card`;
* :mod:`.plots`: :func:`write_card_plots` (imports matplotlib only when called).
"""

from __future__ import annotations

from tailshift.benchmark.world.card.bins import (
    BINS_PER_DECADE,
    EDGES,
    N_BINS,
    N_WET_BINS,
    QUANTILE_REL_ERROR,
    WET0,
    hist_quantile,
    rain_bin_index,
)
from tailshift.benchmark.world.card.compute import compute_card
from tailshift.benchmark.world.card.model import Card, Check, ScalingFit, pct_per_k
from tailshift.benchmark.world.card.plots import write_card_plots
from tailshift.benchmark.world.card.render import render_card
from tailshift.benchmark.world.card.scaling import SCALING_STATS, fit_scaling
from tailshift.benchmark.world.card.targets import TOLERANCES, expected_rate, regime_targets

__all__ = [
    "BINS_PER_DECADE",
    "EDGES",
    "N_BINS",
    "N_WET_BINS",
    "QUANTILE_REL_ERROR",
    "SCALING_STATS",
    "TOLERANCES",
    "WET0",
    "Card",
    "Check",
    "ScalingFit",
    "compute_card",
    "expected_rate",
    "fit_scaling",
    "hist_quantile",
    "pct_per_k",
    "rain_bin_index",
    "regime_targets",
    "render_card",
    "write_card_plots",
]
