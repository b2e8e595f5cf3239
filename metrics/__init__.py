"""Metrics: pure kernels, a registry, and streaming sufficient statistics (DESIGN.md).

* :data:`REGISTRY` -- every metric by its registry name (the results contract), a
  :class:`MetricSpec` each (:mod:`metrics.definitions`);
* :mod:`metrics.kernels` -- pure numpy kernels (pinball, CRPS, twCRPS, PIT, contingency scores,
  SEDI, spectra, FSS, scaling rates); :mod:`metrics.extremes` -- GEV by L-moments / MLE;
  :mod:`metrics.bins` -- log histograms with a stated quantile error bound;
* :mod:`metrics.card` -- :class:`~metrics.card.ScoreCard`, the chunk-by-chunk accumulator with
  scene bootstrap, groups and curves, and :func:`~metrics.card.gap`.

Importing this package loads numpy only (scipy is imported inside the functions that need it);
never torch, xarray or dask (CONVENTIONS.md 12).
"""

from metrics import definitions as _definitions  # noqa: F401  (fills REGISTRY)
from metrics.registry import REGISTRY, MetricSpec

__all__ = ["REGISTRY", "MetricSpec"]
