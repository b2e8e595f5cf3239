"""Registry entries of every TailShift metric (issue 3) and their reducers.

Each reducer takes a :class:`metrics.card.StatView` (reduced statistics, replicate axis first)
and returns one value per replicate. Notation: ``r`` reference, ``p`` retrieved point estimate,
sums over valid pixels (NaN reference pixels excluded).
"""

from __future__ import annotations

import numpy as np

from metrics import kernels as K
from metrics.registry import MetricSpec, register

PROB = ("quantiles", "samples")

_SRC_WILKS = "Wilks (2011), Statistical Methods in the Atmospheric Sciences, 3rd ed., ch. 8"
_SRC_SATRAIN = "SatRain (IPWG) benchmark, Sci. Data 2026, doi:10.1038/s41597-026-06565-0"


def _div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a, float) / np.asarray(b, float)


# --- point ---------------------------------------------------------------------------------


def _bias(v):
    pt = v.a("point")
    return 100.0 * _div(pt[:, 2] - pt[:, 1], pt[:, 1])


def _mae(v):
    pt = v.a("point")
    return _div(pt[:, 3], pt[:, 0])


def _rmse(v):
    pt = v.a("point")
    return np.sqrt(_div(pt[:, 4], pt[:, 0]))


def _corr(v):
    pt = v.a("point")
    n, sr, sp, srr, spp, srp = pt[:, 0], pt[:, 1], pt[:, 2], pt[:, 5], pt[:, 6], pt[:, 7]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = srp - sr * sp / n
        vr = srr - sr * sr / n
        vp = spp - sp * sp / n
    return _div(cov, np.sqrt(np.clip(vr, 0, None) * np.clip(vp, 0, None)))


def _smape(v):
    pt = v.a("point")
    return _div(pt[:, 8], pt[:, 9])


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
    pr = v.a("prob")
    return _div(pr[:, 1], pr[:, 0])


def _crps(v):
    pr = v.a("prob")
    return _div(pr[:, 2], pr[:, 0])


def _tw(j):
    def fn(v):
        tw = v.a("tw")
        return _div(tw[:, j], tw[:, 0])

    return fn


def _coverage(v):
    pit = v.a("pit")
    at = v.card.pit_points()
    i5 = int(np.argmin(np.abs(at - 0.05)))
    i95 = int(np.argmin(np.abs(at - 0.95)))
    return _div(pit[:, i95] - pit[:, i5], pit[:, -1])


register(MetricSpec(
    "quantile_loss", "probabilistic", PROB, False, None, "mm h-1",
    "Mean pinball loss over the quantile levels (for samples: their empirical quantiles).",
    "Koenker & Bassett (1978); SCIENCE.md section 7", ("prob",), _ql))
register(MetricSpec(
    "crps", "probabilistic", PROB, False, None, "mm h-1",
    "CRPS: 2 x mean pinball over the levels (quantiles) or the fair ensemble CRPS (samples).",
    "Gneiting & Raftery (2007); Berrisch & Ziel (2023); Ferro et al. (2008)", ("prob",), _crps))
register(MetricSpec(
    "twcrps_10", "probabilistic", PROB, False, None, "mm h-1",
    "Threshold-weighted CRPS with v(x) = max(x, 10 mm/h): skill for heavy rain only.",
    "Gneiting & Ranjan (2011); Allen et al. (2023)", ("tw",), _tw(1)))
register(MetricSpec(
    "twcrps_50", "probabilistic", PROB, False, None, "mm h-1",
    "Threshold-weighted CRPS with v(x) = max(x, 50 mm/h): skill for extreme rain only.",
    "Gneiting & Ranjan (2011); Allen et al. (2023)", ("tw",), _tw(2)))
register(MetricSpec(
    "coverage_90", "probabilistic", PROB, None, 0.9, "1",
    "Fraction of reference values inside the 5-95 % predictive interval (randomised PIT for " +
    "ties, so dry/dry pixels count 0.9).", "Gneiting et al. (2007); Czado et al. (2009)",
    ("pit",), _coverage))

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


for _p, _tag in ((0.99, "p99"), (0.999, "p999")):
    register(MetricSpec(
        f"sedi_{_tag}", "detection", ("point",), True, None, "1",
        f"Symmetric extremal dependence index for rain above the reference's {_p:.1%} " +
        "percentile (threshold: lower edge of the histogram bin holding it).",
        "Ferro & Stephenson (2011), WAF 26:699", ("hist",), _sedi(_p)))

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
        "issue 3; histogram quantiles, metrics.bins", ("hist",), _qratio(_p)))
register(MetricSpec(
    "top1_share_ratio", "distribution", ("point",), None, 1.0, "1",
    "Share of total rain from the wettest 1 % of pixels, retrieved / reference.",
    "issue 3 (cf. Pendergrass & Knutti 2018 on rain concentration)", ("hist",), _top1))

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


_SRC_GEV = "Hosking (1990), JRSS-B 52:105 (L-moments); Coles (2001) ch. 3"
register(MetricSpec(
    "gev_xi", "tails", ("point",), None, None, "1",
    "GEV shape xi of the retrieved block maxima (xi > 0 heavy tail); compare with gev_xi_ref.",
    _SRC_GEV, ("blocks",), _xi("params_ret"), groupable=False))
register(MetricSpec(
    "gev_xi_ref", "tails", ("point",), None, None, "1",
    "GEV shape xi of the reference block maxima.", _SRC_GEV, ("blocks",), _xi("params_ref"),
    groupable=False))
for _T in (10, 50):
    register(MetricSpec(
        f"rl_ratio_{_T}", "tails", ("point",), None, 1.0, "1",
        f"GEV {_T}-block return level, retrieved / reference (block = region x year).",
        _SRC_GEV, ("blocks",), _rl_ratio(float(_T)), groupable=False))

# --- trends --------------------------------------------------------------------------------

_SRC_TREND = "SCIENCE.md sections 4 and 7: regress log statistic on warming, 100(exp(slope)-1)"


def _rate(stat: str, which: int):
    def fn(v):
        return v.scaling["rates"][stat][which]

    return fn


def _rate_err(stat: str):
    def fn(v):
        r = v.scaling["rates"][stat]
        return r[1] - r[0]

    return fn


def _in_range(stat: str):
    def fn(v):
        lo, hi = v.cfg.cmip_mean_range if stat == "mean" else v.cfg.cmip_extreme_range
        x = v.scaling["rates"][stat][1]
        return np.where(np.isfinite(x), ((x >= lo) & (x <= hi)).astype(float), np.nan)

    return fn


for _s, _what in (("mean", "mean"), ("p99", "99th percentile"), ("p999", "99.9th percentile")):
    register(MetricSpec(
        f"scaling_{_s}", "trends", ("point",), None, None, "%/K",
        f"Scaling of the retrieved {_what} rain rate with warming.", _SRC_TREND,
        ("warming",), _rate(_s, 1), groupable=False))
    register(MetricSpec(
        f"scaling_{_s}_ref", "trends", ("point",), None, None, "%/K",
        f"Scaling of the reference {_what} rain rate with warming.", _SRC_TREND,
        ("warming",), _rate(_s, 0), groupable=False))
    register(MetricSpec(
        f"scaling_error_{_s}", "trends", ("point",), None, 0.0, "%/K",
        f"Retrieved minus reference scaling of the {_what} rain rate.", _SRC_TREND,
        ("warming",), _rate_err(_s), groupable=False))
    register(MetricSpec(
        f"scaling_in_cmip_range_{_s}", "trends", ("point",), True, None, "1",
        f"Whether the retrieved {_what} scaling lies in the climate-model range " +
        "(mean 2.1-3.1 %/K, Pendergrass 2020; extremes 5-14 %/K, CC to 2xCC).",
        "Pendergrass (2020) GRL; Lenderink & van Meijgaard (2008); IPCC AR6",
        ("warming",), _in_range(_s), kind="bool", groupable=False))

# --- spatial -------------------------------------------------------------------------------


def _effres(v):
    ny, nx = v.card.shape
    from metrics.card import _radial

    _, k = _radial(ny, nx)
    return K.effective_resolution(v.a("spec"), k, v.cfg.pixel_km)


def _fss(v):
    f = v.a("fss")
    return 1.0 - _div(f[:, 0], f[:, 1])


register(MetricSpec(
    "eff_resolution", "spatial", ("point",), False, None, "km",
    "Effective resolution: half wavelength of the smallest scale down to which the spectral " +
    "coherence of retrieval and reference stays >= 1/sqrt(2).",
    "Pfreundschuh et al. (2024), AMT 17:515", ("spec",), _effres))
register(MetricSpec(
    "fss_10", "spatial", ("point",), True, None, "1",
    "Fractions skill score of rain >= 10 mm/h in 9 x 9 pixel (36 km) neighbourhoods.",
    "Roberts & Lean (2008), MWR 136:78", ("fss",), _fss))
