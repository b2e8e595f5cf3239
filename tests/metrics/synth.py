"""Synthetic rain scenes for the metric tests (small, made on the fly from a seed).

Rain: a spatially correlated Gaussian field (FFT-filtered white noise, as in the world's rain model, docs/world.md)
thresholded at a wet-area fraction, log-normal intensities by probability matching, and a warming
scaling ``R' = R exp(dT (a_mean + (a_ext - a_mean) w))`` with ``w`` ramping from 0 at the wet
median to 1 at the wet 99th percentile (Lenderink & van Meijgaard 2008 super-CC tail), the wet fraction lowered so the
domain mean scales at about ``a_mean``.
"""

from __future__ import annotations

import numpy as np

REGIMES = ("tropical_ocean", "midlat_ocean", "midlat_land")
SURF = {"tropical_ocean": "ocean", "midlat_ocean": "ocean", "midlat_land": "land"}


def make_scenes(
    n=120, size=32, seed=0, a_mean=0.025, a_ext=0.10, war=0.15, n_years=30, dry_rate=0.047
):
    """Dict with ref (n, size, size) float32 and scene labels."""
    rng = np.random.default_rng(seed)
    warming = np.sort(rng.uniform(0.0, 4.0, n))
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.fftfreq(size)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    filt = np.where(k > 0, (k + 1.0 / size) ** -1.6, 0.0)
    noise = rng.standard_normal((n, size, size))
    g = np.real(np.fft.ifft2(np.fft.fft2(noise) * filt))
    flat = g.reshape(n, -1)
    u = ((np.argsort(np.argsort(flat, 1), 1) + 0.5) / flat.shape[1]).reshape(g.shape)
    ref = np.zeros((n, size, size))
    for i in range(n):
        f = war * np.exp(-dry_rate * warming[i])
        wet = u[i] > 1 - f
        uw = (u[i][wet] - (1 - f)) / f  # rank within wet, (0, 1)
        base = np.exp(0.3 + 1.1 * _ppf(uw))
        w = np.clip((uw - 0.5) / 0.49, 0.0, 1.0)
        ref[i][wet] = base * np.exp(warming[i] * (a_mean + (a_ext - a_mean) * w))
    scene = np.arange(n) * 7 + 3
    regime = np.array(REGIMES)[np.arange(n) % len(REGIMES)]
    year = 1990 + (np.arange(n) * n_years) // n
    block = np.array([f"{r}-{y}" for r, y in zip(regime, year, strict=True)])
    return {
        "ref": ref.astype(np.float32),
        "scene": scene,
        "warming": warming,
        "block": block,
        "year": year,
        "groups": {"regime": regime, "surface_type": np.array([SURF[r] for r in regime])},
    }


def _ppf(u):
    from scipy.special import ndtri

    return ndtri(np.clip(u, 1e-9, 1 - 1e-9))


def quantile_forecast(ref, levels, noise=0.3, seed=1):
    """Quantiles of a log-normal around a noisy copy of ``ref`` (wet pixels only)."""
    from scipy.special import ndtri

    rng = np.random.default_rng(seed)
    centre = ref * np.exp(noise * rng.standard_normal(ref.shape))
    z = ndtri(np.asarray(levels))[None, :, None, None]
    q = centre[:, None] * np.exp(noise * z)
    return q.astype(np.float32)


def labels(d, sel=slice(None)):
    """The keyword arguments of ScoreCard.update for scenes ``sel``."""
    return {
        "scene": d["scene"][sel],
        "warming": d["warming"][sel],
        "block": d["block"][sel],
        "year": d["year"][sel],
        "groups": {k: v[sel] for k, v in d["groups"].items()},
    }
