"""Metrics: pure kernels, a registry, and streaming sufficient statistics (docs/protocol.md).

* :data:`REGISTRY` -- every metric by its registry name (the results contract), a
  :class:`MetricSpec` each (:mod:`metrics.definitions`);
* :mod:`metrics.kernels` -- pure numpy kernels: exact CRPS/twCRPS of quantile forecasts
  (reference and levels-first fast versions), fair ensemble CRPS, PIT, contingency scores,
  SEDI, spectra, FSS; :mod:`metrics.extremes` -- GEV and GPD fits, block maxima;
  :mod:`metrics.trends` -- fixed-effects scaling, Theil-Sen, Mann-Kendall;
  :mod:`metrics.bins` -- log histograms with a stated quantile error bound;
  :mod:`metrics.levels` -- admissible quantile level sets;
* :mod:`metrics.stats` -- the named per-scene statistic blocks; :mod:`metrics.card` --
  :class:`~metrics.card.ScoreCard`, the chunk-by-chunk accumulator with scene bootstrap,
  groups and trend cells; :mod:`metrics.view` -- reading the reduced statistics;
  :mod:`metrics.paired` -- paired bootstrap comparisons of two results.

Importing this package loads numpy only (scipy is imported inside the functions that need it);
never torch, xarray or dask.
"""

from metrics import definitions as _definitions  # noqa: F401  (fills REGISTRY)
from metrics.registry import REGISTRY, MetricSpec

__all__ = ["REGISTRY", "MetricSpec"]
