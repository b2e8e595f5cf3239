"""Pure numpy metric kernels (no state, no I/O).

Conventions: the quantile / member axis is the LAST axis (as in scoringrules); rain in mm/h;
quantile levels strictly increasing in (0, 1). Kernels return per-element values; averaging and
bootstrap are the score card's job (:mod:`tailshift.metrics.scorecard`).
"""

from __future__ import annotations

import numpy as np

# --- probabilistic ---------------------------------------------------------------------------


def pinball(y: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Pinball (quantile) loss per level, ``(..., K)``, mm/h.

    ``rho_tau(y, q) = (1{y < q} - tau) (q - y) = max((1 - tau)(q - y), -tau (q - y))``
    (Koenker & Bassett 1978; docs/protocol.md).
    """
    tau = np.asarray(levels, dtype=np.float64)
    d = np.asarray(q, dtype=np.float64) - np.asarray(y, dtype=np.float64)[..., None]
    return np.maximum((1.0 - tau) * d, -tau * d)


def quantile_loss(y, q, levels) -> np.ndarray:
    """Mean pinball loss over the levels, ``(...)``, mm/h."""
    return pinball(y, q, levels).mean(-1)


def crps_midpoint_approx(y, q, levels) -> np.ndarray:
    """The quadrature ``2 * mean_tau rho_tau(y, q_tau)``, mm/h: NOT the protocol's CRPS.

    Kept to document why the protocol scores quantile forecasts exactly: this sum weighs every
    level 1/K whatever its spacing, so it approximates the CRPS only for evenly spaced mid-point
    levels (Berrisch & Ziel 2023; scoringrules ``crps_quantile``), and a sparse or tail-heavy
    level set (one level at 0.001) moves it arbitrarily far from the CRPS of the distribution.
    """
    return 2.0 * quantile_loss(y, q, levels)


def pwl_weights(levels) -> tuple[np.ndarray, np.ndarray]:
    """Knot weights ``(v, w)`` of the exact CRPS of a piecewise-linear quantile function.

    For knots ``(tau_k, q_k)``, flat ends (``Q = q_1`` below ``tau_1``, ``Q = q_K`` above
    ``tau_K``) and ``d_k = q_k - y``, ``p_k = max(d_k, 0)``::

        CRPS / 2 = int_0^1 rho_tau(y, Q(tau)) dtau
                 = sum_k v_k p_k - sum_k w_k d_k + C

    ``v`` are trapezoid weights of ``int max(Q - y, 0)`` (plus the end masses ``tau_1`` and
    ``1 - tau_K``), ``w_k = int tau phi_k(tau) dtau`` for the hat functions ``phi_k`` (Simpson
    is exact for the quadratic integrand; ``sum w = 1/2``), and ``C`` corrects the one segment
    where ``Q`` crosses ``y`` (:func:`crps_quantiles`).
    """
    tau = np.asarray(levels, dtype=np.float64)
    ln = np.diff(tau)
    v = np.zeros(tau.size)
    w = np.zeros(tau.size)
    v[0] += tau[0]
    v[-1] += 1.0 - tau[-1]
    v[:-1] += ln / 2.0
    v[1:] += ln / 2.0
    w[0] += tau[0] ** 2 / 2.0
    w[-1] += (1.0 - tau[-1] ** 2) / 2.0
    w[:-1] += ln / 6.0 * (2.0 * tau[:-1] + tau[1:])
    w[1:] += ln / 6.0 * (tau[:-1] + 2.0 * tau[1:])
    return v, w


def _segment_rho(a, b, d0, d1) -> np.ndarray:
    """``int_a^b rho_tau`` over one segment where ``d = Q - y`` goes linearly from d0 to d1."""
    a, b, d0, d1 = (np.asarray(v, dtype=np.float64) for v in (a, b, d0, d1))
    p0, p1 = np.maximum(d0, 0.0), np.maximum(d1, 0.0)
    dd = d1 - d0
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = np.where(dd > 0, (p1 * p1 - p0 * p0) / (2.0 * np.where(dd > 0, dd, 1.0)), p0)
    return (b - a) * (pos - ((2.0 * a + b) * d0 + (a + 2.0 * b) * d1) / 6.0)


def crps_quantiles(y, q, levels) -> np.ndarray:
    """Exact CRPS of a quantile forecast read as a distribution, mm/h (reference version).

    The forecast is the piecewise-linear quantile function through the knots
    ``(tau_k, q_k)`` with **flat ends**: the probability ``tau_1`` below the first level sits at
    ``q_1`` and ``1 - tau_K`` above the last at ``q_K`` (point masses; for rain, ``q_1 = 0`` is
    the forecast's dry probability). ``CRPS(F, y) = 2 int_0^1 rho_tau(y, Q(tau)) dtau``
    (Laio & Tamea 2007, HESS 11:1267; Gneiting & Ranjan 2011, JBES 29:411) integrates in closed
    form segment by segment: the pinball integrand is piecewise quadratic in ``tau`` and the
    positive part of the linear ``Q(tau) - y`` is integrated exactly where it changes sign.
    The score is proper for the distribution so defined, so it does not depend on how many
    levels describe it (unlike :func:`crps_midpoint_approx`); a single level is a point mass
    and scores ``|q - y|``. The card uses the levels-first fast path
    :func:`crps_quantiles_lf` (identical to rounding; tested).
    """
    y = np.asarray(y, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    tau = np.asarray(levels, dtype=np.float64)
    d = q - y[..., None]
    total = tau[0] * np.maximum(d[..., 0], 0.0) - tau[0] ** 2 / 2.0 * d[..., 0]
    total = total + (1.0 - tau[-1]) * np.maximum(d[..., -1], 0.0)
    total = total - (1.0 - tau[-1] ** 2) / 2.0 * d[..., -1]
    if tau.size > 1:
        total = total + _segment_rho(tau[:-1], tau[1:], d[..., :-1], d[..., 1:]).sum(-1)
    return 2.0 * total


def twcrps_quantiles(y, q, levels, t: float) -> np.ndarray:
    """Exact threshold-weighted CRPS of a quantile forecast, ``v(x) = max(x, t)``, mm/h.

    ``twCRPS_t(F, y) = CRPS(F o v^-1, v(y))`` (Gneiting & Ranjan 2011; Allen et al. 2023,
    SIAM/ASA JUQ 11:396). ``v`` is non-decreasing, so the chained quantile function is
    ``max(Q(tau), t)``; it is piecewise linear on the knots **plus** the point ``tau*`` where
    ``Q`` crosses ``t``, which is inserted before :func:`crps_quantiles` is applied (reference
    version: a loop over elements; the card uses :func:`twcrps_quantiles_lf`).
    """
    y = np.asarray(y, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    tau = np.asarray(levels, dtype=np.float64)
    out = np.empty(y.shape)
    for idx in np.ndindex(y.shape):
        qi = q[idx]
        c = int(np.sum(qi < t))
        lv, qv = tau, qi
        if 1 <= c < tau.size and qi[c] > t:
            ts = tau[c - 1] + (tau[c] - tau[c - 1]) * (t - qi[c - 1]) / (qi[c] - qi[c - 1])
            lv = np.insert(tau, c, ts)
            qv = np.insert(qi, c, t)
            if not ts > tau[c - 1]:  # crossing exactly at a knot: nothing to insert
                lv, qv = tau, qi
        out[idx] = crps_quantiles(max(float(y[idx]), t), np.maximum(qv, t), lv)
    return out


# --- fast levels-first versions (the score card's kernels) -----------------------------------
#
# Layout ``qT (K, n)``: per-level rows are contiguous, so reductions over the levels are
# vectorised (a pixel-first layout is ~2.5x slower). Sums over the levels are accumulated row by
# row in float64 (:func:`weighted_rows`), the same arithmetic for every column wherever it sits
# in a chunk, so results do not depend on chunking.


def count_rows(mask: np.ndarray) -> np.ndarray:
    """Number of True per column of a boolean ``(K, n)`` array (byte sums: ~3x faster than
    ``count_nonzero(axis=0)``)."""
    return mask.view(np.uint8).sum(0, dtype=np.int32)


def weighted_rows(x: np.ndarray, *ws: np.ndarray) -> list[np.ndarray]:
    """``[sum_k w_k x[k] for w in ws]`` accumulated row by row in float64 (one pass over x).

    BLAS kernels are not position-invariant in float32, this loop is: every column gets the same
    arithmetic wherever it sits in the chunk."""
    accs = [np.zeros(x.shape[1]) for _ in ws]
    row = np.empty(x.shape[1])
    for k in range(x.shape[0]):
        row[...] = x[k]
        for acc, w in zip(accs, ws, strict=True):
            acc += w[k] * row
    return accs


def quantile_scores_lf(y: np.ndarray, qT: np.ndarray, levels: np.ndarray, n0: int = 0):
    """Mean pinball loss, exact CRPS and the counts ``a = #{q < y}``, ``b = #{q <= y}``.

    Levels-first fast path of :func:`quantile_loss` and :func:`crps_quantiles` (identical to
    rounding, tested). ``qT (K, n)``; its first ``n0`` columns have ``y = 0`` and non-negative
    quantiles, where ``d = q`` and one pass suffices. Elsewhere the pinball sum is
    ``sum max(d, 0) - sum tau d`` and the CRPS ``2 (sum v max(d, 0) - sum w d + C)``
    (:func:`pwl_weights`), ``C`` from the segment ``[a-1, a]`` where ``Q`` crosses ``y``.
    """
    levels = np.asarray(levels, dtype=np.float64)
    n, k = y.size, levels.size
    v, w = pwl_weights(levels)
    ql = np.empty(n)
    crps = np.empty(n)
    a = np.zeros(n, dtype=np.intp)
    b = np.empty(n, dtype=np.intp)
    if n0:
        q0 = qT[:, :n0]
        if q0.min() >= 0:
            s_ql, s_cr = weighted_rows(q0, (1.0 - levels) / k, 2.0 * (v - w))
            ql[:n0], crps[:n0] = s_ql, s_cr
            b[:n0] = count_rows(q0 == 0)
        else:
            n0 = 0
    d = qT[:, n0:] - y[None, n0:].astype(qT.dtype)
    a[n0:] = count_rows(d < 0)
    b[n0:] = a[n0:] + count_rows(d == 0)
    lin_t, lin_w = weighted_rows(d, levels, w)
    np.maximum(d, 0, out=d)
    pos_1, pos_v = weighted_rows(d, np.ones(k), v)
    ql[n0:] = (pos_1 - lin_t) / k
    half = pos_v - lin_w
    aa = a[n0:]
    cross = np.nonzero((aa >= 1) & (aa < k))[0]
    if cross.size:
        ai = aa[cross]
        col = cross + n0
        yc = y[col].astype(np.float64)
        d0 = qT[ai - 1, col].astype(np.float64) - yc
        d1 = qT[ai, col].astype(np.float64) - yc
        ln = levels[ai] - levels[ai - 1]
        ok = d1 > 0
        half[cross] += np.where(ok, ln * d1 * d0 / (2.0 * np.where(ok, d1 - d0, 1.0)), 0.0)
    crps[n0:] = 2.0 * half
    return ql, crps, a, b


def twcrps_quantiles_lf(y: np.ndarray, qT: np.ndarray, levels: np.ndarray, t: float):
    """Exact twCRPS, ``v(x) = max(x, t)``, levels-first (fast path of :func:`twcrps_quantiles`).

    The clipped knots ``max(q, t)`` are scored by :func:`quantile_scores_lf`; the one segment
    where ``Q`` crosses ``t`` (knots ``c-1``, ``c`` with ``q_{c-1} < t < q_c``) is then replaced
    by its exact two pieces: flat at ``t`` up to ``tau*``, linear from ``t`` to ``q_c`` after.
    """
    levels = np.asarray(levels, dtype=np.float64)
    k = levels.size
    yt = np.maximum(y.astype(np.float64), t)
    qt = np.maximum(qT, qT.dtype.type(t))
    _, crps, _, _ = quantile_scores_lf(yt, qt, levels)
    c = count_rows(qT < t).astype(np.intp)
    idx = np.nonzero((c >= 1) & (c < k))[0]
    if idx.size:
        ci = c[idx]
        q0 = qT[ci - 1, idx].astype(np.float64)
        q1 = qT[ci, idx].astype(np.float64)
        sel = q1 > t
        idx, ci, q0, q1 = idx[sel], ci[sel], q0[sel], q1[sel]
        t0, t1 = levels[ci - 1], levels[ci]
        ts = t0 + (t1 - t0) * (t - q0) / (q1 - q0)
        dt = t - yt[idx]
        d1 = q1 - yt[idx]
        fix = (_segment_rho(ts, t1, dt, d1) + _segment_rho(t0, ts, dt, dt)
               - _segment_rho(t0, t1, dt, d1))
        crps[idx] += 2.0 * fix
    return crps


def crps_ensemble(y, x, sorted_members: bool = False, fair: bool = False) -> np.ndarray:
    """CRPS of an ensemble ``x (..., m)``: ``E|X - y| - sum_{i,j}|x_i - x_j| / (2 m^2)``.

    Without ``fair`` this is the CRPS of the ensemble's empirical distribution (Gneiting &
    Raftery 2007, eq. 21; properscoring ``crps_ensemble``; scoringrules ``estimator="nrg"``):
    proper for the distribution the members state, and the score the protocol ranks. With
    ``fair`` the pair sum is divided by ``2 m (m - 1)`` (Ferro et al. 2008; Zamo & Naveau 2018;
    scoringrules ``estimator="fair"``): unbiased for the CRPS of the distribution the members
    were drawn from, but only if they are random draws -- chosen members can exploit it (two
    members {0, L} around every observation score exactly 0). The pair sum uses sorted members:
    ``sum_{i,j}|x_i - x_j| = 2 sum_i (2i - m - 1) x_(i)``.
    """
    x = np.asarray(x, dtype=np.float64)
    xs = x if sorted_members else np.sort(x, axis=-1)
    m = xs.shape[-1]
    y = np.asarray(y, dtype=np.float64)
    e1 = np.abs(xs - y[..., None]).mean(-1)
    if m < 2:
        return e1
    c = 2.0 * np.arange(1, m + 1) - m - 1.0
    pairs = 2.0 * (xs * c).sum(-1)
    return e1 - pairs / (2.0 * (m * (m - 1) if fair else m * m))


def crps_ensemble_fair(y, x, sorted_members: bool = False) -> np.ndarray:
    """The fair ensemble CRPS (:func:`crps_ensemble` with ``fair=True``), a diagnostic."""
    return crps_ensemble(y, x, sorted_members, fair=True)


def twcrps_ensemble(y, x, t: float, sorted_members: bool = False, fair: bool = False):
    """Threshold-weighted ensemble CRPS, ``v(x) = max(x, t)`` (Allen et al. 2023)."""
    return crps_ensemble(np.maximum(y, t), np.maximum(x, t), sorted_members, fair)


def twcrps_ensemble_fair(y, x, t: float, sorted_members: bool = False) -> np.ndarray:
    """Threshold-weighted fair ensemble CRPS (a diagnostic)."""
    return twcrps_ensemble(y, x, t, sorted_members, fair=True)


def interp_level(q: np.ndarray, levels: np.ndarray, tau: float, axis: int = -1) -> np.ndarray:
    """Quantile at level ``tau`` by linear interpolation between levels along ``axis`` (the level
    axis; clamped at the ends, a level itself returned as it is)."""
    lv = np.asarray(levels, dtype=np.float64)
    q = np.asarray(q)
    if tau <= lv[0]:
        return np.take(q, 0, axis=axis)
    if tau >= lv[-1]:
        return np.take(q, lv.size - 1, axis=axis)
    j = int(np.searchsorted(lv, tau, side="right") - 1)
    if lv[j] == tau:
        return np.take(q, j, axis=axis)
    w = (tau - lv[j]) / (lv[j + 1] - lv[j])
    return np.take(q, j, axis=axis) * (1.0 - w) + np.take(q, j + 1, axis=axis) * w


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
    bracketing quantiles; below ``q_1`` it is 0 and above ``q_K`` it is 1 (the flat-ended
    distribution that :func:`crps_quantiles` scores puts no mass outside ``[q_1, q_K]``). Ties (``b > a``, e.g. zero rain with zero lower quantiles) give the uniform
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
    out = np.where(a == 0, 0.0, 1.0)  # outside [q_1, q_K] without a tie: a point at 0 or 1
    lo = np.where(tie, np.where(a == 0, 0.0, T[np.minimum(a + 1, k + 1)]), out)
    hi = np.where(tie, np.where(b == k, 1.0, T[b]), out)
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


def sedi_rates(h, f) -> np.ndarray:
    """SEDI from hit rate ``H`` and false-alarm rate ``F`` (Ferro & Stephenson 2011, WAF 26:699):
    ``[ln F - ln H - ln(1-F) + ln(1-H)] / [ln F + ln H + ln(1-F) + ln(1-H)]``.

    **Undefined (NaN) when H or F is 0 or 1**, except at the corners H = 1, F = 0 (perfect: 1)
    and H = 0, F = 1 (-1). On the open edges the index has a limit (+-1), but it approaches it
    so slowly that a finite sample says little (H = 1 - 1e-12 with F = 0.3 gives 0.98, and
    one more hit changes it), and at H = F = 0 the limit depends on the path. Clipping H and
    F to ``[1/2n, 1 - 1/2n]`` (a common fix) turned a forecast that never forecasts the event
    into a positive score of a few tenths. No clipping is done.
    """
    h = np.asarray(h, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    ok = (h > 0) & (h < 1) & (f > 0) & (f < 1)
    hs, fs = np.where(ok, h, 0.5), np.where(ok, f, 0.25)
    lf, lh, l1f, l1h = np.log(fs), np.log(hs), np.log1p(-fs), np.log1p(-hs)
    out = np.where(ok, (lf - lh - l1f + l1h) / (lf + lh + l1f + l1h), np.nan)
    out = np.where((h == 1) & (f == 0), 1.0, out)
    return np.where((h == 0) & (f == 1), -1.0, out)


def sedi(a, b, c, d) -> np.ndarray:
    """SEDI from contingency counts: ``H = a/(a+c)``, ``F = b/(b+d)`` (:func:`sedi_rates`)."""
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sedi_rates(a / (a + c), b / (b + d))


def sedi_rate_reason(h: float, f: float) -> str:
    """Why :func:`sedi_rates` is undefined for ``(h, f)``, in words."""
    if not (np.isfinite(h) and np.isfinite(f)):
        return "no events or no non-events"
    parts = []
    if h <= 0:
        parts.append("no event is detected (H = 0)")
    if h >= 1:
        parts.append("every event is detected (H = 1)")
    if f <= 0:
        parts.append("no false alarm (F = 0)")
    if f >= 1:
        parts.append("every non-event is a false alarm (F = 1)")
    return "; ".join(parts) + ": SEDI is undefined at H or F = 0 or 1"


def sedi_reason(a, b, c, d) -> str:
    """Why :func:`sedi` is undefined for the counts ``a, b, c, d``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sedi_rate_reason(a / (a + c) if a + c else np.nan,
                                b / (b + d) if b + d else np.nan)


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

    A scale is resolved when the coherence ``Re S_rp / sqrt(S_rr S_pp)`` is >= ``1/sqrt(2)``
    (Pfreundschuh et al. 2024, AMT 17:515) **and** the retrieved power is at least half the
    reference power. Only the real part of the cross-spectrum counts: the radial sums run over
    the half plane, where ``Im S_rp`` does not cancel, and a displaced field has a large
    imaginary part. The power criterion penalises smoothing, which coherence alone barely sees
    (a blurred field stays coherent with a fraction of the power). Walking from the largest
    scale to the smallest, the resolution is the half wavelength ``pixel_km / (2 k)`` of the last
    bin before a criterion first fails; a perfect retrieval scores ``pixel_km``; if the largest
    scale already fails, ``pixel_km / (2 k_1)`` (nothing resolved; kept finite).
    """
    srr, spp, cre = spec[..., 0, :], spec[..., 1, :], spec[..., 2, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        coh = cre / np.sqrt(srr * spp)
        ratio = spp / srr
    coh = np.where(np.isfinite(coh), coh, 0.0)
    ok = (coh >= 1.0 / np.sqrt(2.0)) & (np.nan_to_num(ratio) >= 0.5)
    first_bad = np.where(ok.all(-1), ok.shape[-1], np.argmin(ok, -1))
    last_good = np.maximum(first_bad - 1, 0)
    res = pixel_km / (2.0 * k[last_good])
    empty = ~(srr.sum(-1) > 0)
    return np.where(empty, np.nan, res)


def coherence(spec: np.ndarray) -> np.ndarray:
    """Spectral coherence (real part) per wavenumber bin from summed spectra ``(..., 4, nk)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return spec[..., 2, :] / np.sqrt(spec[..., 0, :] * spec[..., 1, :])


def power_ratio(spec: np.ndarray, k: np.ndarray, pixel_km: float, max_km: float) -> np.ndarray:
    """Retrieved / reference spectral power summed over wavelengths ``<= max_km``."""
    sel = pixel_km / k <= max_km + 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):
        return spec[..., 1, :][..., sel].sum(-1) / spec[..., 0, :][..., sel].sum(-1)


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
