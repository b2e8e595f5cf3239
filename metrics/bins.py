"""Fine log-spaced histograms of rain rate and what can be read from them.

Bin layout (``nb = n_log + 3`` bins, index ``i``):

* ``0``: exactly zero (and negative) rain, a point mass at 0;
* ``1``: ``(0, lo)``, the drizzle below the first log edge, treated as uniform on ``[0, lo]``;
* ``2 .. n_log+1``: ``[e_k, e_{k+1})`` with ``e_k = 10**(log10(lo) + k / bins_per_decade)``;
* ``n_log + 2``: ``[hi, inf)`` overflow (read back at its mean, from the value-sum histogram).

Because ``lo`` and ``hi`` are powers of ten and ``bins_per_decade`` is an integer, every power of
ten in range (0.01, 0.1, 1, 10, 100 mm/h) is an exact edge, so the contingency counts at the fixed
thresholds 0.1 / 1 / 10 mm/h read from the histograms are **exact**.

Error bound (stated and tested): a quantile read from the histogram lies in the same log bin as the
``ceil(p N)``-th order statistic (``numpy.quantile(..., method="inverted_cdf")``), so for quantiles
above ``lo`` the relative error is at most ``r - 1`` with ``r = 10**(1/bins_per_decade)`` (default
100 per decade: ``r - 1 = 2.33 %``; in practice the log-linear interpolation inside the bin is far
better). Reading distributions as "uniform within bins" moves every sample by at most ``(r-1) x``
(or ``lo`` below ``lo``), so Wasserstein-1 read from two histograms is within
``(r-1)(E[x] + E[y]) + 2 lo`` of the exact value (triangle inequality).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class LogBins:
    """Log-spaced rain-rate bins.

    Parameters
    ----------
    lo, hi : float
        First and last log edge in mm/h (powers of ten).
    bins_per_decade : int
        Resolution; the bin ratio is ``r = 10**(1/bins_per_decade)``.
    """

    lo: float = 1e-2
    hi: float = 1e3
    bins_per_decade: int = 100

    @property
    def n_log(self) -> int:
        return int(round(np.log10(self.hi / self.lo) * self.bins_per_decade))

    @property
    def nb(self) -> int:
        """Total number of bins (zero, drizzle, log bins, overflow)."""
        return self.n_log + 3

    @property
    def ratio(self) -> float:
        """Bin ratio ``r``; relative quantile error bound is ``r - 1``."""
        return float(10.0 ** (1.0 / self.bins_per_decade))

    @property
    def log_edges(self) -> np.ndarray:
        """The ``n_log + 1`` log edges ``lo .. hi`` (mm/h)."""
        k = np.arange(self.n_log + 1)
        return 10.0 ** (np.log10(self.lo) + k / self.bins_per_decade)

    @property
    def lower(self) -> np.ndarray:
        """Lower bound of every bin (``nb``,): 0, 0, e_0, ..., e_last."""
        return np.concatenate([[0.0, 0.0], self.log_edges])

    @property
    def upper(self) -> np.ndarray:
        """Upper bound of every bin (``nb``,): 0, lo, e_1, ..., hi, inf."""
        return np.concatenate([[0.0], self.log_edges, [np.inf]])

    def edge_index(self, threshold: float) -> int:
        """Index of the bin whose lower bound is ``threshold`` (must be an exact log edge)."""
        k = np.log10(threshold / self.lo) * self.bins_per_decade
        ki = int(round(k))
        if abs(k - ki) > 1e-6 or not 0 <= ki <= self.n_log:
            raise ValueError(f"{threshold} mm/h is not a histogram edge")
        return ki + 2

    def index(self, x: np.ndarray) -> np.ndarray:
        """Bin index of every value of ``x`` (any shape; NaN must be removed before).

        ``floor(bpd * log10(x / lo)) + 2``, then one exact correction step against the float
        bin bounds, so values equal to an edge always land in the bin the edge opens.
        """
        x = np.asarray(x, dtype=np.float64)
        lower, upper = self._bounds
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.floor((np.log10(x) - np.log10(self.lo)) * self.bins_per_decade)
        j = np.clip(np.nan_to_num(f, nan=-1.0, neginf=-1.0), -1, self.n_log).astype(np.intp) + 2
        j -= x < lower[j]
        j += x >= upper[j]
        return np.where(x > 0, j, 0)

    @cached_property
    def _bounds(self):
        return self.lower, self.upper

    # --- reading histograms (vectorised over leading axes) -----------------------------------

    def quantile(self, counts: np.ndarray, p: float, sums: np.ndarray | None = None,
                 cum: np.ndarray | None = None) -> np.ndarray:
        """Quantile ``p`` of the distribution in ``counts`` (..., nb) -> (...).

        Inside a log bin the value is interpolated log-linearly, in the drizzle bin linearly; in
        the overflow bin the bin mean (``sums/counts``) is returned when ``sums`` is given, else
        ``hi``. NaN where the histogram is empty.
        """
        c = np.asarray(counts, dtype=np.float64)
        cum = np.cumsum(c, -1) if cum is None else cum  # callers may cache the cumsum
        n = cum[..., -1]
        target = p * n
        j = np.sum(cum < target[..., None] * (1 - 1e-12), axis=-1)
        j = np.minimum(j, self.nb - 1)
        cj = np.take_along_axis(c, j[..., None], -1)[..., 0]
        below = np.take_along_axis(cum, j[..., None], -1)[..., 0] - cj
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.clip(np.where(cj > 0, (target - below) / cj, 0.5), 0.0, 1.0)
        lower = self.lower[j]
        logb = (j >= 2) & (j < self.nb - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.where(
                logb,
                lower * np.power(self.ratio, f),
                np.where(j == 1, f * self.lo, 0.0),
            )
            if sums is not None:
                over = np.take_along_axis(np.asarray(sums, float), j[..., None], -1)[..., 0] / cj
            else:
                over = np.full(val.shape, self.hi)
        val = np.where(j == self.nb - 1, over, val)
        return np.where(n > 0, val, np.nan)

    def quantile_bin(self, counts: np.ndarray, p: float, cum: np.ndarray | None = None):
        """Index of the bin holding quantile ``p`` (..., nb) -> (...) int."""
        cum = np.cumsum(np.asarray(counts, dtype=np.float64), -1) if cum is None else cum
        target = p * cum[..., -1]
        return np.minimum(np.sum(cum < target[..., None] * (1 - 1e-12), axis=-1), self.nb - 1)

    @staticmethod
    def tail_counts(counts: np.ndarray) -> np.ndarray:
        """``T[..., i]`` = number of values in bins ``>= i`` (i.e. ``x >= lower[i]``)."""
        c = np.asarray(counts, dtype=np.float64)
        return np.cumsum(c[..., ::-1], -1)[..., ::-1]

    def wasserstein(self, ca: np.ndarray, cb: np.ndarray, sa=None, sb=None) -> np.ndarray:
        """Wasserstein-1 distance between two histograms (..., nb) -> (...), mm/h.

        ``W1 = integral |F_a(x) - F_b(x)| dx`` with piecewise-linear CDFs inside bins (uniform
        mass within each bin); the overflow tails use the bin means from ``sa``/``sb``.
        """
        ca = np.asarray(ca, float)
        cb = np.asarray(cb, float)
        na, nb_ = ca.sum(-1, keepdims=True), cb.sum(-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            fa = np.cumsum(ca, -1) / na
            fb = np.cumsum(cb, -1) / nb_
        d = fa - fb  # CDF difference at each bin's upper bound
        # bins 1..nb-2 have finite width; the difference goes linearly from d[i-1] to d[i]
        d0, d1 = d[..., :-2], d[..., 1:-1]
        width = (self.upper - self.lower)[1:-1]
        a0, a1 = np.abs(d0), np.abs(d1)
        same = d0 * d1 >= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            cross = np.where(a0 + a1 > 0, (d0**2 + d1**2) / (2 * (a0 + a1)), 0.0)
        body = np.sum(width * np.where(same, 0.5 * (a0 + a1), cross), -1)
        # overflow: survival integrals beyond hi, (sum - hi*count)/n for each
        if sa is not None and sb is not None:
            ta = (np.asarray(sa, float)[..., -1] - self.hi * ca[..., -1]) / na[..., 0]
            tb = (np.asarray(sb, float)[..., -1] - self.hi * cb[..., -1]) / nb_[..., 0]
            body = body + np.abs(ta - tb)
        return body

    def top_share(self, counts: np.ndarray, sums: np.ndarray, frac: float = 0.01) -> np.ndarray:
        """Fraction of the total of the values carried by the largest ``frac`` of them.

        (..., nb) -> (...). The boundary bin contributes its mean times the needed count.
        """
        c = np.asarray(counts, float)
        s = np.asarray(sums, float)
        n = c.sum(-1)
        k = frac * n
        tc = self.tail_counts(c)  # values in bins >= i
        ts = np.cumsum(s[..., ::-1], -1)[..., ::-1]
        # boundary bin j: largest i with tc[i] >= k
        j = np.sum(tc >= k[..., None] * (1 - 1e-12), axis=-1) - 1
        j = np.clip(j, 0, self.nb - 1)
        tcj = np.take_along_axis(tc, j[..., None], -1)[..., 0]
        tsj = np.take_along_axis(ts, j[..., None], -1)[..., 0]
        cj = np.take_along_axis(c, j[..., None], -1)[..., 0]
        sj = np.take_along_axis(s, j[..., None], -1)[..., 0]
        above_c, above_s = tcj - cj, tsj - sj
        with np.errstate(invalid="ignore", divide="ignore"):
            part = np.where(cj > 0, sj / cj, 0.0) * np.clip(k - above_c, 0, None)
            return (above_s + part) / s.sum(-1)
