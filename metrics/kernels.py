"""Pure numpy metric kernels (no state, no I/O).

Conventions: the quantile / member axis is the LAST axis (as in scoringrules); rain in mm/h;
quantile levels strictly increasing in (0, 1). Kernels return per-element values; averaging and
bootstrap are the score card's job (:mod:`metrics.card`).
"""

from __future__ import annotations

import numpy as np

# --- probabilistic ---------------------------------------------------------------------------


def pinball(y: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Pinball (quantile) loss per level, ``(..., K)``, mm/h.

    ``rho_tau(y, q) = (1{y < q} - tau) (q - y) = max((1 - tau)(q - y), -tau (q - y))``
    (Koenker & Bassett 1978; SCIENCE.md section 7).
    """
    tau = np.asarray(levels, dtype=np.float64)
    d = np.asarray(q, dtype=np.float64) - np.asarray(y, dtype=np.float64)[..., None]
    return np.maximum((1.0 - tau) * d, -tau * d)


def quantile_loss(y, q, levels) -> np.ndarray:
    """Mean pinball loss over the levels, ``(...)``, mm/h."""
    return pinball(y, q, levels).mean(-1)


def crps_quantiles(y, q, levels) -> np.ndarray:
    """CRPS approximated from quantiles: ``2 * mean_tau rho_tau(y, q_tau)``, mm/h.

    The approximation (Berrisch & Ziel 2023; scoringrules ``crps_quantile``) is exact in the limit
    of a dense, evenly spaced level set; with K levels ``(k - 1/2)/K`` the error for smooth
    distributions is O(1/K^2) relative (tested against scoringrules' closed forms).
    """
    return 2.0 * quantile_loss(y, q, levels)


def twcrps_quantiles(y, q, levels, t: float) -> np.ndarray:
    """Threshold-weighted CRPS from quantiles, chaining function ``v(x) = max(x, t)``, mm/h.

    ``twCRPS_t(F, y) = CRPS(F o v^-1, v(y))`` (Gneiting & Ranjan 2011; Allen et al. 2023). The
    quantiles of the transformed forecast are ``max(q_tau, t)`` (v is non-decreasing), so the
    quantile approximation of :func:`crps_quantiles` applies to ``(max(y, t), max(q, t))``.
    """
    return crps_quantiles(np.maximum(y, t), np.maximum(q, t), levels)


def crps_ensemble_fair(y, x, sorted_members: bool = False) -> np.ndarray:
    """Fair CRPS of an ensemble ``x (..., m)``: ``E|X - y| - sum_{i,j}|x_i - x_j| / (2 m (m-1))``.

    The pair sum uses sorted members: ``sum_{i,j}|x_i - x_j| = 2 sum_i (2i - m - 1) x_(i)``
    (Ferro et al. 2008; Zamo & Naveau 2018 "fair" estimator; scoringrules ``estimator="fair"``).
    """
    x = np.asarray(x, dtype=np.float64)
    xs = x if sorted_members else np.sort(x, axis=-1)
    m = xs.shape[-1]
    y = np.asarray(y, dtype=np.float64)
    e1 = np.abs(xs - y[..., None]).mean(-1)
    if m < 2:
        return e1
    c = 2.0 * np.arange(1, m + 1) - m - 1.0
    e2 = 2.0 * (xs * c).sum(-1) / (m * (m - 1))
    return e1 - 0.5 * e2


def twcrps_ensemble_fair(y, x, t: float, sorted_members: bool = False) -> np.ndarray:
    """Threshold-weighted fair CRPS of an ensemble, ``v(x) = max(x, t)`` (Allen et al. 2023)."""
    return crps_ensemble_fair(np.maximum(y, t), np.maximum(x, t), sorted_members)


def interp_level(q: np.ndarray, levels: np.ndarray, tau: float) -> np.ndarray:
    """Quantile at level ``tau`` by linear interpolation between levels (clamped at the ends)."""
    lv = np.asarray(levels, dtype=np.float64)
    if tau <= lv[0]:
        return np.asarray(q[..., 0])
    if tau >= lv[-1]:
        return np.asarray(q[..., -1])
    j = int(np.searchsorted(lv, tau, side="right") - 1)
    w = (tau - lv[j]) / (lv[j + 1] - lv[j])
    return q[..., j] * (1.0 - w) + q[..., j + 1] * w


def ensemble_quantiles(xs_sorted: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Empirical quantiles of sorted members at ``levels`` (numpy "linear" method), ``(..., K)``."""
    m = xs_sorted.shape[-1]
    pos = np.asarray(levels, dtype=np.float64) * (m - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, m - 1)
    w = pos - lo
    return xs_sorted[..., lo] * (1.0 - w) + xs_sorted[..., hi] * w


def pit_interval_quantiles(y, q, levels) -> tuple[np.ndarray, np.ndarray]:
    """PIT of ``y`` under the quantile forecast, as an interval ``[lo, hi]`` (lo == hi: a point).

    With extended levels ``T = [0, tau_1..tau_K, 1]``, ``a = #{q < y}``, ``b = #{q <= y}``:
    no tie (``a == b``): inside the levels the PIT is interpolated linearly between the
    bracketing quantiles; below ``q_1`` it is uniform on ``[0, tau_1]``, above ``q_K`` on
    ``[tau_K, 1]``. Ties (``b > a``, e.g. zero rain with zero lower quantiles) give the uniform
    interval ``[T[a+1] (0 if a == 0), T[b] (1 if b == K)]`` -- the "randomised PIT" for a CDF
    with an atom (Czado et al. 2009), evaluated without random numbers. A dry pixel with an
    all-zero forecast is uniform on [0, 1]: it neither helps nor hurts calibration.
    """
    y = np.asarray(y, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.float64)
    k = lv.size
    T = np.concatenate([[0.0], lv, [1.0]])
    a = (q < y[..., None]).sum(-1)
    b = (q <= y[..., None]).sum(-1)
    tie = b > a
    lo = np.where(tie, np.where(a == 0, 0.0, T[np.minimum(a + 1, k + 1)]), T[a])
    hi = np.where(tie, np.where(b == k, 1.0, T[b]), T[np.minimum(a + 1, k + 1)])
    inner = (~tie) & (a > 0) & (a < k)
    if np.any(inner):
        ai = np.clip(a, 1, k - 1)
        q0 = np.take_along_axis(q, (ai - 1)[..., None], -1)[..., 0]
        q1 = np.take_along_axis(q, ai[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.clip((y - q0) / (q1 - q0), 0.0, 1.0)
        pit = lv[ai - 1] + f * (lv[ai] - lv[ai - 1])
        lo = np.where(inner, pit, lo)
        hi = np.where(inner, pit, hi)
    return lo, hi


def pit_interval_ensemble(y, xs_sorted) -> tuple[np.ndarray, np.ndarray]:
    """PIT interval of ``y`` under an ensemble of ``m`` members (rank histogram form).

    ``[a / (m+1), (b+1) / (m+1)]`` with ``a = #{x < y}``, ``b = #{x <= y}`` (Hamill 2001, with
    ties spread uniformly).
    """
    m = xs_sorted.shape[-1]
    a = (xs_sorted < y[..., None]).sum(-1)
    b = (xs_sorted <= y[..., None]).sum(-1)
    return a / (m + 1.0), (b + 1.0) / (m + 1.0)


def pit_cdf(lo: np.ndarray, hi: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``P(PIT <= e)`` for uniform PIT intervals, ``(..., len(at))``."""
    lo_ = np.asarray(lo, dtype=np.float64)[..., None]
    w = (np.asarray(hi, dtype=np.float64) - np.asarray(lo, dtype=np.float64))[..., None]
    at = np.asarray(at, dtype=np.float64)
    safe = np.where(w > 0, w, 1.0)
    return np.where(w > 0, np.clip((at - lo_) / safe, 0.0, 1.0), (at >= lo_).astype(np.float64))


# --- detection -------------------------------------------------------------------------------


def contingency(ref, ret, threshold: float) -> tuple[int, int, int, int]:
    """Hits, false alarms, misses, correct negatives of the event ``x >= threshold``."""
    o = np.asarray(ref) >= threshold
    f = np.asarray(ret) >= threshold
    a = int(np.sum(o & f))
    b = int(np.sum(~o & f))
    c = int(np.sum(o & ~f))
    d = int(np.sum(~o & ~f))
    return a, b, c, d


def detection_scores(a, b, c, d) -> dict[str, np.ndarray]:
    """POD, FAR (false alarm ratio), CSI, HSS from contingency counts (arrays broadcast).

    ``POD = a/(a+c)``, ``FAR = b/(a+b)``, ``CSI = a/(a+b+c)``,
    ``HSS = 2(ad - bc) / ((a+c)(c+d) + (a+b)(b+d))`` (Wilks 2011, Statistical Methods in the
    Atmospheric Sciences, ch. 8). NaN when a denominator is 0.
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "pod": a / (a + c),
            "far": b / (a + b),
            "csi": a / (a + b + c),
            "hss": 2 * (a * d - b * c) / ((a + c) * (c + d) + (a + b) * (b + d)),
        }


def sedi(a, b, c, d) -> np.ndarray:
    """Symmetric Extremal Dependence Index (Ferro & Stephenson 2011, WAF 26:699).

    ``SEDI = [ln F - ln H - ln(1-F) + ln(1-H)] / [ln F + ln H + ln(1-F) + ln(1-H)]`` with hit rate
    ``H = a/(a+c)`` and false-alarm rate ``F = b/(b+d)``. To keep it finite, ``H`` and ``F`` are
    clipped to ``[1/(2 n), 1 - 1/(2 n)]`` with ``n`` the number of events (for H) or non-events
    (for F) -- the usual half-count correction; a perfect forecast then scores just below 1.
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    n1, n0 = a + c, b + d
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.clip(a / n1, 0.5 / n1, 1 - 0.5 / n1)
        f = np.clip(b / n0, 0.5 / n0, 1 - 0.5 / n0)
        lf, lh, l1f, l1h = np.log(f), np.log(h), np.log1p(-f), np.log1p(-h)
        return (lf - lh - l1f + l1h) / (lf + lh + l1f + l1h)


# --- spatial ---------------------------------------------------------------------------------


def radial_operator(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """Matrix mapping an ``rfft2`` power array (flattened) to radial wavenumber bins.

    Returns ``(M, k)``: ``M (ny*(nx//2+1), nk)`` with weight 2 for columns counted twice in the
    half spectrum, and the bin-centre wavenumbers ``k`` (cycles per pixel, ``(nk,)``), bins of
    width ``1/max(ny, nx)`` up to the Nyquist wavenumber 0.5 (the DC term is dropped).
    """
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    kk = np.sqrt(ky**2 + kx**2)
    dk = 1.0 / max(ny, nx)
    idx = np.rint(kk / dk).astype(int)  # 0 is DC
    nk = int(np.floor(0.5 / dk))
    mult = np.full(kx.shape, 2.0)
    mult[:, 0] = 1.0
    if nx % 2 == 0:
        mult[:, -1] = 1.0
    mult = np.broadcast_to(mult, kk.shape)
    M = np.zeros((kk.size, nk))
    flat = idx.ravel()
    ok = (flat >= 1) & (flat <= nk)
    M[np.nonzero(ok)[0], flat[ok] - 1] = mult.ravel()[ok]
    return M, np.arange(1, nk + 1) * dk


def radial_spectra(ref: np.ndarray, ret: np.ndarray) -> np.ndarray:
    """Per-scene radially binned spectra ``(s, 4, nk)``: |R|^2, |P|^2, Re(R P*), Im(R P*)."""
    s, ny, nx = ref.shape
    M, _ = radial_operator(ny, nx)
    fr = np.fft.rfft2(np.asarray(ref, dtype=np.float64)).reshape(s, -1)
    fp = np.fft.rfft2(np.asarray(ret, dtype=np.float64)).reshape(s, -1)
    cross = fr * np.conj(fp)
    parts = np.stack([np.abs(fr) ** 2, np.abs(fp) ** 2, cross.real, cross.imag], 1)
    return parts @ M


def effective_resolution(spec: np.ndarray, k: np.ndarray, pixel_km: float) -> np.ndarray:
    """Effective resolution (km) from summed spectra ``(..., 4, nk)``.

    Coherence ``coh(k) = |S_rp| / sqrt(S_rr S_pp)`` (Pfreundschuh et al. 2024, AMT 17:515);
    walking from the largest scale to the smallest, the resolution is the half wavelength
    ``pixel_km / (2 k)`` of the last wavenumber bin before the coherence first drops below
    ``1/sqrt(2)``. A perfect retrieval resolves every bin and scores ``pixel_km`` (Nyquist);
    if the largest scale already fails, the largest half wavelength ``pixel_km/(2 k_1)`` is
    returned (nothing resolved; worst attainable value, kept finite).
    """
    srr, spp, cre, cim = spec[..., 0, :], spec[..., 1, :], spec[..., 2, :], spec[..., 3, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        coh = np.hypot(cre, cim) / np.sqrt(srr * spp)
    coh = np.where(np.isfinite(coh), coh, 0.0)
    ok = coh >= 1.0 / np.sqrt(2.0)
    first_bad = np.where(ok.all(-1), ok.shape[-1], np.argmin(ok, -1))
    last_good = np.maximum(first_bad - 1, 0)
    res = pixel_km / (2.0 * k[last_good])
    empty = ~(srr.sum(-1) > 0)
    return np.where(empty, np.nan, res)


def coherence(spec: np.ndarray) -> np.ndarray:
    """Spectral coherence per wavenumber bin from summed spectra ``(..., 4, nk)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.hypot(spec[..., 2, :], spec[..., 3, :]) / np.sqrt(
            spec[..., 0, :] * spec[..., 1, :]
        )


def fss_sums(ref: np.ndarray, ret: np.ndarray, threshold: float, size: int,
             dtype=np.float64) -> np.ndarray:
    """Per-scene FSS sums ``(s, 2)``: ``sum (P_f - P_o)^2`` and ``sum (P_f^2 + P_o^2)``.

    Fractions ``P`` of pixels ``>= threshold`` in a ``size x size`` window, zero-padded at the
    scene edges (Roberts & Lean 2008, MWR 136:78). ``FSS = 1 - sum1 / sum2``. ``dtype`` is the
    precision of the fraction fields (the card uses float32: twice as fast, ample for FSS).
    """
    from scipy.ndimage import uniform_filter

    out = np.zeros((ref.shape[0], 2))
    eo = ref >= threshold
    ef = ret >= threshold
    act = np.nonzero(eo.any((1, 2)) | ef.any((1, 2)))[0]
    if act.size:
        po = uniform_filter(eo[act].astype(dtype), size=(1, size, size), mode="constant")
        pf = uniform_filter(ef[act].astype(dtype), size=(1, size, size), mode="constant")
        out[act, 0] = ((pf - po) ** 2).sum((1, 2), dtype=np.float64)
        out[act, 1] = (pf * pf + po * po).sum((1, 2), dtype=np.float64)
    return out


# --- trends ----------------------------------------------------------------------------------


def scaling_rate(warming: np.ndarray, stat: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Scaling in %/K: weighted least-squares slope of ``log(stat)`` on ``warming``.

    ``%/K = 100 (exp(slope) - 1)`` (SCIENCE.md section 7). Arrays ``(..., n_bins)``; bins with
    zero weight or non-positive / non-finite ``stat`` are ignored; NaN with fewer than 2 bins or
    no spread in warming.
    """
    x = np.asarray(warming, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ly = np.log(np.asarray(stat, float))
    w = np.where(np.isfinite(ly) & np.isfinite(x) & (np.asarray(weight) > 0), weight, 0.0)
    x = np.where(w > 0, x, 0.0)
    ly = np.where(w > 0, ly, 0.0)
    sw = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * x).sum(-1) / sw
        my = (w * ly).sum(-1) / sw
        sxx = (w * (x - mx[..., None]) ** 2).sum(-1)
        sxy = (w * (x - mx[..., None]) * (ly - my[..., None])).sum(-1)
        slope = sxy / sxx
    nbins = (w > 0).sum(-1)
    ok = (nbins >= 2) & (sxx > 1e-12 * np.maximum(sw, 1))
    return np.where(ok, 100.0 * np.expm1(slope), np.nan)
