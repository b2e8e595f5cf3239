"""Plots of one submission's result, rendered at build time as deterministic SVG.

Each ``plot_*`` function takes the normalised result (:mod:`tailshift.leaderboard.reader`) and
returns the SVG as ``bytes``, or ``None`` when the result holds nothing to draw (any curve may be
absent).
Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state) and saved with a fixed
``svg.hashsalt`` and no ``Date`` metadata, so two builds give identical bytes. Text is kept as
SVG text (``svg.fonttype = "none"``) to keep files small.

Reference lines (docs/world.md, Warming path):

* Clausius–Clapeyron (CC) rate, :data:`CC_RATE` = 7 %/K: ~7 %/K for daily extremes
  (7.3 %/K at 273 K, 6.0 %/K at 300 K).
* Climate-model band for the mean: :data:`MEAN_BAND` = 2.1–3.1 %/K, CMIP6 hydrological
  sensitivity (Pendergrass 2020, GRL).
* Climate-model band for extremes: :data:`EXTREME_BAND` = 7–14 %/K, CC to 2×CC (hourly convective
  extremes up to 2×CC in mid-latitudes; Lenderink & van Meijgaard 2008).

Scaling is drawn as the relative change of a statistic ``S`` from the lowest warming level,
``100·(S(ΔT)/Ŝ(ΔT₀) − 1)`` in %, against ``ΔT − ΔT₀`` in K, where ``Ŝ`` is the log-linear
fit below (so a noisy first point does not shift the whole curve); a constant rate ``r`` %/K is
the curve ``100·((1 + r/100)^(ΔT−ΔT₀) − 1)``. The fitted rate in the legend is
``100·(exp(b) − 1)`` with ``b`` the least-squares slope of ``log S`` on ``ΔT`` (docs/protocol.md).
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np

#: Clausius–Clapeyron scaling, %/K (docs/world.md, Warming path).
CC_RATE = 7.0
#: CMIP6 mean-precipitation hydrological sensitivity range, %/K (Pendergrass 2020, GRL).
MEAN_BAND = (2.1, 3.1)
#: Climate-model range for extremes, %/K: CC to 2×CC (docs/world.md, Warming path).
EXTREME_BAND = (7.0, 14.0)

ROLE_COLORS = {"id_test": "#2b6cb0", "ood_test": "#c0392b", "id_val": "#5a9bd5",
               "ood_val": "#e07b6f"}
ROLE_LABELS = {"id_test": "ID test", "ood_test": "OOD test", "id_val": "ID val",
               "ood_val": "OOD val", "train": "train"}
REF_COLOR = "#222222"
_RC = {
    "svg.hashsalt": "tailshift-leaderboard",
    "svg.fonttype": "none",
    "font.size": 8.5,
    "font.family": "DejaVu Sans",
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "image.interpolation": "nearest",
}


def role_label(role: str) -> str:
    """Human label of a role name (``ood_test`` -> ``OOD test``)."""
    return ROLE_LABELS.get(role, role)


def _color(role: str) -> str:
    return ROLE_COLORS.get(role, "#7f7f7f")


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, *,
            margins: tuple[float, float, float, float] = (0.62, 0.12, 0.48, 0.28),
            gaps: tuple[float, float] = (0.55, 0.62), **kw):
    """A figure with fixed margins in inches (left, right, bottom, top) and gaps (w, h).

    Fixed margins instead of constrained layout: the layout solver doubled the drawing time.
    """
    from matplotlib.figure import Figure  # deferred: matplotlib is heavy; only drawing needs it

    fig = Figure(figsize=(width, height))
    left, right, bottom, top = margins
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    aw = (width - left - right - gaps[0] * (ncols - 1)) / ncols
    ah = (height - bottom - top - gaps[1] * (nrows - 1)) / nrows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=gaps[0] / aw, hspace=gaps[1] / ah)
    return fig, axes


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "tailshift leaderboard"})
    return buf.getvalue()


def _render(draw, *args) -> bytes | None:
    """Run ``draw(*args)`` (which builds and returns a Figure or None) under the fixed rcParams."""
    import matplotlib  # deferred: heavy; importing this module must not load it

    with matplotlib.rc_context(_RC):
        fig = draw(*args)
        return None if fig is None else _svg(fig)


def _roles_with(result: dict, curve: str) -> list[str]:
    return [r for r, block in result["roles"].items() if curve in block["curves"]]


def _xy(xs, ys):
    """Drop pairs where either value is missing."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# --- QQ plot of the tail ------------------------------------------------------------------------

def _draw_qq(result):
    roles = _roles_with(result, "qq")
    if not roles:
        return None
    fig, ax = _figure(3.6, 3.3)
    ax = ax[0, 0]
    lo, hi = math.inf, -math.inf
    for role in roles:
        c = result["roles"][role]["curves"]["qq"]
        x, y = _xy(c["reference"], c["retrieved"])
        if not x:
            continue
        ax.plot(x, y, "o-", ms=3.5, color=_color(role), label=role_label(role))
        for xi, yi, p in zip(c["reference"], c["retrieved"], c["p"], strict=False):
            if (xi is not None and yi is not None and p is not None and p >= 0.999
                    and role == roles[-1]):
                ax.annotate(f"{100 * p:g}", (xi, yi), textcoords="offset points", xytext=(4, -8),
                            fontsize=6.5, color="#666666")
        lo, hi = min(lo, *x, *y), max(hi, *x, *y)
    if not math.isfinite(lo):
        return None
    ax.plot([lo, hi], [lo, hi], "--", color="#888888", lw=1, label="1:1")
    ax.set_xlabel("reference quantile (mm h$^{-1}$)")
    ax.set_ylabel("retrieved quantile (mm h$^{-1}$)")
    ax.set_title("Tail quantiles (labels: percentile)")
    ax.legend(loc="upper left")
    return fig


def plot_qq(result: dict) -> bytes | None:
    """QQ plot of the tail: retrieved vs reference quantiles per role, with the 1:1 line."""
    return _render(_draw_qq, result)


# --- GEV return levels ----------------------------------------------------------------------------

def _draw_return_levels(result):
    roles = _roles_with(result, "return_levels")
    if not roles:
        return None
    fig, axes = _figure(3.4 * len(roles), 3.0, 1, len(roles), sharey=True)
    for ax, role in zip(axes[0], roles, strict=True):
        c = result["roles"][role]["curves"]["return_levels"]
        for side, color, label, lw in (("reference", REF_COLOR, "reference", 2.4),
                                       ("retrieved", _color(role), "retrieved", 1.3)):
            s = c[side]
            x, y = _xy(c["periods"], s["level"])
            if not x:
                continue
            ax.plot(x, y, "o-", ms=3, lw=lw, color=color, label=label)
            band = [(p, lo, hi)
                    for p, lo, hi in zip(c["periods"], s["ci_low"], s["ci_high"], strict=False)
                    if None not in (p, lo, hi)]
            if band:
                ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band],
                                color=color, alpha=0.15, lw=0, label=f"{label} 95% CI")
        ax.set_xscale("log")
        ax.set_xlabel("return period (region-year blocks)")
        ax.set_title(f"GEV return levels — {role_label(role)}")
        ax.legend(loc="upper left")
    axes[0, 0].set_ylabel("return level (x regime median maximum)")
    return fig


def plot_return_levels(result: dict) -> bytes | None:
    """GEV return-level curves with CI bands, retrieved vs reference, one panel per role."""
    return _render(_draw_return_levels, result)


# --- calibration -----------------------------------------------------------------------------

def _draw_calibration(result):
    pit_roles = _roles_with(result, "pit")
    rel_roles = _roles_with(result, "reliability")
    panels = [p for p, roles in (("pit", pit_roles), ("reliability", rel_roles)) if roles]
    if not panels:
        return None
    fig, axes = _figure(3.4 * len(panels), 3.0, 1, len(panels))
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "pit":
            for role in pit_roles:
                c = result["roles"][role]["curves"]["pit"]
                dens = [0.0 if d is None else d for d in c["density"]]
                ax.stairs(dens, c["edges"], color=_color(role), lw=1.5, label=role_label(role))
            ax.axhline(1.0, ls="--", color="#888888", lw=1, label="calibrated")
            ax.set_xlabel("PIT")
            ax.set_ylabel("density")
            ax.set_title("PIT histogram")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, max(1.5, ax.get_ylim()[1]) * 1.3)
        else:
            for role in rel_roles:
                c = result["roles"][role]["curves"]["reliability"]
                x, y = _xy(c["levels"], c["observed"])
                ax.plot(x, y, "o-", ms=3, color=_color(role), label=role_label(role))
            ax.plot([0, 1], [0, 1], "--", color="#888888", lw=1, label="perfect")
            ax.set_xlabel("nominal quantile level")
            ax.set_ylabel("observed frequency below")
            ax.set_title("Reliability diagram")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
        ax.legend(loc="upper left", ncols=3 if panel == "pit" else 1)
    return fig


def plot_calibration(result: dict) -> bytes | None:
    """PIT histogram and reliability diagram, all roles overlaid."""
    return _render(_draw_calibration, result)


# --- scaling with warming ----------------------------------------------------------------------

def _fit_log(warming: list, values: list) -> tuple[float, float] | None:
    """Least-squares ``log S = a + b·ΔT`` over the positive values; ``(a, b)`` or None."""
    pairs = [(w, v) for w, v in zip(warming, values, strict=False)
             if w is not None and v is not None and v > 0]
    if len(pairs) < 2 or len({p[0] for p in pairs}) < 2:
        return None
    n = len(pairs)
    mx = sum(p[0] for p in pairs) / n
    ly = [math.log(p[1]) for p in pairs]
    my = sum(ly) / n
    b = sum((p[0] - mx) * (y - my) for p, y in zip(pairs, ly, strict=True)) / sum(
        (p[0] - mx) ** 2 for p in pairs)
    return my - b * mx, b


def fitted_rate(warming: list, values: list) -> float | None:
    """%/K from a least-squares fit of ``log S`` on warming: ``100·(exp(b) − 1)``, docs/protocol.md."""
    fit = _fit_log(warming, values)
    return None if fit is None else 100.0 * (math.exp(fit[1]) - 1.0)


_STATS = (("mean", "mean", MEAN_BAND, "CMIP6 mean 2.1–3.1 %/K"),
          ("p99", "P99", EXTREME_BAND, "models CC–2×CC"),
          ("p999", "P99.9", EXTREME_BAND, "models CC–2×CC"))


def _draw_scaling(result):
    roles = _roles_with(result, "scaling")
    if not roles:
        return None
    stats = [s for s in _STATS
             if any(s[0] in result["roles"][r]["curves"]["scaling"]["reference"] for r in roles)]
    if not stats:
        return None
    fig, axes = _figure(3.0 * len(stats), 2.8 * len(roles), len(roles), len(stats),
                        gaps=(0.55, 0.75))
    for i, role in enumerate(roles):
        c = result["roles"][role]["curves"]["scaling"]
        warm = [w for w in c["warming"] if w is not None]
        if not warm:
            continue
        w0, w1 = min(warm), max(warm)
        grid = [w0 + (w1 - w0) * k / 12 for k in range(13)]  # smooth enough for ≤ a few K
        for j, (key, label, band, band_label) in enumerate(stats):
            ax = axes[i, j]
            dx = [g - w0 for g in grid]
            ax.fill_between(dx, [100 * ((1 + band[0] / 100) ** d - 1) for d in dx],
                            [100 * ((1 + band[1] / 100) ** d - 1) for d in dx],
                            color="#9bbf85", alpha=0.3, lw=0, label=band_label)
            ax.plot(dx, [100 * ((1 + CC_RATE / 100) ** d - 1) for d in dx], ":", color="#3d7a2a",
                    lw=1.2, label=f"CC {CC_RATE:g} %/K")
            for side, color, lw in (("reference", REF_COLOR, 2.4),
                                    ("retrieved", _color(role), 1.3)):
                vals = c[side].get(key)
                if not vals:
                    continue
                x, y = _xy(c["warming"], vals)
                fit = _fit_log(x, y)
                if fit is None:
                    continue
                # relative to the fitted value at the lowest warming (robust to a noisy 1st point)
                base = math.exp(fit[0] + fit[1] * w0)
                pts = sorted(zip(x, y, strict=True))
                rate = 100.0 * (math.exp(fit[1]) - 1.0)
                ax.plot([w - w0 for w, _ in pts], [100 * (v / base - 1) for _, v in pts], "o-",
                        ms=3, lw=lw, color=color, label=f"{side} (pooled fit {rate:.1f} %/K)")
            ax.set_title(f"{label} — {role_label(role)}")
            ax.set_xlabel("warming above lowest level (K)")
            if j == 0:
                ax.set_ylabel("change (%)")
            ax.legend(loc="upper left")
    return fig


def plot_scaling(result: dict) -> bytes | None:
    """Relative change of mean / P99 / P99.9 with warming, with the CC line and model bands."""
    return _render(_draw_scaling, result)


# --- score by regime ----------------------------------------------------------------------------

def _draw_by_group(result, metrics, dim):
    roles = [r for r, b in result["roles"].items() if dim in b["groups"]]
    if not roles:
        return None
    metrics = [m for m in metrics
               if any(m in s for r in roles for s in result["roles"][r]["groups"][dim].values())]
    if not metrics:
        return None
    labels = sorted({lab for r in roles for lab in result["roles"][r]["groups"][dim]})
    fig, axes = _figure(3.6 * len(metrics), 2.9, 1, len(metrics))
    width = 0.8 / len(roles)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for k, role in enumerate(roles):
            g = result["roles"][role]["groups"][dim]
            worst = result["roles"][role]["worst_group"].get(metric)
            xs, ys, err_lo, err_hi, hatches = [], [], [], [], []
            for i, lab in enumerate(labels):
                s = g.get(lab, {}).get(metric)
                if s is None or s["value"] is None or isinstance(s["value"], bool):
                    continue
                v = s["value"]
                xs.append(i + (k - (len(roles) - 1) / 2) * width)
                ys.append(v)
                err_lo.append(max(0.0, v - s["ci_low"]) if s["ci_low"] is not None else 0.0)
                err_hi.append(max(0.0, s["ci_high"] - v) if s["ci_high"] is not None else 0.0)
                is_worst = bool(worst and worst["dim"] == dim and worst["label"] == lab)
                hatches.append("////" if is_worst else "")
            bars = ax.bar(xs, ys, width=width * 0.95, color=_color(role), alpha=0.85,
                          yerr=[err_lo, err_hi], error_kw={"lw": 0.8, "capsize": 2},
                          label=role_label(role))
            for bar, hatch in zip(bars, hatches, strict=True):
                if hatch:
                    bar.set_hatch(hatch)
                    bar.set_edgecolor("black")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.3 * (hi - lo))  # room for the legend above the bars
        units = result["metrics"].get(metric, {}).get("units", "")
        ax.set_title(f"{metric} by {dim} (hatched: worst group)")
        ax.set_ylabel(f"{metric} ({units})" if units else metric)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([lab.replace("_", "\n") for lab in labels], fontsize=7)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left")
    return fig


def plot_by_group(result: dict, metrics: tuple[str, ...] = ("crps", "twcrps_10"),
                  dim: str = "regime") -> bytes | None:
    """Bar chart of scores by group (default: CRPS and twCRPS by regime) with CI whiskers."""
    return _render(_draw_by_group, result, metrics, dim)


# --- example scenes ---------------------------------------------------------------------------

def _draw_examples(result, role):
    examples = result["roles"][role]["examples"]
    if not examples:
        return None
    from matplotlib.colors import PowerNorm  # deferred: matplotlib is heavy (see _render)

    fields = [
        np.array(ex[k], dtype=float)
        for ex in examples
        for k in ("reference", "median", "q99")
        if ex.get(k) is not None
    ]
    vmax = max(float(np.nanmax(f)) if np.isfinite(f).any() else 0.0 for f in fields)
    vmax = max(vmax, 1.0)
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    import matplotlib  # deferred: matplotlib is heavy (see _render)

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#f2f2f2")
    n = len(examples)
    fig, axes = _figure(7.0, 2.1 * n + 0.1, n, 3, margins=(0.1, 1.0, 0.1, 0.3),
                        gaps=(0.12, 0.3))
    im = None
    for i, ex in enumerate(examples):
        for j, (key, title) in enumerate((("reference", "reference"),
                                          ("median", "retrieved median"),
                                          ("q99", "retrieved 99th percentile"))):
            ax = axes[i, j]
            if ex.get(key) is None:  # point-only submission: no 99th percentile
                ax.set_axis_off()
                ax.set_title(f"{title}: not provided", fontsize=8)
                continue
            f = np.array(ex[key], dtype=float)
            f = np.where(f < 0.1, np.nan, f)  # below 0.1 mm/h drawn as "dry"
            im = ax.imshow(f, cmap=cmap, norm=norm, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(f"scene {ex['scene']}: {title}" if j == 0 else title, fontsize=8)
    h = fig.get_figheight()
    cax = fig.add_axes((1 - 0.85 / 7.0, 0.15 / h + 0.1, 0.14 / 7.0, 0.8 - 0.15 / h))
    fig.colorbar(im, cax=cax, label="surface precipitation (mm h$^{-1}$)")
    return fig


def plot_examples(result: dict, role: str) -> bytes | None:
    """Example scenes of one role: reference, median, 99th percentile, one shared colour scale."""
    return _render(_draw_examples, result, role)


def all_plots(result: dict) -> list[dict[str, Any]]:
    """Every plot of a submission page, in page order.

    Returns
    -------
    list of dict
        ``{"key", "title", "caption", "svg"}`` for each plot that has data. A plot that fails to
        draw (an odd but valid curve) is left out and listed under ``"error"`` instead.
    """
    specs = [
        ("qq", "Tail QQ plot", "Quantiles of retrieved vs reference precipitation in the tail " +
         "(all pixels of the role); points below the 1:1 line mean too light a tail.",
         plot_qq, ()),
        ("return_levels", "GEV return levels", "Return levels of region-year block maxima " +
         "(blocks of at least 10 scenes, each divided by its regime's median reference block " +
         "maximum) from a GEV fit, with 95% bootstrap bands, retrieved vs reference.",
         plot_return_levels, ()),
        ("calibration", "Calibration", "PIT histogram (flat = calibrated) and reliability of the " +
         "predicted quantiles.", plot_calibration, ()),
        ("scaling", "Scaling with warming", "Change of the mean (all pixels) and the wet-pixel " +
         "P99 and P99.9 with warming, pooled over regimes per warming bin (the scores use " +
         "regime fixed effects, docs/protocol.md), " +
         f"retrieved vs reference, against the Clausius–Clapeyron rate ({CC_RATE:g} %/K) and " +
         f"the climate-model band (mean {MEAN_BAND[0]}–{MEAN_BAND[1]} %/K, Pendergrass 2020; " +
         f"extremes {EXTREME_BAND[0]:g}–{EXTREME_BAND[1]:g} %/K, CC to 2×CC).",
         plot_scaling, ()),
        ("by_regime", "Score by regime", "CRPS and twCRPS per regime with 95% CIs; the hatched " +
         "bar is the worst group of that role.", plot_by_group, ()),
    ]
    used: set[str] = set()
    for role in result["roles"]:
        # the role name comes from the file: keep the figure's file name safe and unique
        key = "examples_" + (re.sub(r"[^a-z0-9_]+", "-", role.lower()).strip("-") or "role")
        while key in used:
            key += "_"
        used.add(key)
        specs.append((key, f"Example scenes — {role_label(role)}",
                      "Reference, retrieved median and retrieved 99th percentile on one colour " +
                      "scale; grey: below 0.1 mm/h.", plot_examples, (role,)))
    out = []
    for key, title, caption, fn, args in specs:
        try:
            svg = fn(result, *args)
        except Exception as exc:  # a plot must never break the build
            out.append({"key": key, "title": title, "caption": caption, "svg": None,
                        "error": f"{type(exc).__name__}: {exc}"})
            continue
        if svg is not None:
            out.append({"key": key, "title": title, "caption": caption, "svg": svg, "error": None})
    return out
