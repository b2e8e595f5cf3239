"""The climate of the synthetic world: its warming path, its regimes and its true scaling rates.

Three things live here (docs/world.md sections 3 and 4):

* :func:`warming_of_year` -- global-mean surface temperature (GMST) anomaly in K relative to
  1850-1900, a piecewise-linear curve through IPCC AR6 assessed values (historical, to 2025)
  and the AR6 SSP2-4.5 best estimates (2026-2100). It is the *forced* warming of a scene's
  climate state: year-to-year variability (ENSO etc.) is left to the per-scene ancillary jitter.
* :data:`REGIMES` -- one frozen :class:`RegimeParams` per precipitation regime: the rain-field
  parameters of docs/world.md, Rain fields (wet-area ratio, stratiform/convective log-normals,
  convective fraction, generalised-Pareto tail), the ancillary baselines (skin temperature /
  SST, 2-m temperature, total column water vapour, freezing level) and the true scaling rates
  of docs/world.md, Warming path.
* :func:`ancillary` -- how the ancillaries change with warming: T +dT, TCWV x 1.07**dT,
  freezing level +0.17 km/K (docs/world.md, Warming path).

The regime table describes the *present* climate, i.e. the 2001-2020 mean state at
:data:`REFERENCE_WARMING` = 0.99 K (IPCC AR6 WG1 SPM A.1.2); warming relative to it is
``dT = warming - REFERENCE_WARMING`` (negative for 1980-2000 scenes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tailshift import schema

# ----------------------------------------------------------------------------------------------
# Warming path
# ----------------------------------------------------------------------------------------------

#: (year, GMST anomaly in K vs 1850-1900) anchors of the warming path; ``np.interp`` between
#: them, linear extrapolation is never needed (1980-2100 is covered). Sources, each anchor at
#: the centre of its averaging period:
#:
#: * 1980: 0.42 K -- extrapolated back from the 1986-2005 value at the AR6 observed rate of
#:   about 0.18 K/decade (AR6 WG1 Ch. 2, Table 2.4 trends since 1979).
#: * 1986-2005: 0.69 K; 1995-2014: 0.85 K (AR6 WG1 Cross-Chapter Box 2.3, Table 1).
#: * 2001-2020: 0.99 K; 2011-2020: 1.09 K (AR6 WG1 SPM A.1.2).
#: * 2023: 1.31 K, the human-induced warming of 2023 (Forster et al. 2024, ESSD 16, 2625,
#:   "Indicators of Global Climate Change 2023"), rate ~0.26 K/decade to 2025 (1.36 K).
#: * SSP2-4.5 best estimates: 2021-2040 1.5 K, 2041-2060 2.0 K, 2081-2100 2.7 K (AR6 WG1
#:   Table SPM.1); 2100 at 2.8 K continues the slowing late-century rate (~0.1 K/decade).
WARMING_ANCHORS: tuple[tuple[float, float], ...] = (
    (1980.0, 0.42),
    (1995.5, 0.69),
    (2004.5, 0.85),
    (2010.5, 0.99),
    (2015.5, 1.09),
    (2023.0, 1.31),
    (2030.5, 1.50),
    (2050.5, 2.00),
    (2090.5, 2.70),
    (2100.0, 2.80),
)

#: Warming (K vs 1850-1900) at which the regime table of docs/world.md, Rain fields holds: the
#: 2001-2020 mean, 0.99 K (AR6 WG1 SPM A.1.2).
REFERENCE_WARMING = 0.99

#: Freezing-level rise per K of warming, m/K (docs/world.md, Warming path: +0.15-0.2 km/K).
FREEZING_LEVEL_RATE = 170.0
#: Column water vapour increase per K, a factor (docs/world.md, Warming path: x1.07**dT, CC).
TCWV_FACTOR_PER_K = 1.07


def warming_of_year(year: float | np.ndarray) -> np.ndarray:
    """GMST anomaly (K vs 1850-1900) of the world's climate state in ``year`` (fractional ok).

    Piecewise-linear through :data:`WARMING_ANCHORS` (IPCC AR6: historical to 2025, then
    SSP2-4.5). Years outside 1980-2100 are clamped to the end values.

    Returns
    -------
    ndarray, float64, same shape as ``year``.
    """
    ys, ws = zip(*WARMING_ANCHORS, strict=True)
    return np.interp(np.asarray(year, dtype=np.float64), ys, ws)


def warming_table(step: int = 5) -> dict[str, float]:
    """``{year: warming}`` every ``step`` years 1980-2100 (for the manifest), rounded to 3 d.p."""
    years = list(range(schema.SIMULATED_ERA[0], schema.SIMULATED_ERA[1] + 1, step))
    if years[-1] != schema.SIMULATED_ERA[1]:
        years.append(schema.SIMULATED_ERA[1])
    return {str(y): round(float(warming_of_year(y)), 3) for y in years}


# ----------------------------------------------------------------------------------------------
# Regimes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegimeParams:
    """Parameters of one precipitation regime (present climate, ``REFERENCE_WARMING``).

    Rain (docs/world.md, Rain fields): a raining scene's wet-area ratio is
    ``war * exp(war_sigma * N(0,1))`` (log-normal, median ``war``); a scene is dry with
    probability ``p_dry`` ("include dry scenes so long-term means are climatological").
    Intensities are log-normal, ``R = m * exp(s * Phi^-1(u))``, for stratiform
    (``strat_m, strat_s``) and convective (``conv_m, conv_s``) pixels, the convective ones being
    the top ``f_conv`` of the wet area. Above the class quantile ``gpd_u`` the convective
    log-normal is replaced by a generalised-Pareto tail of shape ``gpd_xi`` joined with a
    continuous quantile function and slope; all intensities are capped at ``cap`` mm/h
    (docs/world.md: "cap ~250-300 mm/h") in the present climate.

    Ancillaries: ``t_skin`` (SST or land skin temperature, K), ``t2m`` (K), ``tcwv``
    (kg m-2), ``freezing_level`` (m above the surface), and the months (1-12) scenes fall in.

    Truth of the warming response (docs/world.md, Warming path), per K of global warming, log-rate
    units (``%/K = 100 * (exp(a) - 1)``): ``a_mean`` for the domain-mean rain, ``a_ext_strat``
    and ``a_ext_conv`` for the 99th and higher class percentiles of stratiform / convective
    intensities.
    """

    name: str
    war: float
    strat_m: float
    strat_s: float
    conv_m: float
    conv_s: float
    f_conv: float
    gpd_xi: float
    t_skin: float
    t2m: float
    tcwv: float
    freezing_level: float
    months: tuple[int, ...]
    a_mean: float
    a_ext_strat: float
    a_ext_conv: float
    war_sigma: float = 0.5
    p_dry: float = 0.05
    gpd_u: float = 0.95
    cap: float = 300.0

    def to_dict(self) -> dict:
        """Plain-JSON form (for the manifest)."""
        d = asdict(self)
        d["months"] = list(self.months)
        return d


_ALL_YEAR = tuple(range(1, 13))

#: The five regimes of the world.
#:
#: Rain columns: docs/world.md, Rain fields table ("tropical ocean", "mid-latitude ocean",
#: "land, warm season" for ``midlat_land`` and ``tropical_land``, "snow (liquid eq.)" for
#: ``snow_land``). The table's targets (rain fraction, conditional mean, P99, P99.9) describe
#: the observable reference product, i.e. the label ``grid.reference_precip`` on the 4-km output
#: grid, which smooths the 2-km truth (beam filling: its P99.9 is ~0.5-0.6 x the fine-grid
#: value and its rain area ~1.1-1.2 x). The fine-grid parameters are therefore *tuned so that
#: the 4-km reference meets the section-3 targets*, starting from the table's (m, sigma) and
#: WAR: a damped fixed-point iteration on 400 scenes per regime at ``REFERENCE_WARMING`` adjusted
#: ``war`` (rain fraction), ``strat_m`` (conditional mean) and ``conv_m`` (P99 and P99.9), with
#: ``conv_s`` and ``gpd_xi`` chosen on a small grid (conv_s 1.0-1.2, xi 0.1-0.35) for the
#: best P99.9. Result (800 independent scenes per regime, reference grid, value / target):
#: rain fraction 1.00-1.03, conditional mean 0.98-1.03, P99 1.07-1.12, P99.9 0.90-0.96
#: (``tests/world/test_rain.py`` checks +-20 %). Compared with the table the medians are up by
#: ~1.2-1.4 x (what the footprint averages away), WAR down by ~10-15 % (what it spreads) and
#: the convective log-sd of the three convective regimes up to 1.2 with a generalised-Pareto
#: shape 0.3: the footprint compresses the P99.9 / P99 ratio, so the fine-grid tail must be
#: heavier (a shape of 0.3 is at the heavy end of the ~0-0.3 usual for rain-rate tails; a
#: tuning choice, not a measurement). ``tropical_land`` keeps the larger convective fraction 0.30: tropical
#: land carries the most intense convection (Zipser et al. 2006, BAMS 87, 1057) and a larger
#: convective share than tropical ocean (Schumacher & Houze 2003, J. Appl. Meteor. 42, 1519).
#: Stratiform / convective rank structure (which pixels get which class) is unchanged.
#:
#: Ancillaries: tropical freezing level 4.8 km and mid-latitude ~3 km (docs/world.md, The observed forward model);
#: land skin 300 K and snow 258 K (docs/world.md, The observed forward model clear-sky backgrounds); SSTs of
#: 301 K / 288 K and TCWV of 50 / 20 / 28 / 45 / 5 kg m-2 are typical ERA5 climatological
#: values for these regimes (tropical warm pool, North Atlantic/Pacific storm tracks, summer
#: continental mid-latitudes, tropical continents, winter boreal land).
#:
#: Rates (docs/world.md, Warming path): mean 0.02-0.03 (hydrological sensitivity ~2.5 %/K,
#: Pendergrass 2020), larger at high latitudes and smaller over land (AR6 WG1 Ch. 8);
#: stratiform extremes at the Clausius-Clapeyron rate of the regime's temperature (6.0 %/K at
#: 300 K, 7.3 %/K at 273 K -> 0.060 / 0.065 / 0.070 log-rate); convective extremes super-CC in
#: mid-latitudes (0.10-0.14, Lenderink & van Meijgaard 2008, Nat. Geosci. 1, 511), ~CC in
#: the deep tropics over ocean (Lenderink et al. 2011, HESS 15, 3033), CC for snow.
REGIMES: dict[str, RegimeParams] = {
    "tropical_ocean": RegimeParams(
        name="tropical_ocean",
        war=0.089,
        strat_m=1.56,
        strat_s=0.8,
        conv_m=8.3,
        conv_s=1.2,
        f_conv=0.22,
        gpd_xi=0.30,
        t_skin=301.0,
        t2m=300.0,
        tcwv=50.0,
        freezing_level=4800.0,
        months=_ALL_YEAR,
        a_mean=0.025,
        a_ext_strat=0.060,
        a_ext_conv=0.065,
    ),
    "midlat_ocean": RegimeParams(
        name="midlat_ocean",
        war=0.135,
        strat_m=0.89,
        strat_s=0.8,
        conv_m=3.55,
        conv_s=1.0,
        f_conv=0.10,
        gpd_xi=0.10,
        t_skin=288.0,
        t2m=287.0,
        tcwv=20.0,
        freezing_level=3000.0,
        months=_ALL_YEAR,
        a_mean=0.025,
        a_ext_strat=0.065,
        a_ext_conv=0.10,
    ),
    "midlat_land": RegimeParams(
        name="midlat_land",
        war=0.050,
        strat_m=1.42,
        strat_s=0.8,
        conv_m=8.0,
        conv_s=1.2,
        f_conv=0.25,
        gpd_xi=0.30,
        t_skin=300.0,
        t2m=296.0,
        tcwv=28.0,
        freezing_level=3600.0,
        months=(5, 6, 7, 8, 9),
        a_mean=0.020,
        a_ext_strat=0.065,
        a_ext_conv=0.13,
    ),
    "tropical_land": RegimeParams(
        name="tropical_land",
        war=0.051,
        strat_m=1.17,
        strat_s=0.8,
        conv_m=7.1,
        conv_s=1.2,
        f_conv=0.30,
        gpd_xi=0.30,
        t_skin=303.0,
        t2m=300.0,
        tcwv=45.0,
        freezing_level=4800.0,
        months=_ALL_YEAR,
        a_mean=0.020,
        a_ext_strat=0.060,
        a_ext_conv=0.10,
    ),
    "snow_land": RegimeParams(
        name="snow_land",
        war=0.164,
        strat_m=0.315,
        strat_s=0.7,
        conv_m=0.89,
        conv_s=0.9,
        f_conv=0.10,
        gpd_xi=0.10,
        t_skin=258.0,
        t2m=260.0,
        tcwv=5.0,
        freezing_level=0.0,
        months=(12, 1, 2, 3),
        a_mean=0.030,
        a_ext_strat=0.070,
        a_ext_conv=0.070,
    ),
}
assert tuple(REGIMES) == schema.REGIMES

#: docs/world.md, Rain fields targets per regime for *raining* pixels (R > 0.2 mm/h) of the reference
#: label on the 4-km output grid (``grid.reference_precip``) in the present climate: rain fraction (all pixels, dry scenes included), conditional
#: mean, P99 and P99.9 (mm/h). ``tropical_land`` shares the "land, warm season" row; the
#: snow row is in liquid equivalent.
TARGETS: dict[str, dict[str, float]] = {
    "tropical_ocean": {"rain_frac": 0.12, "cond_mean": 4.0, "p99": 44.0, "p999": 110.0},
    "midlat_ocean": {"rain_frac": 0.15, "cond_mean": 1.5, "p99": 10.0, "p999": 25.0},
    "midlat_land": {"rain_frac": 0.07, "cond_mean": 4.0, "p99": 41.0, "p999": 100.0},
    "tropical_land": {"rain_frac": 0.07, "cond_mean": 4.0, "p99": 41.0, "p999": 100.0},
    "snow_land": {"rain_frac": 0.12, "cond_mean": 0.6, "p99": 2.8, "p999": 5.5},
}

#: Regions per regime ("<regime>-<k>", k = 0..N_REGIONS-1): GEV blocks are region x year.
N_REGIONS = 3
#: Per-region offsets (index k): skin/air temperature in K and an intensity factor, so that
#: regions of one regime differ a little, as neighbouring basins do. Chosen, not sourced:
#: +-1 K and +-10 % are within the spread of regional climatologies.
REGION_T_OFFSET = (-1.0, 0.0, 1.0)
REGION_INTENSITY = (0.9, 1.0, 1.1)


def region_name(regime: str, k: int) -> str:
    """``"<regime>-<k>"``, the region label stored in the ``region`` coordinate."""
    return f"{regime}-{k}"


def true_scaling() -> dict[str, dict[str, float]]:
    """The world's true rates per regime, log-rate per K: ``{"a_mean", "a_ext_strat", "a_ext_conv"}``."""
    return {
        name: {"a_mean": p.a_mean, "a_ext_strat": p.a_ext_strat, "a_ext_conv": p.a_ext_conv}
        for name, p in REGIMES.items()
    }


def ancillary(
    regime: str,
    warming: np.ndarray,
    region: np.ndarray,
    anomaly: np.ndarray,
    tcwv_noise: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-scene ancillaries of one regime under warming.

    With ``dT = warming - REFERENCE_WARMING`` and a local temperature anomaly ``a`` (K, weather):

    * ``t_skin = T_skin0 + dT + off_k + a`` and ``t2m = T2m0 + dT + off_k + a`` (K);
    * ``tcwv = TCWV0 * 1.07**(dT + a) * exp(tcwv_noise)`` (kg m-2, CC);
    * ``freezing_level = max(0, H0 + 170 m/K * (dT + a))`` (m).

    Sources: docs/world.md, Warming path. ``off_k`` is :data:`REGION_T_OFFSET`.

    Returns
    -------
    dict of float32 arrays ``t_skin, t2m, tcwv, freezing_level``.
    """
    p = REGIMES[regime]
    dt = np.asarray(warming, dtype=np.float64) - REFERENCE_WARMING
    off = np.asarray(REGION_T_OFFSET)[np.asarray(region)]
    local = dt + np.asarray(anomaly, dtype=np.float64)
    return {
        "t_skin": (p.t_skin + off + local).astype(np.float32),
        "t2m": (p.t2m + off + local).astype(np.float32),
        "tcwv": (p.tcwv * TCWV_FACTOR_PER_K**local * np.exp(tcwv_noise)).astype(np.float32),
        "freezing_level": np.maximum(p.freezing_level + FREEZING_LEVEL_RATE * local, 0.0).astype(
            np.float32
        ),
    }
