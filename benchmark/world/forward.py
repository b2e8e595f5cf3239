"""Observed forward model and the deliberately imperfect simulator (docs/world.md sections 5 and 6).

Both operators turn the fine-grid truth of a batch of scenes (:class:`~benchmark.world.grid.
FineColumns`) into GMI brightness temperatures on the output grid, shape
``(n, 13, Yf // FACTOR, Xf // FACTOR)``, float32, K, channels in :data:`tailshift.schema.CHANNELS`
order. The column physics lives in :mod:`tailshift.benchmark.world.rt`.

Observed operator (docs/world.md, The observed forward model), per scene:

1. per fine (2 km) column: cloud liquid CLW = min(0.1 + 0.04 R, 1) kg m-2 where raining,
   ice water path from R (convective / stratiform relations), the ice field displaced by the
   parallax z tan(52.8 deg) ~ 1.3 z along +y (z = the scene's freezing level), surface
   emissivity (wind-roughened Fresnel ocean; land or snow with spatially correlated noise),
   the slab model and the ice screen -> fine Tb;
2. beam filling: Tb (not R) convolved with each channel's anisotropic Gaussian footprint
   (sigma = FWHM / 2.355, along-track = y, cross-track = x; GMI tables), periodic FFT;
3. 2 x 2 block mean to the output grid;
4. NEDT noise N(0, NEDT^2) (Draper et al. 2015).

Simulator (docs/world.md, The simulator): the same columns through a radiative-transfer model as one
would run on climate-model output, i.e. *plane-parallel*: rain rate, convective fraction and
emissivity anomaly are first averaged over each channel's footprint, then one column per output
pixel is computed (no beam filling of Tb); the climatological freezing level of the regime
(:data:`tailshift.benchmark.world.rt.REGIME_CLIMATE`) instead of the scene's; rain absorption x 0.85;
specular ocean without wind; ice extinction x 0.6 at 37-89 GHz and x 1.3 at 166-183 GHz (Geer &
Baordo 2014, AMT 7, 1839-1860: the 'sector snowflake' vs graupel-like spread of optical
properties in all-sky assimilation); no parallax; constant per-channel offsets
(:data:`SIM_OFFSETS`); and a different CLW-R relation (:func:`clw_simulator`).

The knob ``blend`` = lambda in [0, 1] moves the simulator towards the observed operator: every
scalar parameter is blended linearly (p = lambda p_obs + (1 - lambda) p_sim: freezing level,
rain-absorption factor, ice factors, wind, CLW, parallax distance, offsets); the structural
choice beam-filling vs plane-parallel blends the resulting Tb,
tb = lambda tb_beam_filled + (1 - lambda) tb_plane_parallel (both computed with the blended
parameters). lambda = 1 skips the plane-parallel path, so it reproduces :func:`observed_tb`
bit for bit for the same generator state. Both operators draw exactly the same random numbers
in the same order (ocean wind, land-emissivity noise, NEDT noise), so the observed and simulated
Tb of one scene differ only through the operator, never through the noise.

Behaviour of the column model against docs/world.md, The observed forward model (uniform columns, regime climates of
:data:`~benchmark.world.rt.REGIME_CLIMATE`; checked in ``tests/world/test_forward.py``):

=========================================  ====================  ===================
quantity                                   docs/world.md (≈)        this model
=========================================  ====================  ===================
tropical 19V at 0/2/5/10 mm/h              198/236/262/271 K     197/237/268/282 K
tropical 37V at 0/2/5 mm/h                 saturates near 2      218/277/283 K
tropical 10V at 10/20/40/80 mm/h           rises to ~40          243/275/285/285 K
mid-latitude 19V at 10/20/40 mm/h          saturates near 20     266/277/278 K
land 89V depression 1/10/50 mm/h (conv.)   15/50/100 K           14/54/107 K
ocean 89V depression 10/50 mm/h (conv.)    20/60 K               18/64 K
clear-sky backgrounds                      table                 windows <= 1 K, 166/183 <= 4 K
=========================================  ====================  ===================

Known deviations: the isothermal rain slab (at Ts - 3.25 H0, with absorption-only extinction as
docs/world.md prescribes) saturates ~10 K warmer than the table at 19 GHz; over the ocean the
rain emission at 89 GHz partly fills the ice depression at moderate rain, which the ocean IWP
relation compensates (:data:`~benchmark.world.rt.IWP_CONV_OCEAN`).

The 89V depression of the *output* binned by the *reference* rain (the world card) is smaller
than these column values, for three physical reasons (measured on 96 scenes per regime at the
regime climate, generator 1.1.0): the parallax displaces the ice signal by 1.3 H0 (6.3 km in
the tropics, about one 89-GHz footprint) from the rain beneath it, which takes ~40 % off the
depression of the heaviest-rain pixels (tropical ocean at 50 mm/h: 48 K without parallax, 30 K
with it; land 81-86 K -> 59-65 K); beam filling mixes a 10 mm/h reference pixel with its
lighter surroundings (tropical ocean at 10 mm/h: 9 K without parallax against 18 K for a
uniform column); and at light rain (~1 mm/h) the reference pixels are almost all stratiform,
whose snow scatters ~10 x less than convective graupel (land: 1.5-4 K without parallax), while
The 89V targets (docs/world.md, The climatology card) are those of convective columns. Over the cold mid-latitude ocean (clear
89V 252 K) the 89-GHz rain emission outweighs the ice up to ~10 mm/h (column: 5 K at 10 mm/h).
``t2m`` and ``warming`` are not used directly: warming acts through the skin
temperature, water vapour and freezing level the generator supplies.

Performance: vectorised over (scene, y, x), float32, one forward + one inverse real FFT per
channel and scene in the observed operator; ~4.5 ms/scene for 128 x 128 fine pixels on one
core (both operators; ``benchmarks/bench_forward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailshift.benchmark.world import rt
from tailshift.benchmark.world.grid import (
    FACTOR,
    FINE_KM,
    FineColumns,
    block_mean,
    gaussian_kernel_fft,
)
from tailshift.errors import BadInputError
from tailshift.schema import CHANNELS, REGIME_SURFACE, REGIMES, SURFACES

__all__ = [
    "observed_tb",
    "simulated_tb",
    "column_tb",
    "clw_observed",
    "clw_simulator",
    "SIM_OFFSETS",
]

F32 = np.float32

# --------------------------------------------------------------------------------------------
# constants of the two operators
# --------------------------------------------------------------------------------------------
#: Parallax factor tan(52.8 deg) = 1.316: the ice at height z is seen displaced by 1.3 z
#: (docs/world.md, The observed forward model). The shift is applied along +y (along-track; sign convention).
PARALLAX_FACTOR = float(np.tan(np.radians(52.8)))
#: Land / snow emissivity noise standard deviation (docs/world.md, The observed forward model: sigma ~ 0.01-0.02,
#: Prigent et al. 1997). Snow is more variable than snow-free land (assumption).
EMIS_NOISE_SIGMA = {"ocean": 0.0, "land": 0.012, "snow": 0.015}
#: Standard deviation (km) of the Gaussian filter applied to white noise to make the emissivity
#: anomaly field; its correlation function is Gaussian with e-folding distance 2 x 17.5 = 35 km,
#: inside docs/world.md's 20-50 km (Prigent et al. 1997).
EMIS_NOISE_FILTER_KM = 17.5
#: The unit emissivity noise is clipped at +-2.5 (sigma), so land/snow emissivity stays below 1
#: (max 0.967 + 2.5 x 0.012) and Tb stays linear in it (footprint averaging commutes).
EMIS_NOISE_CLIP = 2.5
#: Rain below this rate (mm/h) counts as dry for cloud liquid (guards footprint averages, whose
#: FFT round-off is ~1e-7 mm/h, from carrying cloud everywhere).
RAIN_MIN = 1e-3

#: Simulator rain-absorption factor (docs/world.md, The simulator).
SIM_RAIN_ABS = 0.85
#: Simulator ice-extinction factor per channel: x 0.6 at 37-89 GHz (applied to the small
#: 19/23 GHz ice term too) and x 1.3 at 166-183 GHz (docs/world.md, The simulator, after Geer & Baordo
#: 2014).
SIM_ICE_FACTOR = np.array([0.6 if c.frequency < 100.0 else 1.3 for c in CHANNELS])
#: Simulator constant per-channel offsets, K (docs/world.md, The simulator: "constant channel offsets
#: +-1-2 K"; this fixed table is our choice, mixed signs like real inter-calibration biases).
SIM_OFFSETS = np.array(
    [1.5, -1.0, 1.0, -1.5, 2.0, -1.0, 1.5, -2.0, 1.0, 1.5, -1.0, 2.0, -1.5], dtype=F32
)
#: Observed cloud-liquid relation CLW = min(0.1 + 0.04 R, 1) kg m-2 (docs/world.md, The observed forward model).
CLW_OBS = (0.1, 0.04, 1.0)
#: Simulator cloud-liquid relation CLW = min(0.25 sqrt(R), 1.5) kg m-2: a deliberately different
#: diagnostic with more liquid in light rain, like the "too much, too light" cloud water of many
#: climate models (our choice, docs/world.md, The simulator only asks for "a different CLW-R relation").
CLW_SIM = (0.25, 0.5, 1.5)

#: Scenes per internal compute chunk (bounds memory: ~30 MB of fine Tb for 128 x 128 scenes).
CHUNK = 32


def clw_observed(rain):
    """Observed cloud liquid water path, kg m-2: min(0.1 + 0.04 R, 1) where R > RAIN_MIN, else 0.

    docs/world.md, The observed forward model.
    """
    rain = np.asarray(rain)
    a, b, cap = CLW_OBS
    return np.where(rain > RAIN_MIN, np.minimum(a + b * rain, cap), 0).astype(rain.dtype)


def clw_simulator(rain):
    """Simulator cloud liquid water path, kg m-2: min(0.25 R^0.5, 1.5) where R > RAIN_MIN.

    See :data:`CLW_SIM`.
    """
    rain = np.asarray(rain)
    a, b, cap = CLW_SIM
    r = np.maximum(rain, 0)
    return np.where(rain > RAIN_MIN, np.minimum(a * r**b, cap), 0).astype(rain.dtype)


# --------------------------------------------------------------------------------------------
# input checking and per-scene parameters
# --------------------------------------------------------------------------------------------
def _check(cols: FineColumns) -> None:
    rain = np.asarray(cols.rain)
    if rain.ndim != 3:
        raise BadInputError(
            f"cols.rain must have shape (scene, y, x), got {rain.shape}; pass one 2-D field per scene"
        )
    n, ny, nx = rain.shape
    if ny % FACTOR or nx % FACTOR or ny < FACTOR or nx < FACTOR:
        raise BadInputError(
            f"fine grid {ny}x{nx} is not a multiple of FACTOR={FACTOR}; pad or crop the fields"
        )
    if np.asarray(cols.convective).shape != rain.shape:
        raise BadInputError("cols.convective must have the same shape as cols.rain")
    for name in ("surface", "skin_temperature", "t2m", "tcwv", "freezing_level", "regime"):
        if np.shape(getattr(cols, name)) != (n,):
            got = np.shape(getattr(cols, name))
            raise BadInputError(
                f"cols.{name} must have shape ({n},), one value per scene; got {got}"
            )
    if not np.all(np.isfinite(rain)) or np.any(rain < 0):
        raise BadInputError("cols.rain must be finite and non-negative (mm/h); fix the generator")
    bad = sorted({str(s) for s in cols.surface} - set(SURFACES))
    if bad:
        raise BadInputError(f"unknown surface type(s) {bad}; use one of {list(SURFACES)}")
    bad = sorted({str(r) for r in cols.regime} - set(REGIMES))
    if bad:
        raise BadInputError(f"unknown regime(s) {bad}; use one of {list(REGIMES)}")
    for name in ("skin_temperature", "tcwv", "freezing_level"):
        v = np.asarray(getattr(cols, name), dtype=float)
        if not np.all(np.isfinite(v)):
            raise BadInputError(f"cols.{name} contains NaN or inf; every scene needs a value")
    if np.any(np.asarray(cols.skin_temperature) <= 150) or np.any(np.asarray(cols.tcwv) < 0):
        raise BadInputError(
            "skin_temperature must be in K (> 150) and tcwv non-negative (kg m-2); check units"
        )


def _check_blend(blend: float) -> float:
    try:
        lam = float(blend)
    except (TypeError, ValueError):
        raise BadInputError(f"blend must be a number in [0, 1], got {blend!r}") from None
    if not (0.0 <= lam <= 1.0):
        raise BadInputError(f"blend must be in [0, 1] (0 = simulator, 1 = observed), got {blend}")
    return lam


@dataclass
class _Scene:
    """Per-scene, per-channel scalars of one chunk, shaped for broadcasting over (y, x)."""

    ts: np.ndarray  # (n,1,1)
    temp_r: np.ndarray  # (n,1,1) rain-layer temperature
    h0: np.ndarray  # (n,1,1) km, blended
    emis: np.ndarray  # (n,13,1,1) base emissivity
    sigma_e: np.ndarray  # (n,1,1)
    t_g: np.ndarray  # (n,13,1,1)
    up: np.ndarray  # (n,13,1,1)
    t_dn: np.ndarray  # (n,13,1,1)
    ocean: np.ndarray  # (n,1,1) bool
    parallax_px: np.ndarray  # (n,) fine pixels, blended


def _scene_params(cols: FineColumns, sl: slice, wind: np.ndarray, lam: float) -> _Scene:
    surface = np.asarray(cols.surface)[sl].astype(str)
    regime = np.asarray(cols.regime)[sl].astype(str)
    ts = np.asarray(cols.skin_temperature, dtype=np.float64)[sl]
    tcwv = np.asarray(cols.tcwv, dtype=np.float64)[sl]
    h0_scene = np.maximum(np.asarray(cols.freezing_level, dtype=np.float64)[sl], 0.0) / 1000.0
    h0_clim = np.array([rt.REGIME_CLIMATE[r]["freezing_level"] for r in regime]) / 1000.0
    h0 = lam * h0_scene + (1.0 - lam) * h0_clim
    ocean = surface == "ocean"
    emis = np.where(
        ocean[:, None],
        rt.ocean_emissivity(ts, lam * wind[sl]),
        np.where((surface == "snow")[:, None], rt.SNOW_EMIS, rt.LAND_EMIS),
    )
    t_g, up, t_dn = rt.gas_terms(ts, tcwv)
    sig = np.array([EMIS_NOISE_SIGMA[s] for s in surface])

    def s3(a):
        return np.asarray(a, dtype=F32)[:, None, None]

    def s4(a):
        return np.asarray(a, dtype=F32)[:, :, None, None]

    return _Scene(
        ts=s3(ts),
        temp_r=s3(ts - rt.HALF_LAPSE * h0),
        h0=s3(h0),
        emis=s4(emis),
        sigma_e=s3(sig),
        t_g=s4(t_g),
        up=s4(up),
        t_dn=s4(t_dn),
        ocean=ocean[:, None, None],
        parallax_px=lam * PARALLAX_FACTOR * h0_scene / FINE_KM,
    )


# --------------------------------------------------------------------------------------------
# the column model on a field (shared by both paths)
# --------------------------------------------------------------------------------------------
def _ice89(rain, conv, ocean, ln_r=None):
    """Nadir 89-GHz ice optical depth beta_89 x IWP, float32, via logs (see :func:`rt.iwp`).

    Convective pixels: graupel beta 0.3 m2/kg; stratiform: snow beta 0.1 m2/kg (docs/world.md).
    """
    if ln_r is None:
        ln_r = np.log(np.maximum(rain, F32(1e-30)))
    a_c = np.where(ocean, F32(rt.IWP_CONV_OCEAN[0]), F32(rt.IWP_CONV_LAND[0]))
    b_c = np.where(ocean, F32(rt.IWP_CONV_OCEAN[1]), F32(rt.IWP_CONV_LAND[1]))
    iwp_c = np.minimum(a_c * np.exp(b_c * ln_r), F32(rt.IWP_CAP))
    iwp_s = np.minimum(F32(rt.IWP_STRAT[0]) * np.exp(F32(rt.IWP_STRAT[1]) * ln_r), F32(rt.IWP_CAP))
    x = F32(rt.BETA89_SNOW) * iwp_s
    x += conv * (F32(rt.BETA89_GRAUPEL) * iwp_c - x)
    return x


def _channels_tb(group, rain, ln_r, clw, ice, enoise, sc: _Scene, lam, out):
    """Tb of the channels of one rain group (shared frequency) into ``out[:, c]``.

    rain, ln_r, clw, ice, enoise: (n, Y, X) float32 fields (enoise may be None).
    """
    g = group
    mu_g = F32(rt.MU[rt.RAIN_GROUP == g][0])
    abs_factor = lam + (1.0 - lam) * SIM_RAIN_ABS
    c_rain = F32(abs_factor * (1.0 - rt.RAIN_OMEGA[g]) * rt.P838_K[g] / rt.DB_PER_NP / mu_g)
    c_cloud = F32(rt.CLOUD_KL[g] / rt.DB_PER_NP / mu_g)
    opt = np.exp(F32(rt.P838_ALPHA[g]) * ln_r)
    opt *= c_rain * sc.h0
    opt += c_cloud * clw
    t_r = np.exp(-opt)
    a = sc.temp_r * (1 - t_r)
    for c in np.flatnonzero(rt.RAIN_GROUP == g):
        emis = sc.emis[:, c]
        if enoise is not None:
            emis = emis + sc.sigma_e * enoise  # <= 1: the noise is clipped at +-2.5 sigma
        # slab model (rt.slab_tb), written out in place for speed
        tb = (1 - emis) * (a + t_r * sc.t_dn[:, c])
        tb += emis * sc.ts
        tb *= t_r
        tb += a
        tb *= sc.t_g[:, c]
        tb += sc.up[:, c]
        beta = rt.ICE_BETA_REL[c] * (lam + (1.0 - lam) * SIM_ICE_FACTOR[c])
        if beta > 0:
            ts_ice = np.exp(ice * F32(-beta / rt.MU[c]))
            tb -= F32(rt.ICE_TB)
            tb *= ts_ice
            tb += F32(rt.ICE_TB)
        out[:, c] = tb


def _shift_y(field: np.ndarray, shift_px: np.ndarray) -> np.ndarray:
    """Periodic shift of (n, Y, X) fields by a fractional number of pixels along +y (linear)."""
    out = np.empty_like(field)
    for i, s in enumerate(shift_px):
        k = int(np.floor(s))
        w = F32(s - k)
        lo = np.roll(field[i], k, axis=0)
        out[i] = lo if w == 0 else lo + w * (np.roll(field[i], k + 1, axis=0) - lo)
    return out


# --------------------------------------------------------------------------------------------
# FFT helpers
# --------------------------------------------------------------------------------------------
_KERNELS: dict = {}


def _footprint_kernels(shape: tuple[int, int]) -> np.ndarray:
    """rfft2-layout Gaussian footprints of the 13 channels, (13, Yf, Xf//2+1), float32."""
    key = ("fp", shape)
    if key not in _KERNELS:
        _KERNELS[key] = np.stack(
            [gaussian_kernel_fft(shape, c.footprint[0], c.footprint[1]) for c in CHANNELS]
        ).astype(F32)
    return _KERNELS[key]


def _noise_kernel(shape: tuple[int, int]) -> np.ndarray:
    """rfft2-layout filter that turns unit white noise into unit-variance correlated noise."""
    key = ("noise", shape)
    if key not in _KERNELS:
        fwhm = EMIS_NOISE_FILTER_KM * 2.355
        k = gaussian_kernel_fft(shape, fwhm, fwhm)
        # variance of the filtered field = mean of |K|^2 over the full (not half) spectrum
        ky = np.fft.fftfreq(shape[0], d=FINE_KM)[:, None]
        kx = np.fft.fftfreq(shape[1], d=FINE_KM)[None, :]
        full = np.exp(-2.0 * np.pi**2 * EMIS_NOISE_FILTER_KM**2 * (ky**2 + kx**2))
        _KERNELS[key] = (k / np.sqrt(np.mean(full**2))).astype(F32)
    return _KERNELS[key]


def _fft():
    import scipy.fft

    return scipy.fft


# --------------------------------------------------------------------------------------------
# the two paths
# --------------------------------------------------------------------------------------------
def _beam_filled(rain, conv, enoise, sc: _Scene, lam: float) -> np.ndarray:
    """Observed path: fine-grid Tb, parallax-shifted ice, footprint convolution, block mean."""
    fft = _fft()
    n, ny, nx = rain.shape
    ln_r = np.log(np.maximum(rain, F32(1e-30)))
    clw = clw_observed(rain)
    if lam < 1.0:
        clw = F32(lam) * clw + F32(1.0 - lam) * clw_simulator(rain)
    ice = _ice89(rain, conv, sc.ocean, ln_r)
    if np.any(sc.parallax_px != 0):
        ice = _shift_y(ice, sc.parallax_px)
    tb = np.empty((n, len(CHANNELS), ny, nx), dtype=F32)
    for g in range(len(rt.RAIN_FREQS)):
        _channels_tb(g, rain, ln_r, clw, ice, enoise, sc, lam, tb)
    spec = fft.rfft2(tb, axes=(-2, -1), workers=1)
    spec *= _footprint_kernels((ny, nx))
    tb = fft.irfft2(spec, s=(ny, nx), axes=(-2, -1), workers=1)
    return block_mean(tb).astype(F32, copy=False)


def _plane_parallel(rain, conv, enoise, sc: _Scene, lam: float) -> np.ndarray:
    """Simulator path: footprint-averaged R, convective fraction and emissivity, then columns."""
    fft = _fft()
    n, ny, nx = rain.shape
    kernels = _footprint_kernels((ny, nx))
    fields = [rain, conv.astype(F32)] + ([enoise] if enoise is not None else [])
    spec = fft.rfft2(np.stack(fields, axis=1), axes=(-2, -1), workers=1)
    out = np.empty((n, len(CHANNELS), ny // FACTOR, nx // FACTOR), dtype=F32)
    for g in range(len(rt.RAIN_FREQS)):
        c0 = int(np.flatnonzero(rt.RAIN_GROUP == g)[0])
        sm = fft.irfft2(spec * kernels[c0], s=(ny, nx), axes=(-2, -1), workers=1)
        sm = block_mean(sm).astype(F32, copy=False)
        r = sm[:, 0]
        r = np.where(r > RAIN_MIN, r, F32(0))
        cf = np.clip(sm[:, 1], F32(0), F32(1))
        en = sm[:, 2] if enoise is not None else None
        ln_r = np.log(np.maximum(r, F32(1e-30)))
        clw = F32(lam) * clw_observed(r) + F32(1.0 - lam) * clw_simulator(r)
        ice = _ice89(r, cf, sc.ocean, ln_r)
        _channels_tb(g, r, ln_r, clw, ice, en, sc, lam, out)
    return out


def _emissivity_noise(rng: np.random.Generator, surface: np.ndarray, shape) -> np.ndarray | None:
    """Unit-variance, spatially correlated noise for the non-ocean scenes (zeros over ocean)."""
    land = surface != "ocean"
    m = int(land.sum())
    if m == 0:
        return None
    white = rng.standard_normal((m, *shape), dtype=F32)
    fft = _fft()
    spec = fft.rfft2(white, axes=(-2, -1), workers=1)
    spec *= _noise_kernel(tuple(shape))
    field = np.zeros((len(surface), *shape), dtype=F32)
    field[land] = fft.irfft2(spec, s=shape, axes=(-2, -1), workers=1)
    return np.clip(field, -EMIS_NOISE_CLIP, EMIS_NOISE_CLIP, out=field)


def _forward(cols: FineColumns, rng: np.random.Generator, lam: float) -> np.ndarray:
    _check(cols)
    if not isinstance(rng, np.random.Generator):
        raise BadInputError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    rain = np.asarray(cols.rain, dtype=F32)
    conv = np.asarray(cols.convective).astype(F32)
    n, ny, nx = rain.shape
    surface = np.asarray(cols.surface).astype(str)
    oy, ox = ny // FACTOR, nx // FACTOR
    # random draws: identical order and size for every lambda (see module docstring)
    wind = rng.weibull(rt.WIND_WEIBULL[0], size=n) * rt.WIND_WEIBULL[1]
    enoise = _emissivity_noise(rng, surface, (ny, nx))
    noise = rng.standard_normal((n, len(CHANNELS), oy, ox), dtype=F32)
    noise *= rt.NEDT[None, :, None, None]

    out = np.empty((n, len(CHANNELS), oy, ox), dtype=F32)
    for start in range(0, n, CHUNK):
        sl = slice(start, min(start + CHUNK, n))
        sc = _scene_params(cols, sl, wind, lam)
        en = None if enoise is None else enoise[sl]
        if lam == 1.0:
            tb = _beam_filled(rain[sl], conv[sl], en, sc, lam)
        elif lam == 0.0:
            tb = _plane_parallel(rain[sl], conv[sl], en, sc, lam)
        else:
            tb = F32(lam) * _beam_filled(rain[sl], conv[sl], en, sc, lam)
            tb += F32(1.0 - lam) * _plane_parallel(rain[sl], conv[sl], en, sc, lam)
        if lam < 1.0:
            tb += (F32(1.0 - lam) * SIM_OFFSETS)[None, :, None, None]
        tb += noise[sl]
        out[sl] = tb
    return out


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def observed_tb(cols: FineColumns, rng: np.random.Generator) -> np.ndarray:
    """Observed GMI brightness temperatures of a batch of scenes (docs/world.md, The observed forward model).

    Parameters
    ----------
    cols : FineColumns
        Fine-grid truth of ``n`` scenes (rain in mm/h, freezing level in m, ...).
    rng : numpy.random.Generator
        Source of the ocean wind, land-emissivity noise and NEDT noise draws.

    Returns
    -------
    ndarray, float32, (n, 13, Yf // FACTOR, Xf // FACTOR)
        Tb in K, channels in :data:`tailshift.schema.CHANNELS` order.

    Raises
    ------
    tailshift.errors.BadInputError
        Malformed columns (shapes, units, unknown surface or regime, negative rain).
    """
    return _forward(cols, rng, 1.0)


def simulated_tb(cols: FineColumns, rng: np.random.Generator, blend: float = 0.0) -> np.ndarray:
    """Simulator brightness temperatures (docs/world.md, The simulator), optionally blended.

    Parameters
    ----------
    cols, rng
        As for :func:`observed_tb`; the same random numbers are drawn in the same order.
    blend : float in [0, 1]
        lambda: 0 = the simulator, 1 = the observed operator (bit-identical to
        :func:`observed_tb` for the same generator state). Scalars blend linearly, the
        plane-parallel vs beam-filled Tb blend as lambda tb_obs + (1 - lambda) tb_sim.

    Returns
    -------
    ndarray, float32, (n, 13, Yf // FACTOR, Xf // FACTOR), K.

    Raises
    ------
    tailshift.errors.BadInputError
        ``blend`` outside [0, 1] or malformed columns.
    """
    return _forward(cols, rng, _check_blend(blend))


def column_tb(
    rain,
    regime: str,
    *,
    convective: bool | float = True,
    skin_temperature: float | None = None,
    tcwv: float | None = None,
    freezing_level: float | None = None,
    wind: float | None = None,
    blend: float = 1.0,
) -> np.ndarray:
    """Noise-free Tb (K) of horizontally uniform columns, shape (len(rain), 13).

    The column model of the operators without footprints, noise or parallax (all of which are
    the identity on a uniform field), for checking the physics against docs/world.md, The observed forward model.
    Ancillaries default to the regime climate :data:`tailshift.benchmark.world.rt.REGIME_CLIMATE`;
    ``wind`` (m/s) defaults to the mean of the Weibull wind (ocean only). ``blend`` as for
    :func:`simulated_tb` (offsets included, plane-parallel = beam-filled for uniform fields).
    """

    lam = _check_blend(blend)
    if regime not in rt.REGIME_CLIMATE:
        raise BadInputError(f"unknown regime {regime!r}; use one of {list(REGIMES)}")
    r = np.atleast_1d(np.asarray(rain, dtype=F32))
    n = r.size
    clim = rt.REGIME_CLIMATE[regime]

    def col(v, default):
        return np.full(n, default if v is None else v, dtype=F32)

    cols = FineColumns(
        rain=r.reshape(n, 1, 1),
        convective=np.full((n, 1, 1), convective, dtype=F32),
        surface=np.full(n, REGIME_SURFACE[regime]),
        skin_temperature=col(skin_temperature, clim["skin_temperature"]),
        t2m=col(skin_temperature, clim["skin_temperature"]),
        tcwv=col(tcwv, clim["tcwv"]),
        freezing_level=col(freezing_level, clim["freezing_level"]),
        warming=np.zeros(n, dtype=F32),
        regime=np.full(n, regime),
    )
    w = np.full(n, rt.WIND_MEAN if wind is None else wind)
    sc = _scene_params(cols, slice(None), w, lam)
    rr = cols.rain
    ln_r = np.log(np.maximum(rr, F32(1e-30)))
    clw = F32(lam) * clw_observed(rr) + F32(1.0 - lam) * clw_simulator(rr)
    ice = _ice89(rr, cols.convective, sc.ocean, ln_r)
    out = np.empty((n, len(CHANNELS), 1, 1), dtype=F32)
    for g in range(len(rt.RAIN_FREQS)):
        _channels_tb(g, rr, ln_r, clw, ice, None, sc, lam, out)
    out = out[:, :, 0, 0]
    return out + F32(1.0 - lam) * SIM_OFFSETS
