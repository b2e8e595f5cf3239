"""Reading reduced statistics: the view metric reducers use, and the finalised result.

:class:`StatView` is a read-only window on one set of reduced blocks of a
:class:`tailshift.metrics.scorecard.Reduced` (the headline, a group label or an intensity bin). Every accessor
returns arrays with the replicate axis first. The headline view also derives the tail fits
(region-year block maxima, peaks over threshold), the trend-cell scaling rates and the annual
series; :func:`finalize_reduced` turns a reduced card into the role block of a result file.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from tailshift.metrics import stats as S
from tailshift.metrics.bootstrap import percentile_ci, poisson_weights, unit_keys
from tailshift.metrics.reduced import (
    KEEP_REPLICATES,
    PIT_EDGES,
    Reduced,
    forecast_info,
    intensity_labels,
    summarise,
)
from tailshift.metrics.registry import REGISTRY

#: Levels of the QQ curve.
QQ_LEVELS = (0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999)
#: Probability per scene of the peaks-over-threshold return level (1 in 1000 scenes).
POT_PROB = 1e-3


def _list(v) -> list:
    out = []
    for x in np.asarray(v, dtype=np.float64).ravel():
        out.append(float(x) if np.isfinite(x) else None)
    return out


def _weighted_quantile(x: np.ndarray, w: np.ndarray, p: float) -> np.ndarray:
    """Quantile ``p`` (inverted CDF) of ``x (n,)`` under each replicate's weights ``w (n, R)``."""
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order], axis=0)
    idx = np.minimum((cw < p * cw[-1]).sum(0), x.size - 1)
    return x[order][idx]


class StatView:
    """Read-only view of reduced statistics for one group; metric functions read from it."""

    def __init__(self, red: Reduced, arrays, headline: bool = False):
        self.red = red
        self.cfg = red.cfg
        self.arrays = arrays
        self.headline = headline
        self.bins = red.cfg.bins

    def has(self, block: str) -> bool:
        if block in ("tails", "pot"):
            return self.headline and len(self.red.scenes.get("key", ())) > 0
        if block == "warming":
            return self.headline and len(self.red.cells) > 0
        return block in self.arrays

    def compute(self, spec) -> np.ndarray | None:
        if not all(self.has(b) for b in spec.statistics):
            return None
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return np.asarray(spec.fn(self), dtype=np.float64)

    # ---- named blocks
    def a(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def col(self, block: str, name: str) -> np.ndarray:
        """Column ``name`` of ``block``, ``(R,)`` (or ``(R, ...)`` for blocks with more axes)."""
        return self.arrays[block][..., S.col(block, name)]

    @cached_property
    def hist(self) -> np.ndarray:
        return self.arrays["hist"]

    @cached_property
    def cum(self) -> np.ndarray:
        """Cumulative counts of the reference and retrieved histograms, ``(R, 2, nb)``."""
        return np.cumsum(self.hist[:, :2], -1)

    def quantile(self, which: int, p: float, first: bool = False) -> np.ndarray:
        """Quantile ``p`` of the reference (``which=0``) or retrieved (1) field, all pixels."""
        sl = slice(0, 1) if first else slice(None)
        return self.bins.quantile(self.hist[sl, which], p, self.hist[sl, 3 + which],
                                  cum=self.cum[sl, which])

    @cached_property
    def _tails(self) -> np.ndarray:
        return self.bins.tail_counts(self.hist[:, :3])

    def contingency(self, j) -> tuple[np.ndarray, ...]:
        """Counts ``a, b, c, d`` of the event ``x >= lower[j]`` (j scalar or (R,))."""
        t = self._tails
        j = np.broadcast_to(np.asarray(j), t.shape[:1])
        tj = np.take_along_axis(t, j[:, None, None].repeat(3, 1), 2)[..., 0]
        n = self.hist[:, 0].sum(-1)
        a = tj[:, 2]
        b = tj[:, 1] - a
        c = tj[:, 0] - a
        return a, b, c, n - a - b - c

    def calibrated_rates(self, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hit and false-alarm rates when the reference AND the retrieval are thresholded at
        their own ``p`` quantile (equal base rates ``1 - p``; Ferro & Stephenson 2011 sec. 5).

        Returns ``(H, F, ok)``; ``ok`` is False where a field has fewer than ``(1 - p) n``
        pixels >= 0.1 mm/h (the joint histogram's range). Each field's events are its top
        ``k = (1 - p) n`` pixels. The joint count comes from the coarse joint histogram: cells
        above both thresholds count whole; of the coarse bin each threshold cuts, the share
        above it is read from that field's own counts by **rank**, ``(k - S(i+1)) / (S(i) -
        S(i+1))`` -- so a tie (a quantised retrieval) is split as ranks would split it, not
        by its position inside the bin -- and the corner cell cut by both is taken comonotone
        (exact for a perfect retrieval; an upper bound otherwise).
        """
        jb = S.JOINT_BINS
        m = jb.nb - 2
        joint = self.arrays["joint"].reshape(-1, m, m)
        r = np.arange(joint.shape[0])
        surv = np.zeros((joint.shape[0], m + 1, m + 1))
        surv[:, :m, :m] = np.cumsum(np.cumsum(joint[:, ::-1, ::-1], 1), 2)[:, ::-1, ::-1]
        n = self.hist[:, 0].sum(-1)
        k = (1.0 - p) * n
        so, sf = self._coarse_survival(0), self._coarse_survival(1)  # (R, m + 1)
        ok = (so[:, 0] >= k) & (sf[:, 0] >= k) & (k > 0)
        i0 = np.clip((so[:, :m] >= k[:, None]).sum(1) - 1, 0, m - 1)
        j0 = np.clip((sf[:, :m] >= k[:, None]).sum(1) - 1, 0, m - 1)
        i1, j1 = i0 + 1, j0 + 1
        with np.errstate(invalid="ignore", divide="ignore"):
            fo = np.clip((k - so[r, i1]) / (so[r, i0] - so[r, i1]), 0.0, 1.0)
            ff = np.clip((k - sf[r, j1]) / (sf[r, j0] - sf[r, j1]), 0.0, 1.0)
        s00, s01 = surv[r, i0, j0], surv[r, i0, j1]
        s10, s11 = surv[r, i1, j0], surv[r, i1, j1]
        a = (s11 + fo * (s01 - s11) + ff * (s10 - s11)
             + np.minimum(fo, ff) * (s00 - s01 - s10 + s11))
        a = np.clip(a, 0.0, k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return a / k, (k - a) / (n - k), ok

    def _coarse_survival(self, which: int) -> np.ndarray:
        """``#{x >= e_i}`` at the joint histogram's edges, from the fine histogram (its edges
        are fine edges, so the counts are exact), with a trailing 0: ``(R, m + 1)``."""
        jb = S.JOINT_BINS
        m = jb.nb - 2
        edges = jb.lo * 10.0 ** (np.arange(m) / jb.bins_per_decade)
        idx = np.array([self.bins.edge_index(e) for e in edges])
        out = np.zeros((self.hist.shape[0], m + 1))
        out[:, :m] = self.bins.tail_counts(self.hist[:, which])[:, idx]
        return out

    # ---- tails (headline)
    @cached_property
    def tails(self) -> dict:
        """GEV fits of standardised region-year block maxima, block bootstrap."""
        # deferred: scipy
        from tailshift.metrics.extremes import (
            block_maxima,
            gev_ks,
            gev_lmoments,
            gev_mle,
            gev_ppcc,
            return_level,
            standardise_by_group,
        )

        cfg, sc = self.cfg, self.red.scenes
        bm = block_maxima(sc["max"], sc["block"], sc["regime"], cfg.min_block_scenes)
        std, _, keep = standardise_by_group(bm.maxima, bm.group)
        labels = np.asarray(bm.labels)[keep]
        mx = std[keep]
        periods = np.union1d(np.asarray(cfg.return_periods, dtype=np.float64), [10.0, 50.0])
        out = {"periods": periods, "n_blocks": int(labels.size), "n_dropped": bm.n_dropped}
        r = cfg.n_boot_tail + 1
        if labels.size < 3:
            nan = np.full((r, 3), np.nan)
            out.update(params_ref=nan, params_ret=nan, rl_ref=np.full((r, periods.size), np.nan),
                       rl_ret=np.full((r, periods.size), np.nan), gof={})
            return out
        w = poisson_weights(unit_keys(labels, cfg.seed + 7919), cfg.n_boot_tail).T
        fit = gev_lmoments if cfg.gev_method == "lmoments" else gev_mle
        pref, pret = fit(mx[:, 0], w), fit(mx[:, 1], w)
        gof = {}
        for tag, col, par in (("ref", 0, pref), ("ret", 1, pret)):
            gof[f"ks_p_{tag}"] = float(gev_ks(mx[:, col], par[0])[1])
            gof[f"ppcc_{tag}"] = float(gev_ppcc(mx[:, col], par[0]))
        out.update(params_ref=pref, params_ret=pret, rl_ref=return_level(pref, periods),
                   rl_ret=return_level(pret, periods), gof=gof)
        return out

    @cached_property
    def pot(self) -> dict:
        """GPD fits of standardised scene maxima over the reference's ``pot_quantile``."""
        # deferred: scipy
        from tailshift.metrics.extremes import (
            gpd_lmoments,
            gpd_quantile,
            standardise_by_group,
        )

        cfg, sc = self.cfg, self.red.scenes
        std, _, keep = standardise_by_group(np.asarray(sc["max"], dtype=np.float64),
                                            np.asarray(sc["regime"]))
        x = std[keep]
        w = poisson_weights(np.asarray(sc["key"])[keep], cfg.n_boot)
        r = cfg.n_boot + 1
        if x.shape[0] < 10:
            return {"u": np.nan, "params": np.full((2, r, 2), np.nan), "level": np.full(
                (2, r), np.nan), "n_exceed": 0}
        u = float(np.quantile(x[:, 0], cfg.pot_quantile))
        params = np.full((2, r, 2), np.nan)
        level = np.full((2, r), np.nan)
        for j in (0, 1):
            exc = x[:, j] > u
            if exc.sum() >= 3:
                ww = w[exc].T  # (R, n_exc)
                params[j] = gpd_lmoments(x[exc, j] - u, ww)
                zeta = ww.sum(1) / w.sum(0)
                level[j] = gpd_quantile(params[j], u, zeta, POT_PROB)
            # replicates without a GPD (fewer than 3 exceedances, or exceeding u less often
            # than once per 1000 scenes): the weighted empirical 1 - 1/1000 quantile, capped
            # at u -- a field without a fittable tail above u is not credited with one, and one
            # planted extreme pixel cannot set the level
            fallback = np.minimum(_weighted_quantile(x[:, j], w, 1.0 - POT_PROB), u)
            level[j] = np.where(np.isfinite(level[j]), level[j], fallback)
        return {"u": u, "params": params, "level": level,
                "n_exceed": int((x[:, 0] > u).sum())}

    # ---- trends (headline)
    @cached_property
    def scaling(self) -> dict:
        """Regime fixed-effects scaling rates of the mean and the wet-pixel percentiles."""
        # deferred: scipy
        from tailshift.metrics.trends import fixed_effects_rate, populated_bins

        cells = self.red.cells
        regimes = sorted({k[0] for k in cells})
        wbins = sorted({k[1] for k in cells})
        first = next(iter(cells.values()))
        r = first["wscene"].shape[0]
        g, b = len(regimes), len(wbins)
        nbt = S.TREND_BINS.nb
        wsc = np.zeros((r, g, b, 2))
        mean = np.zeros((r, g, b, 3))
        wet = np.zeros((r, g, b, 2, nbt))
        for (reg, wb), arr in cells.items():
            gi, bi = regimes.index(reg), wbins.index(wb)
            wsc[:, gi, bi] = arr["wscene"]
            mean[:, gi, bi] = arr["mean"]
            wet[:, gi, bi] = arr["wet"]
        count = wsc[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            x = wsc[..., 1] / count
            stats = {"mean": (mean[..., 1] / mean[..., 0], mean[..., 2] / mean[..., 0])}
            for name, p in (("p99", 0.99), ("p999", 0.999)):
                stats[name] = (S.TREND_BINS.quantile(wet[..., 0, :], p),
                               S.TREND_BINS.quantile(wet[..., 1, :], p))
        mb = self.cfg.trend_min_bins
        rates = {k: (fixed_effects_rate(x, sr, count, mb), fixed_effects_rate(x, sp, count, mb))
                 for k, (sr, sp) in stats.items()}
        pooled = self._pooled_curve(wsc, mean, wet)
        return {"rates": rates, "n_bins": int(populated_bins(x[0], stats["mean"][0][0],
                                                             count[0])),
                "n_regimes": g, "curve": pooled}

    @staticmethod
    def _pooled_curve(wsc, mean, wet) -> dict:
        """Replicate-0 statistics per warming bin over all regimes (for the plot only)."""
        ws, mn, wt = wsc[0].sum(0), mean[0].sum(0), wet[0].sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = {"warming": ws[:, 1] / ws[:, 0], "reference": {}, "retrieved": {}}
            for j, key in ((0, "reference"), (1, "retrieved")):
                out[key] = {"mean": mn[:, 1 + j] / mn[:, 0],
                            "p99": S.TREND_BINS.quantile(wt[:, j], 0.99),
                            "p999": S.TREND_BINS.quantile(wt[:, j], 0.999)}
        return out

    @cached_property
    def annual(self) -> dict:
        """Theil-Sen slopes (%/yr) and Mann-Kendall tests of the annual series (replicate 0)."""
        # deferred: scipy
        from tailshift.metrics.trends import annual_trend

        years = sorted(self.red.years)
        out = {"years": years, "n_years": len(years)}
        if not years:
            return out
        mean = np.array([self.red.years[y]["mean"][0] for y in years])
        wet = np.array([self.red.years[y]["wet"][0] for y in years])
        with np.errstate(invalid="ignore", divide="ignore"):
            series = {"mean": (mean[:, 1] / mean[:, 0], mean[:, 2] / mean[:, 0]),
                      "p99": (S.TREND_BINS.quantile(wet[:, 0], 0.99),
                              S.TREND_BINS.quantile(wet[:, 1], 0.99))}
        for k, (sr, sp) in series.items():
            out[k] = {"reference": sr, "retrieved": sp,
                      "trend_ref": annual_trend(years, sr), "trend_ret": annual_trend(years, sp)}
        return out

    # ---- curves (replicate 0)
    def curves(self) -> dict:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return self._curves()

    def _curves(self) -> dict:
        cur: dict = {}
        red = self.red
        if "pit" in self.arrays:
            pit = self.arrays["pit"][0]
            at = red.pit_points()
            cdf = pit[:-1] / pit[-1]
            ie = [int(np.argmin(np.abs(at - e))) for e in PIT_EDGES]
            il = [int(np.argmin(np.abs(at - e))) for e in red.levels]
            edge_cdf = cdf[ie]
            edge_cdf[0] = 0.0  # a PIT of exactly 0 (below q_1) belongs to the first bin
            cur["pit"] = {"edges": PIT_EDGES.tolist(),
                          "density": _list(np.diff(edge_cdf) / np.diff(PIT_EDGES))}
            cur["reliability"] = {"levels": red.levels.tolist(), "observed": _list(cdf[il])}
        if "hist" in self.arrays:
            ps = list(QQ_LEVELS)
            cur["qq"] = {
                "p": ps,
                "reference": _list([self.quantile(0, p, first=True)[0] for p in ps]),
                "retrieved": _list([self.quantile(1, p, first=True)[0] for p in ps]),
            }
        if self.has("tails"):
            cur["return_levels"] = self._return_level_curve()
        if self.has("warming"):
            c = self.scaling["curve"]
            cur["scaling"] = {
                "warming": _list(c["warming"]),
                "reference": {k: _list(v) for k, v in c["reference"].items()},
                "retrieved": {k: _list(v) for k, v in c["retrieved"].items()},
                "statistic": "mean: all pixels; p99, p999: wet pixels (>= 0.1 mm/h)",
            }
            an = self.annual
            if an["n_years"]:
                cur["annual"] = {"years": an["years"]} | {
                    k: {"reference": _list(an[k]["reference"]),
                        "retrieved": _list(an[k]["retrieved"])} for k in ("mean", "p99")}
        if "intensity" in self.arrays:
            ii = self.arrays["intensity"][0]
            c = {n: ii[:, S.col("intensity", n)] for n in S.INTENSITY}
            by = {
                "bins": intensity_labels(self.cfg.intensity_edges),
                "bias": _list(100.0 * (c["sum_p"] - c["sum_r"]) / c["sum_r"]),
                "mae": _list(c["sum_abs_err"] / c["n"]),
                "rmse": _list(np.sqrt(c["sum_sq_err"] / c["n"])),
            }
            if "prob" in self.arrays:
                by["crps"] = _list(c["sum_crps"] / c["n"])
                by["quantile_loss"] = _list(c["sum_ql"] / c["n"])
            cur["by_intensity"] = by
        return cur

    def _return_level_curve(self) -> dict:
        t = self.tails
        per = np.asarray(self.cfg.return_periods, dtype=np.float64)
        idx = [int(np.argmin(np.abs(t["periods"] - p))) for p in per]
        out = {"periods": per.tolist(), "block": "region-year", "n_blocks": t["n_blocks"],
               "min_block_scenes": self.cfg.min_block_scenes, "n_dropped": t["n_dropped"],
               "standardised": "per regime, by the median reference block maximum",
               "gof": {k: (v if np.isfinite(v) else None) for k, v in t["gof"].items()}}
        for key, name in (("rl_ref", "reference"), ("rl_ret", "retrieved")):
            rl = t[key][:, idx]
            cis = [percentile_ci(rl[:, i], self.cfg.ci_level) for i in range(len(idx))]
            out[name] = {"level": _list(rl[0]), "ci_low": _list([c[0] for c in cis]),
                         "ci_high": _list([c[1] for c in cis])}
        return out


# --- the finalised role block ----------------------------------------------------------------


def _intensity_arrays(ii: np.ndarray, has_prob: bool) -> dict:
    arrs = {"point": ii[:, :len(S.POINT)]}
    if has_prob:
        nan = np.full(ii.shape[0], np.nan)  # columns the intensity block does not carry
        arrs["prob"] = np.stack([ii[:, S.col("intensity", c)] if c in S.INTENSITY else nan
                                 for c in S.PROB], 1)
    return arrs


def _round_sig(v: np.ndarray, sig: int = 6) -> list:
    out = []
    for x in np.asarray(v, dtype=np.float64):
        out.append(float(f"{x:.{sig}g}") if np.isfinite(x) else None)
    return out


def _group_results(red: Reduced, specs) -> dict:
    cfg = red.cfg
    gspecs = [sp for sp in specs if sp.groupable]
    groups: dict[str, dict[str, dict]] = {}
    for d in cfg.group_dims:
        groups[d] = {}
        for lab in sorted(red.groups.get(d, {})):
            view = StatView(red, red.groups[d][lab])
            res = {}
            for spec in gspecs:
                vals = view.compute(spec)
                if vals is not None:
                    res[spec.name] = summarise(vals, spec, cfg.ci_level)
            groups[d][lab] = res
    if "intensity" in red.head:
        ib = {}
        ii = red.head["intensity"]
        for i, lab in enumerate(intensity_labels(cfg.intensity_edges)):
            view = StatView(red, _intensity_arrays(ii[:, i], "prob" in red.head))
            res = {}
            for spec in gspecs:
                vals = view.compute(spec)
                if vals is not None:
                    res[spec.name] = summarise(vals, spec, cfg.ci_level)
            ib[lab] = res
        groups["intensity_bin"] = ib
    return groups


def _worst(specs, groups) -> dict:
    worst = {}
    for spec in specs:
        if not spec.ranked or spec.kind == "bool":
            continue
        best = None
        for d, gd in groups.items():
            for lab, res in gd.items():
                v = res.get(spec.name, {}).get("value")
                if v is None:
                    continue
                bad = spec.badness(v)
                if best is None or bad > best[0]:
                    best = (bad, d, lab, v)
        if best is not None:
            worst[spec.name] = {"dim": best[1], "label": best[2], "value": best[3]}
    return worst


def finalize_reduced(red: Reduced) -> dict:
    """The scores, groups, curves, reasons for undefined values and kept replicates."""
    cfg = red.cfg
    specs = [REGISTRY[m] for m in cfg.selected
             if red.kinds and set(REGISTRY[m].needs) & set(red.kinds)]
    head = StatView(red, red.head, headline=True)
    scores, undefined = {}, {}
    reps: dict[str, dict] = {"scene": {}, "block": {}}
    for spec in specs:
        vals = head.compute(spec)
        if vals is None:
            continue
        scores[spec.name] = summarise(vals, spec, cfg.ci_level)
        if scores[spec.name]["value"] is None and spec.why is not None:
            undefined[spec.name] = spec.why(head)
        if spec.kind == "float" and vals.size > 1 and scores[spec.name]["value"] is not None:
            unit = "block" if "tails" in spec.statistics else "scene"
            reps[unit][spec.name] = _round_sig(vals[1:KEEP_REPLICATES + 1])
    groups = _group_results(red, specs)
    replicates = {}
    for unit, seed, n in (("scene", cfg.seed, cfg.n_boot),
                          ("block", cfg.seed + 7919, cfg.n_boot_tail)):
        if reps[unit]:
            replicates[unit] = {"seed": seed, "n": min(n, KEEP_REPLICATES),
                                "metrics": reps[unit]}
    return {
        "n_scenes": red.n_scenes,
        "n_pixels": red.n_pixels,
        "forecast": forecast_info(red),
        "scores": scores,
        "undefined": undefined,
        "groups": groups,
        "worst_group": _worst(specs, groups),
        "curves": head.curves(),
        "replicates": replicates,
    }

