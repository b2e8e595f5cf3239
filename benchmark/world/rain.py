"""Fine-grid rain fields of the synthetic world (docs/world.md sections 3 and 4).

A meta-Gaussian generator in the spirit of pysteps / RainFARM, vectorised over a batch of
scenes (each scene draws its random numbers from its own generator, so a scene's field does not
depend on the batch it is made in):

1. **Gaussian fields** by spectral filtering of white noise (periodic, FFT):

   * the *cell* field has a two-slope power spectrum ``P(k) ~ k**beta1`` for ``k < 1/L_b`` and
     ``~ k**beta2`` above (continuous at ``1/L_b``), with per-scene ``beta1 ~ U(-2.5, -1.5)``,
     ``beta2 ~ U(-3.5, -2.8)``, ``L_b ~ U(20, 60) km`` (docs/world.md, Rain fields; pysteps fits
     beta in [-4, -1]);
   * the *envelope* (organisation) field is white noise smoothed by a Gaussian of FWHM
     :data:`ENVELOPE_KM` = 40 km (docs/world.md: "envelope field (organisation, ~40 km)").

   Both are standardised per scene and combined as
   ``g = sqrt(ORGANISATION) * env + sqrt(1 - ORGANISATION) * cell``.
2. **Wet area**: the pixels of ``g`` above its ``1 - WAR`` quantile, where
   ``WAR = war * exp(0.5 * N(0, 1))`` (log-normal, sigma 0.5), or no rain at all with probability
   ``p_dry`` (dry scenes). **Convective** pixels: the top ``f_conv`` of the wet area by ``g``.
3. **Intensities** by probability matching: each scene draws an i.i.d. sample of ``u`` of the
   size of each class, sorts it, and hands it out by rank (so the pooled pixels follow the class
   distribution exactly, tail included), then applies the quantile functions:

   * stratiform pixels: ``Q_s(u)``, ``u`` handed out by the rank of the envelope among the
     stratiform pixels, ``Q_s(u) = m_s * exp(s_s * Phi^-1(u))``;
   * convective pixels: ``max(Q_c(u), Q_s(u_bg))`` with ``u`` handed out by the rank of ``g``
     among convective pixels and ``u_bg`` the plotting position of the envelope among all wet
     pixels (the stratiform background under the cell), ``Q_c`` the convective log-normal with a
     generalised-Pareto tail
     above the class quantile ``u_t = gpd_u``:
     ``Q_c(u) = Q_t + sigma/xi * ((1 - p)**(-xi) - 1)``, ``p = (u - u_t)/(1 - u_t)``, with
     ``sigma = (1 - u_t) * Q_t * s_c / phi(Phi^-1(u_t))`` so value and slope are continuous;
     (the ``max`` keeps cell edges from dropping below their stratiform surroundings).
   * everything capped at ``cap`` (300 mm/h, docs/world.md "cap ~250-300") in the present climate,
     then multiplied by the region's intensity factor.
4. **Warming** (docs/world.md, Warming path) with ``dT = warming - REFERENCE_WARMING``: each class
   quantile becomes ``Q'(u) = Q(u) * exp(dT * [a_mean + (a_ext - a_mean) * w(u)])``,
   ``w(u) = clip((u - 0.5) / (0.99 - 0.5), 0, 1)`` (0 at the median, 1 from the 99th
   percentile), with ``a_ext = a_ext_strat`` or ``a_ext_conv``. The wet-area ratio is then
   lowered, ``WAR' = WAR * exp(a_mean * dT) * E_0 / E_dT`` where ``E_dT`` is the mean intensity
   of the warmed mixture, so the expected domain-mean rain rises by ``exp(a_mean * dT)``. (The
   ``max`` at cell edges is not in ``E``: it adds ~1 % of the volume, a share growing by ~0.1 %
   per K, so the realised mean rate exceeds ``a_mean`` by at most ~0.0015 per K; measured in
   ``tests/world/test_rain.py``.)

Calibration: the docs/world.md, Rain fields targets (rain fraction, conditional mean, P99, P99.9 of
pixels > 0.2 mm/h) describe the observable label, so the regime parameters are tuned so that the
4-km reference (``grid.reference_precip``: footprint smoothing + 2 x 2 block mean) meets them,
within ~12 % (``climate.REGIMES`` docstring; checked within 20-25 % in
``tests/world/test_rain.py``). The fine-grid truth is correspondingly more intense: its P99.9 is
~1.6-1.9 x the label's (small convective cores that the footprint averages away -- beam
filling, part of what a retrieval has to live with).

Public functions: :func:`rain_fields` (one scene) and :func:`rain_batch` (a batch, the one the
dataset generator uses). Units: mm/h (liquid equivalent for snow) on the fine grid of
:data:`tailshift.benchmark.world.grid.FINE_KM` spacing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache

import numpy as np
from scipy.special import ndtri

from tailshift.benchmark.world import climate
from tailshift.benchmark.world.grid import FINE_KM, gaussian_kernel_fft

#: FWHM (km) of the envelope (organisation) field, docs/world.md, Rain fields (~40 km).
ENVELOPE_KM = 40.0
#: Share of the envelope in the variance of the combined Gaussian field (chosen so that wet
#: areas form ~40 km systems with embedded cells; not a literature value).
ORGANISATION = 0.6
#: Ranges of the cell field's spectral slopes and break scale (docs/world.md, Rain fields).
BETA1_RANGE = (-2.5, -1.5)
BETA2_RANGE = (-3.5, -2.8)
BREAK_KM_RANGE = (20.0, 60.0)
#: Warming ramp: w(u) goes from 0 at the median to 1 at the 99th percentile (docs/world.md, Warming path).
RAMP = (0.5, 0.99)
#: Quadrature points on u for the expected intensity of a class (midpoint rule).
_N_QUAD = 8192


def ramp(u: np.ndarray) -> np.ndarray:
    """``w(u) = clip((u - 0.5)/(0.99 - 0.5), 0, 1)`` (docs/world.md, Warming path)."""
    lo, hi = RAMP
    return np.clip((u - lo) / (hi - lo), 0.0, 1.0)


def lognormal_quantile(u: np.ndarray, m, s) -> np.ndarray:
    """``Q(u) = m * exp(s * Phi^-1(u))`` (median ``m``, log-sd ``s``), mm/h."""
    return m * np.exp(s * ndtri(u))


def convective_quantile(u: np.ndarray, m, s, xi, u_t, cap) -> np.ndarray:
    """Convective quantile function: log-normal body, generalised-Pareto tail above ``u_t``, cap.

    ``Q(u) = m exp(s z)`` for ``u <= u_t``; above, ``Q_t + sigma/xi ((1-p)^-xi - 1)`` with
    ``p = (u - u_t)/(1 - u_t)`` and ``sigma = (1 - u_t) Q_t s / phi(z_t)`` (continuous value and
    slope at ``u_t``). Capped at ``cap`` mm/h. Shapes broadcast.
    """
    u = np.asarray(u, dtype=np.float64)
    m, s, xi, u_t, cap = (np.asarray(a, dtype=np.float64) for a in (m, s, xi, u_t, cap))
    body = lognormal_quantile(u, m, s)
    z_t = ndtri(u_t)
    q_t = m * np.exp(s * z_t)
    phi_t = np.exp(-0.5 * z_t**2) / np.sqrt(2.0 * np.pi)
    sigma = (1.0 - u_t) * q_t * s / phi_t
    p = np.clip((u - u_t) / (1.0 - u_t), 0.0, 1.0 - 1e-12)
    tail = q_t + sigma / xi * ((1.0 - p) ** (-xi) - 1.0)
    return np.minimum(np.where(u > u_t, tail, body), cap)


def warming_factor(u: np.ndarray, dt, a_mean, a_ext) -> np.ndarray:
    """``exp(dT * [a_mean + (a_ext - a_mean) * w(u)])`` (docs/world.md, Warming path)."""
    return np.exp(dt * (a_mean + (a_ext - a_mean) * ramp(u)))


@cache
def _class_tables(regime: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature grid ``u``, and ``Q_s(u)``, ``Q_c(u)`` of a regime's present climate."""
    p = climate.REGIMES[regime]
    u = (np.arange(_N_QUAD) + 0.5) / _N_QUAD
    qs = np.minimum(lognormal_quantile(u, p.strat_m, p.strat_s), p.cap)
    qc = convective_quantile(u, p.conv_m, p.conv_s, p.gpd_xi, p.gpd_u, p.cap)
    return u, qs, qc


def mean_intensity(regime: str, dt: np.ndarray) -> np.ndarray:
    """Expected wet-pixel intensity (mm/h) of a regime's mixture at warming offsets ``dt``.

    ``E(dT) = (1 - f_conv) * int_0^1 Q_s'(u) du + f_conv * int_0^1 Q_c'(u) du`` (midpoint rule,
    8192 points), ``Q'`` the warmed quantile functions. Ignores the small lift of the ``max``
    at cell edges (it is the same at every warming to first order).
    """
    p = climate.REGIMES[regime]
    u, qs, qc = _class_tables(regime)
    dt = np.atleast_1d(np.asarray(dt, dtype=np.float64))[:, None]
    es = (qs * warming_factor(u, dt, p.a_mean, p.a_ext_strat)).mean(axis=1)
    ec = (qc * warming_factor(u, dt, p.a_mean, p.a_ext_conv)).mean(axis=1)
    return (1.0 - p.f_conv) * es + p.f_conv * ec


def war_compensation(regime: str, dt: np.ndarray) -> np.ndarray:
    """Factor on the wet-area ratio: ``exp(a_mean dT) E(0) / E(dT)`` (docs/world.md, Warming path)."""
    p = climate.REGIMES[regime]
    dt = np.atleast_1d(np.asarray(dt, dtype=np.float64))
    return np.exp(p.a_mean * dt) * mean_intensity(regime, np.zeros(1)) / mean_intensity(regime, dt)


@lru_cache(maxsize=8)
def _wavenumber(shape: tuple[int, int]) -> np.ndarray:
    """Radial wavenumber (cycles/km) in ``rfft2`` layout; 0 at the origin."""
    ky = np.fft.fftfreq(shape[0], d=FINE_KM)[:, None]
    kx = np.fft.rfftfreq(shape[1], d=FINE_KM)[None, :]
    return np.sqrt(ky**2 + kx**2)


def _standardise(f: np.ndarray) -> np.ndarray:
    f = f - f.mean(axis=(-2, -1), keepdims=True)
    return f / np.maximum(f.std(axis=(-2, -1), keepdims=True), 1e-12)


def _cell_filter(shape, beta1, beta2, break_km) -> np.ndarray:
    """Amplitude filter sqrt(P(k)) of the two-slope spectrum, (n, Yf, Xf//2+1)."""
    k = _wavenumber(shape)[None]
    logk = np.log(np.where(k > 0, k, 1.0))
    logkb = np.log(1.0 / np.asarray(break_km, dtype=np.float64))[:, None, None]
    b1 = np.asarray(beta1, dtype=np.float64)[:, None, None]
    b2 = np.asarray(beta2, dtype=np.float64)[:, None, None]
    logp = np.where(logk < logkb, b1 * logk, b1 * logkb + b2 * (logk - logkb))
    amp = np.exp(0.5 * logp)
    return np.where(k > 0, amp, 0.0)


# Long on purpose (~140 lines): one vectorised pass that draws a batch's fields in a fixed
# order of random draws; splitting it would thread a dozen arrays through helpers and risk
# changing the draw order, which the world's checksums pin.
def rain_batch(
    rngs: Sequence[np.random.Generator],
    regimes: Sequence[str],
    warming: np.ndarray,
    shape: tuple[int, int],
    region: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rain fields of a batch of scenes on the fine grid.

    Parameters
    ----------
    rngs : sequence of numpy Generators, one per scene
        Each scene draws, in this order: dry flag, WAR deviate, beta1, beta2, L_b, two (Yf, Xf)
        white-noise fields, then the uniforms of its stratiform and convective intensities. A
        scene's field therefore does not depend on its batch.
    regimes : sequence of str
        Regime name per scene (keys of :data:`tailshift.benchmark.world.climate.REGIMES`).
    warming : array (n,)
        Global-mean warming of each scene's climate state, K vs 1850-1900.
    shape : (Yf, Xf)
        Fine-grid shape (periodic domain, FINE_KM spacing).
    region : int array (n,), optional
        Region index k per scene (intensity factor ``REGION_INTENSITY[k]``); default 1 (x1.0).

    Returns
    -------
    rain : float32 (n, Yf, Xf), mm/h
    convective : bool (n, Yf, Xf)
    """
    n = len(rngs)
    ny, nx = shape
    npix = ny * nx
    regimes = list(regimes)
    warming = np.asarray(warming, dtype=np.float64).reshape(n)
    region = np.ones(n, dtype=int) if region is None else np.asarray(region).reshape(n)
    params = [climate.REGIMES[r] for r in regimes]

    def col(attr: str) -> np.ndarray:
        return np.array([getattr(p, attr) for p in params], dtype=np.float64)

    # --- per-scene random draws (fixed order) -------------------------------------------------
    dry = np.empty(n, dtype=bool)
    war_z = np.empty(n)
    beta1 = np.empty(n)
    beta2 = np.empty(n)
    lb = np.empty(n)
    noise = np.empty((n, 2, ny, nx), dtype=np.float32)
    for i, rng in enumerate(rngs):
        dry[i] = rng.random() < params[i].p_dry
        war_z[i] = rng.standard_normal()
        beta1[i] = rng.uniform(*BETA1_RANGE)
        beta2[i] = rng.uniform(*BETA2_RANGE)
        lb[i] = rng.uniform(*BREAK_KM_RANGE)
        noise[i] = rng.standard_normal((2, ny, nx), dtype=np.float32)

    # --- Gaussian fields ------------------------------------------------------------------------
    spec = np.fft.rfft2(noise)
    env = np.fft.irfft2(spec[:, 0] * gaussian_kernel_fft(shape, ENVELOPE_KM, ENVELOPE_KM), s=shape)
    cell = np.fft.irfft2(spec[:, 1] * _cell_filter(shape, beta1, beta2, lb), s=shape)
    env = _standardise(env).reshape(n, npix)
    cell = _standardise(cell).reshape(n, npix)
    g = np.sqrt(ORGANISATION) * env + np.sqrt(1.0 - ORGANISATION) * cell

    # --- wet-area ratio with warming compensation ----------------------------------------------
    dt = warming - climate.REFERENCE_WARMING
    comp = np.empty(n)
    for name in set(regimes):
        sel = np.array([r == name for r in regimes])
        comp[sel] = war_compensation(name, dt[sel])
    war = col("war") * np.exp(col("war_sigma") * war_z) * comp
    war = np.where(dry, 0.0, np.clip(war, 0.0, 0.6))
    n_wet = np.round(war * npix).astype(np.int64)
    n_conv = np.round(col("f_conv") * n_wet).astype(np.int64)

    # --- ranks -> class quantiles --------------------------------------------------------------
    # Per scene: the wet pixels are the top n_wet of g (argpartition, then sorted by g); the
    # convective ones the top n_conv of those. Each class's intensities are an i.i.d. sample of
    # its distribution (sorted uniforms) handed out by rank -- of g for convective pixels, of the
    # envelope for stratiform ones -- so pooled over scenes the pixels of a class follow its
    # distribution exactly and the tail is not truncated at a scene's last plotting position.
    # The stratiform background under a cell (for the max at cell edges) is the plotting
    # position of the envelope among all wet pixels. Values are continuous, so ranks have no ties.
    wet = np.zeros((n, npix), dtype=bool)
    conv = np.zeros((n, npix), dtype=bool)
    u_s = np.full((n, npix), 0.5)
    u_c = np.full((n, npix), 0.5)
    u_bg = np.full((n, npix), 0.5)
    for i, rng in enumerate(rngs):
        w_i, c_i = int(n_wet[i]), int(n_conv[i])
        s_i = w_i - c_i
        if w_i == 0:
            continue
        top = np.argpartition(g[i], npix - w_i)[npix - w_i :]
        top = top[np.argsort(g[i, top], kind="stable")]
        wet[i, top] = True
        strat_idx, conv_idx = top[:s_i], top[s_i:]
        conv[i, conv_idx] = True
        if s_i:
            order = np.argsort(env[i, strat_idx], kind="stable")
            u_s[i, strat_idx[order]] = np.sort(rng.random(s_i))
        if c_i:
            u_c[i, conv_idx] = np.sort(rng.random(c_i))
        order = np.argsort(env[i, top], kind="stable")
        u_bg[i, top[order]] = (np.arange(w_i) + 0.5) / w_i
    strat = wet & ~conv

    # Quantile functions on the raining pixels only (gathered, row-major).
    rows_s, rows_c = np.nonzero(strat)[0], np.nonzero(conv)[0]

    def par(attr: str, rows: np.ndarray) -> np.ndarray:
        return col(attr)[rows]

    def q_strat(u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        q = np.minimum(
            lognormal_quantile(u, par("strat_m", rows), par("strat_s", rows)), par("cap", rows)
        )
        return q * warming_factor(u, dt[rows], par("a_mean", rows), par("a_ext_strat", rows))

    u_s = np.clip(u_s[strat], 1e-12, 1 - 1e-12)
    u_c = np.clip(u_c[conv], 1e-12, 1 - 1e-12)
    u_bg = np.clip(u_bg[conv], 1e-9, 1 - 1e-12)
    rc = convective_quantile(
        u_c,
        par("conv_m", rows_c),
        par("conv_s", rows_c),
        par("gpd_xi", rows_c),
        par("gpd_u", rows_c),
        par("cap", rows_c),
    )
    rc = rc * warming_factor(u_c, dt[rows_c], par("a_mean", rows_c), par("a_ext_conv", rows_c))
    rain = np.zeros((n, npix))
    rain[strat] = q_strat(u_s, rows_s)
    rain[conv] = np.maximum(rc, q_strat(u_bg, rows_c))
    rain = rain * np.asarray(climate.REGION_INTENSITY)[region][:, None]
    return (
        rain.reshape(n, ny, nx).astype(np.float32),
        conv.reshape(n, ny, nx),
    )


def rain_fields(
    rng: np.random.Generator, regime: str, warming: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """One scene: ``(rain float32 (Yf, Xf) mm/h, convective bool (Yf, Xf))``.

    Same field as :func:`rain_batch` gives for this generator in any batch (region factor 1).
    """
    rain, conv = rain_batch([rng], [regime], np.array([warming]), shape)
    return rain[0], conv[0]
