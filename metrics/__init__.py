"""Metrics: pure kernels, a registry, and streaming sufficient statistics (docs/protocol.md).

* :data:`REGISTRY` -- every metric by its registry name (the results contract), a
  :class:`MetricSpec` each (:mod:`tailshift.metrics.definitions`);
* :mod:`tailshift.metrics.kernels` -- pure numpy kernels: exact CRPS/twCRPS of quantile forecasts
  (reference and levels-first fast versions), fair ensemble CRPS, PIT, contingency scores,
  SEDI, spectra, FSS; :mod:`tailshift.metrics.extremes` -- GEV and GPD fits, block maxima;
  :mod:`tailshift.metrics.trends` -- fixed-effects scaling, Theil-Sen, Mann-Kendall;
  :mod:`tailshift.metrics.bins` -- log histograms with a stated quantile error bound;
  :mod:`tailshift.metrics.levels` -- admissible quantile level sets;
* :mod:`tailshift.metrics.stats` -- the named per-scene statistic blocks; :mod:`tailshift.metrics.scorecard` --
  :class:`~tailshift.metrics.scorecard.ScoreCard`, the chunk-by-chunk accumulator with scene bootstrap,
  groups and trend cells; :mod:`tailshift.metrics.view` -- reading the reduced statistics;
  :mod:`tailshift.metrics.paired` -- paired bootstrap comparisons of two results.

Importing this package loads numpy only (scipy is imported inside the functions that need it);
never torch, xarray or dask.
"""

from tailshift.metrics import definitions as _definitions  # noqa: F401  (fills REGISTRY)
from tailshift.metrics.registry import REGISTRY, MetricSpec

__all__ = ["REGISTRY", "MetricSpec"]
