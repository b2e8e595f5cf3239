"""Registry entries of every TailShift metric and their reducers (docs/protocol.md).

Each reducer takes a :class:`tailshift.metrics.scorecard.StatView` (reduced statistics, replicate axis first)
and returns one value per replicate. Notation: ``r`` reference, ``p`` retrieved point estimate,
sums over valid pixels (NaN reference pixels excluded).
"""

from __future__ import annotations

import numpy as np

from tailshift.metrics import kernels as K
from tailshift.metrics.bootstrap import percentile_ci
from tailshift.metrics.levels import brackets_coverage
from tailshift.metrics.registry import MetricSpec, register
from tailshift.metrics.stats import radial

#: Years an annual series needs for Theil-Sen and Mann-Kendall.
MIN_YEARS = 5

PROB = ("quantiles", "samples")

_SRC_WILKS = "Wilks (2011), Statistical Methods in the Atmospheric Sciences, 3rd ed., ch. 8"
_SRC_SATRAIN = "SatRain (IPWG) benchmark, Sci. Data 2026, doi:10.1038/s41597-026-06565-0"


def _div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a, float) / np.asarray(b, float)


# --- point ---------------------------------------------------------------------------------


def _bias(v):
    sr = v.col("point", "sum_r")
    return 100.0 * _div(v.col("point", "sum_p") - sr, sr)


def _mae(v):
    return _div(v.col("point", "sum_abs_err"), v.col("point", "n"))


def _rmse(v):
    return np.sqrt(_div(v.col("point", "sum_sq_err"), v.col("point", "n")))


def _corr(v):
    n, sr, sp, srr, spp, srp = (v.col("point", c) for c in
                                ("n", "sum_r", "sum_p", "sum_rr", "sum_pp", "sum_rp"))
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = srp - sr * sp / n
        vr = srr - sr * sr / n
        vp = spp - sp * sp / n
    return _div(cov, np.sqrt(np.clip(vr, 0, None) * np.clip(vp, 0, None)))


def _smape(v):
    return _div(v.col("point", "sum_smape"), v.col("point", "n_smape"))


register(MetricSpec(
    "bias", "point", ("point",), None, 0.0, "%",
    "Relative bias of the point estimate, 100 (sum p - sum r) / sum r.",
    _SRC_SATRAIN, ("point",), _bias))
register(MetricSpec(
    "mae", "point", ("point",), False, None, "mm h-1",
    "Mean absolute error of the point estimate.", _SRC_WILKS, ("point",), _mae))
register(MetricSpec(
    "rmse", "point", ("point",), False, None, "mm h-1",
    "Root-mean-square error of the point estimate.", _SRC_WILKS, ("point",), _rmse))
register(MetricSpec(
    "corr", "point", ("point",), True, None, "1",
    "Pearson correlation of point estimate and reference over all valid pixels.",
    _SRC_WILKS, ("point",), _corr))
register(MetricSpec(
    "smape", "point", ("point",), False, None, "%",
    "Symmetric MAPE, mean of 200|p - r|/(|p| + |r|) over pixels with max(p, r) >= 0.1 mm/h " +
    "(range 0-200 %).", _SRC_SATRAIN, ("point",), _smape))

# --- probabilistic -------------------------------------------------------------------------


def _ql(v):
    return _div(v.col("prob", "sum_ql"), v.col("prob", "n"))


def _crps(v):
    return _div(v.col("prob", "sum_crps"), v.col("prob", "n"))


def _tw(name):
    def fn(v):
        return _div(v.col("tw", name), v.col("tw", "n"))

    return fn


def _coverage_defined(red) -> bool:
    if "quantiles" in red.kinds:
        return brackets_coverage(red.levels)
    return red.members is not None and red.members >= 19  # rank width 1/(m+1) <= 0.05


def _coverage(v):
    if not _coverage_defined(v.red):
        return np.full(v.a("pit").shape[0], np.nan)
    pit = v.a("pit")
    at = v.red.pit_points()
    i5 = int(np.argmin(np.abs(at - 0.05)))
    i95 = int(np.argmin(np.abs(at - 0.95)))
    return _div(pit[:, i95] - pit[:, i5], pit[:, -1])


def _why_coverage(v):
    if "quantiles" in v.red.kinds:
        return ("the quantile levels do not bracket 0.05 and 0.95, so the 5-95 % interval is " +
                "not stated by the forecast")
    return (f"{v.red.members} ensemble members: a rank interval of 1/(m+1) > 0.05 cannot " +
            "resolve the 5-95 % interval (needs >= 19 members)")


_SRC_CRPS = ("Laio & Tamea (2007) HESS 11:1267; Gneiting & Ranjan (2011) JBES 29:411 (quantile " +
             "forecasts, exact); Gneiting & Raftery (2007) JASA 102:359 eq. 21 (ensembles)")
_SRC_TW = "Gneiting & Ranjan (2011) JBES 29:411; Allen et al. (2023) SIAM/ASA JUQ 11:396"
register(MetricSpec(
    "quantile_loss", "probabilistic", PROB, False, None, "mm h-1",
    "Mean pinball loss over the submitted levels (for samples: their empirical quantiles at " +
    "32 mid-point levels). Depends on the level set; not the CRPS.",
    "Koenker & Bassett (1978) Econometrica 46:33", ("prob",), _ql))
register(MetricSpec(
    "crps", "probabilistic", PROB, False, None, "mm h-1",
    "CRPS of the predictive distribution: exact for quantile forecasts (piecewise-linear " +
    "quantile function, flat ends), the CRPS of the empirical distribution for ensembles.",
    _SRC_CRPS, ("prob",), _crps))


def _crps_fair(v):
    return _div(v.col("prob", "sum_crps_fair"), v.col("prob", "n"))


register(MetricSpec(
    "crps_fair", "probabilistic", ("samples",), None, None, "mm h-1",
    "Diagnostic, not ranked: the fair ensemble CRPS, unbiased for the distribution the members " +
    "were drawn from if they are random draws (chosen members can exploit it).",
    "Ferro et al. (2008) Meteorol. Appl. 15:19; Zamo & Naveau (2018) Math. Geosci. 50:209",
    ("prob",), _crps_fair, groupable=False))
register(MetricSpec(
    "twcrps_10", "probabilistic", PROB, False, None, "mm h-1",
    "Threshold-weighted CRPS with v(x) = max(x, 10 mm/h) (exact for quantile forecasts): " +
    "skill for heavy rain only.", _SRC_TW, ("tw",), _tw("sum_tw10")))
register(MetricSpec(
    "twcrps_50", "probabilistic", PROB, False, None, "mm h-1",
    "Threshold-weighted CRPS with v(x) = max(x, 50 mm/h) (exact for quantile forecasts): " +
    "skill for extreme rain only.", _SRC_TW, ("tw",), _tw("sum_tw50")))
register(MetricSpec(
    "coverage_90", "probabilistic", PROB, None, 0.9, "1",
    "Fraction of reference values inside the 5-95 % interval of the predictive CDF " +
    "(randomised PIT at atoms, so dry/dry pixels count 0.9); undefined when the levels do " +
    "not bracket 0.05 and 0.95.", "Gneiting et al. (2007) JRSS-B 69:243; Czado et al. (2009)",
    ("pit",), _coverage, why=_why_coverage))

# --- detection -----------------------------------------------------------------------------


def _det(kind: str, t: float):
    def fn(v):
        a, b, c, d = v.contingency(v.bins.edge_index(t))
        return K.detection_scores(a, b, c, d)[kind]

    return fn


_DET_DOC = {
    "pod": (True, None, "Probability of detection (hit rate) of rain >= {t} mm/h."),
    "far": (False, None, "False alarm ratio of rain >= {t} mm/h."),
    "csi": (True, None, "Critical success index of rain >= {t} mm/h."),
    "hss": (True, None, "Heidke skill score of rain >= {t} mm/h."),
}
for _t, _tag in ((0.1, "0.1"), (1.0, "1"), (10.0, "10")):
    for _k, (_hib, _tg, _doc) in _DET_DOC.items():
        register(MetricSpec(
            f"{_k}_{_tag}", "detection", ("point",), _hib, _tg, "1", _doc.format(t=_tag),
            _SRC_WILKS, ("hist",), _det(_k, _t)))


def _sedi(p: float):
    def fn(v):
        j = v.bins.quantile_bin(v.hist[:, 0], p, cum=v.cum[:, 0])
        a, b, c, d = v.contingency(j)
        return np.where(j >= 2, K.sedi(a, b, c, d), np.nan)

    return fn


def _why_sedi(p: float):
    def fn(v):
        j = v.bins.quantile_bin(v.hist[:1, 0], p, cum=v.cum[:1, 0])
        a, b, c, d = (float(x[0]) for x in v.contingency(j))
        if j[0] < 2:
            return "the reference percentile is dry"
        if a + b == 0:
            return "the retrieval never reaches the threshold (H = F = 0)"
        return K.sedi_reason(a, b, c, d)

    return fn


def _sedi_cal(p: float):
    def fn(v):
        h, f, ok = v.calibrated_rates(p)
        return np.where(ok, K.sedi_rates(h, f), np.nan)

    return fn


def _why_sedi_cal(p: float):
    def fn(v):
        h, f, ok = v.calibrated_rates(p)
        if not ok[0]:
            return (f"fewer than {1 - p:.1%} of the retrieval's or the reference's pixels reach " +
                    "0.1 mm/h")
        return K.sedi_rate_reason(float(h[0]), float(f[0]))

    return fn


_SRC_SEDI = "Ferro & Stephenson (2011), WAF 26:699"
for _p, _tag in ((0.99, "p99"), (0.999, "p999")):
    register(MetricSpec(
        f"sedi_{_tag}", "detection", ("point",), True, None, "1",
        f"Symmetric extremal dependence index of rain above the reference's {_p:.1%} " +
        "percentile, retrieval thresholded at the same value; undefined when H or F is 0 or 1.",
        _SRC_SEDI, ("hist",), _sedi(_p), why=_why_sedi(_p)))
    register(MetricSpec(
        f"sedi_{_tag}_calibrated", "detection", ("point",), True, None, "1",
        f"SEDI with the retrieval thresholded at its own {_p:.1%} percentile (equal base " +
        "rates: discrimination without frequency bias; the leaderboard's SEDI).",
        _SRC_SEDI + ", section 5", ("hist", "joint"), _sedi_cal(_p), why=_why_sedi_cal(_p)))

# --- distribution --------------------------------------------------------------------------


def _wasserstein(v):
    h = v.hist
    return v.bins.wasserstein(h[:, 0], h[:, 1], h[:, 3], h[:, 4])


def _qratio(p: float):
    def fn(v):
        return _div(v.quantile(1, p), v.quantile(0, p))

    return fn


def _top1(v):
    h = v.hist
    return _div(v.bins.top_share(h[:, 1], h[:, 4]), v.bins.top_share(h[:, 0], h[:, 3]))


register(MetricSpec(
    "wasserstein", "distribution", ("point",), False, None, "mm h-1",
    "Wasserstein-1 distance between the pixel distributions of retrieved and reference rain " +
    "(from fine log histograms).", "Villani (2009); scipy.stats.wasserstein_distance",
    ("hist",), _wasserstein))
for _p, _tag in ((0.99, "p99"), (0.999, "p999"), (0.9999, "p9999")):
    register(MetricSpec(
        f"qratio_{_tag}", "distribution", ("point",), None, 1.0, "1",
        f"Ratio retrieved / reference of the {_p:.2%} pixel quantile (all valid pixels).",
        "histogram quantiles with a stated error bound (metrics/bins.py)", ("hist",), _qratio(_p)))
register(MetricSpec(
    "top1_share_ratio", "distribution", ("point",), None, 1.0, "1",
    "Share of total rain from the wettest 1 % of pixels, retrieved / reference.",
    "Pendergrass & Knutti (2018), GRL 45:11980 (rain concentration)", ("hist",), _top1))

# --- tails ---------------------------------------------------------------------------------


def _xi(key: str):
    def fn(v):
        return v.tails[key][:, 0]

    return fn


def _rl_ratio(period: float):
    def fn(v):
        t = v.tails
        i = int(np.argmin(np.abs(t["periods"] - period)))
        return _div(t["rl_ret"][:, i], t["rl_ref"][:, i])

    return fn


def _gof(key: str):
    def fn(v):
        return np.array([v.tails["gof"].get(key, np.nan)])

    return fn


def _why_tails(v):
    t = v.tails
    return (f"{t['n_blocks']} region-year blocks with >= {v.cfg.min_block_scenes} scenes " +
            f"({t['n_dropped']} smaller blocks dropped); a GEV fit needs at least 3")


def _gpd_xi(j: int):
    def fn(v):
        return v.pot["params"][j][:, 0]

    return fn


def _pot_ratio(v):
    lv = v.pot["level"]
    return _div(lv[1], lv[0])


def _why_pot(v):
    return (f"{v.pot['n_exceed']} scene maxima exceed the threshold; the GPD fit needs at " +
            "least 3 for the reference and the retrieval, and the retrieval must exceed it at " +
            "least once per 1000 scenes")


_SRC_GEV = ("Hosking (1990), JRSS-B 52:105 (L-moments); Coles (2001) An Introduction to " +
            "Statistical Modeling of Extreme Values, ch. 3; Hosking & Wallis (1997) " +
            "(index-flood standardisation)")
_SRC_GPD = "Coles (2001) ch. 4; Hosking & Wallis (1987), Technometrics 29:339"
_BLOCK = "region-year blocks of >= min_block_scenes scenes, standardised per regime"
register(MetricSpec(
    "gev_xi", "tails", ("point",), None, None, "1",
    f"GEV shape xi of the retrieved block maxima ({_BLOCK}); compare with gev_xi_ref.",
    _SRC_GEV, ("tails",), _xi("params_ret"), groupable=False, why=_why_tails))
register(MetricSpec(
    "gev_xi_ref", "tails", ("point",), None, None, "1",
    f"GEV shape xi of the reference block maxima ({_BLOCK}).", _SRC_GEV, ("tails",),
    _xi("params_ref"), groupable=False, why=_why_tails))
for _T in (10, 50):
    register(MetricSpec(
        f"rl_ratio_{_T}", "tails", ("point",), None, 1.0, "1",
        f"GEV return level exceeded once in {_T} region-year blocks, retrieved / reference " +
        f"({_BLOCK}).", _SRC_GEV, ("tails",), _rl_ratio(float(_T)), groupable=False,
        why=_why_tails))
for _tag, _key in (("", "ks_p_ret"), ("_ref", "ks_p_ref")):
    register(MetricSpec(
        f"gev_ks_p{_tag}", "tails", ("point",), None, None, "1",
        "Goodness of fit of the GEV to the " + ("retrieved" if not _tag else "reference") +
        " block maxima: Kolmogorov-Smirnov p-value (optimistic: fitted parameters).",
        "Stephens (1974), JASA 69:730", ("tails",), _gof(_key), groupable=False,
        why=_why_tails))
register(MetricSpec(
    "gpd_xi", "tails", ("point",), None, None, "1",
    "GPD shape of the retrieved scene maxima above the reference's 90th percentile " +
    "(peaks over threshold, standardised per regime).", _SRC_GPD, ("pot",), _gpd_xi(1),
    groupable=False, why=_why_pot))
register(MetricSpec(
    "gpd_xi_ref", "tails", ("point",), None, None, "1",
    "GPD shape of the reference scene maxima above their 90th percentile.", _SRC_GPD,
    ("pot",), _gpd_xi(0), groupable=False, why=_why_pot))
register(MetricSpec(
    "pot_rl_ratio_1000", "tails", ("point",), None, 1.0, "1",
    "Scene-maximum level exceeded once in 1000 scenes (GPD over threshold), retrieved / " +
    "reference.", _SRC_GPD, ("pot",), _pot_ratio, groupable=False, why=_why_pot))

# --- trends --------------------------------------------------------------------------------

_SRC_TREND = ("log statistic on warming with regime fixed effects, %/K = 100 (exp(slope) - 1) " +
              "(Wooldridge 2010 ch. 10; O'Gorman 2015, Curr. Clim. Change Rep. 1:49)")
_STAT = {"mean": "mean rain rate (all pixels)",
         "p99": "99th percentile of wet-pixel (>= 0.1 mm/h) rain rate",
         "p999": "99.9th percentile of wet-pixel (>= 0.1 mm/h) rain rate"}


def _rate(stat: str, which: int):
    def fn(v):
        return v.scaling["rates"][stat][which]

    return fn


def _rate_err(stat: str):
    def fn(v):
        r = v.scaling["rates"][stat]
        return r[1] - r[0]

    return fn


def _consistent(stat: str):
    def fn(v):
        lo, hi = _error_ci(v, stat)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return np.array([np.nan])
        tol = v.cfg.trend_tolerance
        if -tol <= lo and hi <= tol:  # equivalence: the whole CI within the tolerance
            return np.array([1.0])
        if hi < -tol or lo > tol:  # the whole CI outside it
            return np.array([0.0])
        return np.array([np.nan])  # inconclusive

    return fn


def _error_ci(v, stat: str) -> tuple[float, float]:
    r = v.scaling["rates"][stat]
    err = r[1] - r[0]
    if not np.isfinite(err[0]):
        return float("nan"), float("nan")
    if err.size == 1:
        return float(err[0]), float(err[0])
    return percentile_ci(err, v.cfg.ci_level)


def _why_consistent(stat: str):
    def fn(v):
        lo, hi = _error_ci(v, stat)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return _why_trend(v)
        return (f"inconclusive: the 95 % CI [{lo:.2f}, {hi:.2f}] %/K of the scaling error " +
                f"straddles the tolerance +-{v.cfg.trend_tolerance:g} %/K")

    return fn


def _in_range(stat: str):
    def fn(v):
        lo, hi = v.cfg.cmip_mean_range if stat == "mean" else v.cfg.cmip_extreme_range
        x = v.scaling["rates"][stat][1]
        return np.where(np.isfinite(x), ((x >= lo) & (x <= hi)).astype(float), np.nan)

    return fn


def _why_trend(v):
    sc = v.scaling
    return (f"{sc['n_bins']} populated warming bins of {v.cfg.warming_bin_k:g} K; a scaling " +
            f"rate needs at least {v.cfg.trend_min_bins}")


for _s in ("mean", "p99", "p999"):
    _w = _STAT[_s]
    register(MetricSpec(
        f"scaling_{_s}", "trends", ("point",), None, None, "%/K",
        f"Scaling of the retrieved {_w} with warming.", _SRC_TREND,
        ("warming",), _rate(_s, 1), groupable=False, why=_why_trend))
    register(MetricSpec(
        f"scaling_{_s}_ref", "trends", ("point",), None, None, "%/K",
        f"Scaling of the reference {_w} with warming (the world's truth).", _SRC_TREND,
        ("warming",), _rate(_s, 0), groupable=False, why=_why_trend))
    register(MetricSpec(
        f"scaling_error_{_s}", "trends", ("point",), None, 0.0, "%/K",
        f"Retrieved minus reference scaling of the {_w}.", _SRC_TREND,
        ("warming",), _rate_err(_s), groupable=False, why=_why_trend))
    register(MetricSpec(
        f"scaling_consistent_{_s}", "trends", ("point",), True, None, "1",
        f"Whether the retrieved scaling of the {_w} is consistent with the truth (equivalence " +
        "test): true if the 95 % CI of the scaling error lies within +-0.5 %/K, false if it " +
        "lies outside, undefined (inconclusive) if it straddles.",
        "Wellek (2010) Testing Statistical Hypotheses of Equivalence; tolerance: half the " +
        "CMIP6 range of hydrological sensitivity, Pendergrass (2020) GRL",
        ("warming",), _consistent(_s), kind="bool", groupable=False,
        why=_why_consistent(_s)))
    _rng = "2.1-3.1 %/K, CMIP6 (Pendergrass 2020)" if _s == "mean" else \
        "5-14 %/K, CC to 2 x CC (Lenderink & van Meijgaard 2008)"
    register(MetricSpec(
        f"scaling_in_cmip_range_{_s}", "trends", ("point",), None, None, "1",
        f"Context, not a score: whether the retrieved scaling of the {_w} lies in the " +
        f"climate-model range for that statistic ({_rng}).",
        "Pendergrass (2020) GRL; Lenderink & van Meijgaard (2008); IPCC AR6 WG1 ch. 11",
        ("warming",), _in_range(_s), kind="bool", groupable=False, why=_why_trend))


def _annual(stat: str, field_: str, key: str):
    def fn(v):
        an = v.annual
        if an["n_years"] < MIN_YEARS:
            return np.array([np.nan])
        return np.array([an[stat][key][field_]])

    return fn


def _why_annual(v):
    return f"the role spans {v.annual['n_years']} years; the annual series needs {MIN_YEARS}"


_SRC_TS = "Sen (1968) JASA 63:1379 (Theil-Sen); Mann (1945); Kendall (1975)"
for _s in ("mean", "p99"):
    _w = _STAT[_s]
    for _tag, _key in (("", "trend_ret"), ("_ref", "trend_ref")):
        register(MetricSpec(
            f"trend_ts_{_s}{_tag}", "trends", ("point",), None, None, "%/yr",
            f"Theil-Sen slope of the annual {_w} of the " +
            ("retrieval" if not _tag else "reference") + " (log scale).", _SRC_TS,
            ("warming",), _annual(_s, "theil_sen_pct_per_year", _key), groupable=False,
            why=_why_annual))
    register(MetricSpec(
        f"trend_mk_p_{_s}", "trends", ("point",), None, None, "1",
        f"Mann-Kendall p-value of a monotone trend in the retrieval's annual {_w}.", _SRC_TS,
        ("warming",), _annual(_s, "mk_p", "trend_ret"), groupable=False, why=_why_annual))

# --- spatial -------------------------------------------------------------------------------


def _effres(v):
    ny, nx = v.red.shape
    _, k = radial(ny, nx)
    return K.effective_resolution(v.a("spec"), k, v.cfg.pixel_km)


def _power_ratio(v):
    ny, nx = v.red.shape
    _, k = radial(ny, nx)
    return K.power_ratio(v.a("spec"), k, v.cfg.pixel_km, FINE_KM)


def _fss(v):
    return 1.0 - _div(v.col("fss", "sum_diff2"), v.col("fss", "sum_ref2"))


#: Wavelength (km) below which ``power_ratio_fine`` compares spectral power.
FINE_KM = 32.0
register(MetricSpec(
    "eff_resolution", "spatial", ("point",), False, None, "km",
    "Effective resolution: half wavelength of the smallest scale down to which the coherence " +
    "(real part of the cross-spectrum) stays >= 1/sqrt(2) and the retrieved power >= half " +
    "the reference power.", "Pfreundschuh et al. (2024), AMT 17:515", ("spec",), _effres))
register(MetricSpec(
    "power_ratio_fine", "spatial", ("point",), None, 1.0, "1",
    "Spectral power of the retrieval / the reference at wavelengths <= 32 km (< 1: smoothed, " +
    "> 1: noisy).", "Harris et al. (2001), J. Hydrometeor. 2:406 (spectra of rain fields)",
    ("spec",), _power_ratio))
register(MetricSpec(
    "fss_10", "spatial", ("point",), True, None, "1",
    "Fractions skill score of rain >= 10 mm/h in 9 x 9 pixel (36 km) neighbourhoods.",
    "Roberts & Lean (2008), MWR 136:78", ("fss",), _fss))
