"""The card's binnings: the log-spaced rain histogram and the (regime, warming, rain) TB cells.

The wet-pixel percentiles of the card come from a rain histogram with :data:`BINS_PER_DECADE`
log bins per decade whose edges are anchored at the rain/no-rain threshold
(:data:`tailshift.schema.RAIN_THRESHOLD`, 0.2 mm/h), so that "raining" (R > 0.2 mm/h) is a whole
number of bins. Binned mean TBs are accumulated per (regime, warming bin, rain bin) cell.
"""

from __future__ import annotations

import numpy as np

from tailshift import schema

# --- rain histogram ------------------------------------------------------------------------
#: Log-spaced rain histogram resolution (bins per decade).
BINS_PER_DECADE = 50
#: Rain histogram edges (mm/h): RAIN_THRESHOLD * 10**(k/50), k = -65..185, i.e. ~0.01 to ~1000
#: mm/h, with the rain/no-rain threshold 0.2 mm/h (docs/world.md, "Rain fields") exactly on an
#: edge.
_K_LOW, _K_HIGH = -65, 185
EDGES = schema.RAIN_THRESHOLD * 10.0 ** (np.arange(_K_LOW, _K_HIGH + 1) / BINS_PER_DECADE)
#: Index of the first wet bin (lower edge = RAIN_THRESHOLD).
WET0 = -_K_LOW
N_BINS = len(EDGES) - 1
N_WET_BINS = N_BINS - WET0
#: Bound on the relative error of a histogram percentile: the sample percentile lies in the same
#: bin as the interpolated one, so |error| / value < 10**(1/BINS_PER_DECADE) - 1 (= 4.7 %).
QUANTILE_REL_ERROR = 10.0 ** (1.0 / BINS_PER_DECADE) - 1.0

# --- TB binning ----------------------------------------------------------------------------
#: Rain-rate bin edges (mm/h) for TB-vs-rain; the first bin (R < 0.01 mm/h) is "clear sky".
TB_RAIN_EDGES = np.array([0.0, 0.01, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, np.inf])
TB_RAIN_LABELS = (
    "clear", "0.01-0.2", "0.2-0.5", "0.5-1", "1-2", "2-5", "5-10", "10-20", "20-50", "50-100",
    ">100",
)
N_RBINS = len(TB_RAIN_EDGES) - 1
#: Fixed warming bins (K) used to match sim and obs TBs at equal climate state.
WARMING_EDGES = np.arange(0.0, 6.01, 0.5)
N_WBINS = len(WARMING_EDGES) + 1  # plus under/overflow folded into the end bins
#: TBs are accumulated as sums of (TB - TB_CENTER) to avoid cancellation in the variance.
TB_CENTER = 250.0
#: Minimum pixels in a rain bin for it to enter a physics check.
MIN_BIN_PIXELS = 30


def rain_bin_index(rain: np.ndarray) -> np.ndarray:
    """Index into :data:`EDGES` bins; -1 below 0.01 mm/h; clipped to the last bin above.

    Pixels at or below RAIN_THRESHOLD never land in a wet bin (index < :data:`WET0`).
    """
    r = np.asarray(rain, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor(np.log10(np.maximum(r, 1e-30) / schema.RAIN_THRESHOLD) * BINS_PER_DECADE)
    idx = (k + WET0).astype(np.int64)
    idx = np.where(r < EDGES[0], -1, idx)
    idx = np.minimum(idx, N_BINS - 1)
    wet = r > schema.RAIN_THRESHOLD
    idx = np.where(wet, np.maximum(idx, WET0), np.minimum(idx, WET0 - 1))
    return idx


def tb_rain_bin(r: float) -> int:
    """Index of the :data:`TB_RAIN_EDGES` bin holding rain rate ``r`` (mm/h)."""
    return int(np.searchsorted(TB_RAIN_EDGES, r, side="right") - 1)


def hist_quantile(counts: np.ndarray, q: float, edges: np.ndarray | None = None) -> np.ndarray:
    """Quantile ``q`` of histogrammed data, log-linear interpolation inside the bin.

    The same reading as :meth:`tailshift.metrics.bins.LogBins.quantile` (with the wet bins as its
    log bins), kept here on purpose: LogBins computes its edges as ``10**(log10(lo) + k/bpd)``
    where :data:`EDGES` are ``0.2 * 10**(k/50)``, interpolates as ``lower * ratio**f`` where this
    uses ``exp(log lo + f (log hi - log lo))``, and finds the bin with a 1e-12 relative tolerance.
    Delegating to it was measured: the tables and figures stay byte-identical, but most
    percentiles in ``card.json`` move in the last bits (up to 1e-15 relative, 2e-14 on a small
    %/K rate), and the card's values are pinned bit for bit.

    Parameters
    ----------
    counts : ndarray (..., nbins)
        Counts per bin (wet bins by default, edges ``EDGES[WET0:]``).
    q : float
        Probability in (0, 1).
    edges : ndarray (nbins + 1,), optional
        Bin edges (mm/h); default ``EDGES[WET0:]``.

    Returns
    -------
    ndarray (...)
        The value x with F(x) = q, NaN where a histogram is empty. The sample quantile lies in
        the same bin, so the relative error is below :data:`QUANTILE_REL_ERROR`.
    """
    edges = EDGES[WET0:] if edges is None else edges
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1)
    cum = np.cumsum(c, axis=-1)
    target = q * total
    k = np.sum(cum < target[..., None], axis=-1)
    k = np.minimum(k, c.shape[-1] - 1)
    below = np.take_along_axis(cum, k[..., None], axis=-1)[..., 0] - np.take_along_axis(
        c, k[..., None], axis=-1
    )[..., 0]
    in_bin = np.take_along_axis(c, k[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((target - below) / in_bin, 0.0, 1.0)
    lo = np.log(edges[k])
    hi = np.log(edges[k + 1])
    out = np.exp(lo + frac * (hi - lo))
    return np.where(total > 0, out, np.nan)
