"""The card's figures, written as PNG files (matplotlib's Agg backend, no software tag, so the bytes
depend only on the card):

* ``tb_vs_rain.png``: binned mean TB +- 1 sd vs rain rate, per channel and regime, observed solid,
  simulator dashed;
* ``rain_exceedance.png``: P(R > r | R > 0.2 mm/h) per regime on log-log axes, observed vs future
  era, with the regime P99/P99.9 targets;
* ``extremes_vs_warming.png``: domain mean, wet mean, P99, P99.9 per warming bin relative to
  their fit at the mean warming, with fitted and true scaling lines;
* ``example_scenes.png``: reference rain, 18.7V and 89V of a few observed scenes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tailshift import schema
from tailshift.atomic import atomic_dir
from tailshift.benchmark.world.card.bins import (
    EDGES,
    MIN_BIN_PIXELS,
    N_RBINS,
    TB_CENTER,
    WET0,
)
from tailshift.benchmark.world.card.compute import compute_card
from tailshift.benchmark.world.card.model import Card
from tailshift.benchmark.world.card.targets import STAT_LABELS

_REGIME_COLOURS = {
    "tropical_ocean": "#1f77b4",
    "midlat_ocean": "#17becf",
    "midlat_land": "#2ca02c",
    "tropical_land": "#d62728",
    "snow_land": "#9467bd",
}
_STAT_COLOURS = {
    "domain_mean": "#7f7f7f", "cond_mean": "#2ca02c", "p99": "#1f77b4", "p999": "#d62728",
}
#: Reference tropical-ocean 18.7V at 0/2/5/10 mm/h (K) the forward model was designed against,
#: drawn as markers (docs/world.md, "Behaviour and known deviations": the slab saturates about
#: 10 K above the expected 271 K). The legend label in the figure is kept verbatim.
TROPICAL_19V = ((0.0, 198.0), (2.0, 236.0), (5.0, 262.0), (10.0, 271.0))


def _tb_binned_all(card: Card, source: str):
    cnt = card.tb_count[source].sum(axis=1).astype(np.float64)  # (reg, rbin)
    s1 = card.tb_sum[source].sum(axis=1)
    s2 = card.tb_sumsq[source].sum(axis=1)
    rs = card.rain_sum[source].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / cnt[..., None]
        sd = np.sqrt(np.maximum(s2 / cnt[..., None] - mean**2, 0.0))
        rmean = rs / cnt
    return mean + TB_CENTER, sd, rmean, cnt


def _savefig(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, metadata={"Software": None})


def write_card_plots(
    card: Card | str | Path, out_dir: str | Path, force: bool = True
) -> list[Path]:
    """Write the card's figures (module docstring) and ``card.json`` into ``out_dir``, atomically.

    ``card`` is a :class:`Card` or a dataset directory (then computed without a progress bar).
    Returns the paths of the figures; ``example_scenes.png`` only when the card has examples.
    """
    # deferred: matplotlib (about 0.3 s to import, and Agg must be selected before pyplot loads)
    # is needed only when figures are written, not by `tailshift data info --no-plots`.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(card, Card):
        card = compute_card(card, progress=False)
    out_dir = Path(out_dir)
    names = []
    with atomic_dir(out_dir, force=force, what="plot directory") as tmp:
        with plt.rc_context({"font.size": 8, "axes.titlesize": 9, "svg.hashsalt": "tailshift"}):
            names.append(_plot_tb(card, tmp, plt))
            names.append(_plot_exceedance(card, tmp, plt))
            names.append(_plot_scaling(card, tmp, plt))
            if card.examples:
                names.append(_plot_examples(card, tmp, plt))
        (tmp / "card.json").write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return [out_dir / n for n in names]


def _plot_tb(card: Card, tmp: Path, plt) -> str:
    nch = len(card.channels)
    ncol = 4
    nrow = math.ceil(nch / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False)
    x_clear = 0.005
    for source, ls in ((schema.SOURCE_OBS, "-"), (schema.SOURCE_SIM, "--")):
        mean, sd, rmean, cnt = _tb_binned_all(card, source)
        for ri, regime in enumerate(card.regimes):
            ok = cnt[ri] >= MIN_BIN_PIXELS
            ok[1] = False  # the 0.01-0.2 mm/h edge bin is neither clear nor raining
            if ok.sum() == 0:
                continue
            x = np.where(np.arange(N_RBINS) == 0, x_clear, rmean[ri])[ok]
            for c in range(nch):
                ax = axes.flat[c]
                y = mean[ri, :, c][ok]
                ax.plot(x, y, ls, color=_REGIME_COLOURS[regime], lw=1.2,
                        marker="." if ls == "-" else None,
                        label=f"{regime}" if (c == 0 and ls == "-") else None)
                if ls == "-":
                    s = sd[ri, :, c][ok]
                    ax.fill_between(x, y - s, y + s, color=_REGIME_COLOURS[regime], alpha=0.12,
                                    lw=0)
    for c in range(nch):
        ax = axes.flat[c]
        ax.set_xscale("log")
        ax.set_title(card.channels[c])
        ax.set_xlabel("reference rain (mm/h); leftmost point: clear sky")
        ax.set_ylabel("TB (K)")
        ax.grid(alpha=0.3)
        if card.channels[c] == "18.7V":
            ax.plot([x_clear if r == 0 else r for r, _ in TROPICAL_19V],
                    [t for _, t in TROPICAL_19V],
                    "kx", ms=6, label="target, tropical ocean (docs/world.md)")
            ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[nch:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6, loc="lower left", title="obs (solid, ±1 sd); sim (dashed)",
                        title_fontsize=6)
    fig.suptitle("Brightness temperature vs reference rain rate, per channel and regime")
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.05, top=0.94, wspace=0.25, hspace=0.4)
    _savefig(fig, tmp / "tb_vs_rain.png")
    plt.close(fig)
    return "tb_vs_rain.png"


def _plot_exceedance(card: Card, tmp: Path, plt) -> str:
    fig, ax = plt.subplots(figsize=(7, 5))
    h = card.rain_hist[schema.SOURCE_OBS]  # (reg, era, 1+N_BINS)
    edges = EDGES[WET0:]
    for ri, regime in enumerate(card.regimes):
        for era, ls, lab in ((0, "-", "observed era"), (1, ":", "future era")):
            wet = h[ri, era, 1 + WET0:].astype(np.float64)
            tot = wet.sum()
            if tot < 10:
                continue
            exc = 1.0 - np.cumsum(wet) / tot  # P(R > upper edge)
            x = np.concatenate([[edges[0]], edges[1:]])
            y = np.concatenate([[1.0], exc])
            keep = y > 0
            ax.plot(x[keep], y[keep], ls, color=_REGIME_COLOURS[regime], lw=1.3,
                    label=f"{regime} ({lab})")
        t = card.targets.get(regime, {})
        if "p99" in t and "p999" in t:
            ax.plot([t["p99"], t["p999"]], [1e-2, 1e-3], "x", color=_REGIME_COLOURS[regime], ms=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rain rate r (mm/h)")
    ax.set_ylabel(f"P(R > r | R > {schema.RAIN_THRESHOLD} mm/h)")
    # The title names the regime table by its old label; kept verbatim (figures pinned bytewise).
    ax.set_title("Wet-pixel exceedance per regime (observed store); × = target P99 / P99.9 (docs/world.md)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, ncol=2)
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.1, top=0.93)
    _savefig(fig, tmp / "rain_exceedance.png")
    plt.close(fig)
    return "rain_exceedance.png"


def _plot_scaling(card: Card, tmp: Path, plt) -> str:
    groups = [*card.regimes, "pooled"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), squeeze=False)
    for ax, group in zip(axes.flat, groups, strict=False):
        fits = [f for f in card.scaling if f.source == schema.SOURCE_OBS and f.group == group]
        for f in fits:
            if not f.warming or not math.isfinite(f.rate):
                continue
            x = np.asarray(f.warming)
            x0 = float(x.mean())
            ref = math.exp(f.intercept + f.rate * x0)
            col = _STAT_COLOURS[f.stat]
            ax.plot(x, np.asarray(f.values) / ref, "o", color=col, ms=3.5,
                    label=f"{STAT_LABELS[f.stat][0]}: {f.pct:+.1f} %/K")
            xx = np.linspace(x.min(), x.max(), 20)
            ax.plot(xx, np.exp(f.rate * (xx - x0)), "-", color=col, lw=1)
            if f.expected_lo is not None:
                ax.fill_between(xx, np.exp(f.expected_lo * (xx - x0)),
                                np.exp(f.expected_hi * (xx - x0)),
                                color=col, alpha=0.15, lw=0)
                ax.plot(xx, np.exp(0.5 * (f.expected_lo + f.expected_hi) * (xx - x0)), "--",
                        color=col, lw=0.8)
        ax.set_yscale("log")
        ax.set_title(group)
        ax.set_xlabel("warming (K)")
        ax.set_ylabel("statistic / fit at mean warming")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    fig.suptitle("Extremes and means vs warming (observed store): points = warming bins,"
                 + " solid = fit, dashed/band = world truth (manifest)")
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.07, top=0.9, wspace=0.25, hspace=0.3)
    _savefig(fig, tmp / "extremes_vs_warming.png")
    plt.close(fig)
    return "extremes_vs_warming.png"


def _plot_examples(card: Card, tmp: Path, plt) -> str:
    # deferred: matplotlib, as in write_card_plots (which has selected the Agg backend by now).
    from matplotlib.colors import LogNorm

    n = len(card.examples)
    fig, axes = plt.subplots(n, 3, figsize=(11, 3.2 * n), squeeze=False)
    for i, ex in enumerate(card.examples):
        rain = np.where(ex["rain"] > 0.01, ex["rain"], np.nan)
        im = axes[i, 0].imshow(rain, norm=LogNorm(0.1, 100), cmap="turbo", origin="lower")
        fig.colorbar(im, ax=axes[i, 0], label="mm/h")
        axes[i, 0].set_title(
            f"{ex['regime']} #{ex['scene']}\nwarming {ex['warming']:.2f} K: rain (mm/h)"
        )
        im = axes[i, 1].imshow(ex["tb19v"], cmap="viridis", origin="lower")
        fig.colorbar(im, ax=axes[i, 1], label="K")
        axes[i, 1].set_title("18.7V (emission)")
        im = axes[i, 2].imshow(ex["tb89v"], cmap="magma", origin="lower")
        fig.colorbar(im, ax=axes[i, 2], label="K")
        axes[i, 2].set_title("89.0V (scattering)")
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.subplots_adjust(left=0.04, right=0.95, bottom=0.02, top=0.95, wspace=0.35, hspace=0.3)
    _savefig(fig, tmp / "example_scenes.png")
    plt.close(fig)
    return "example_scenes.png"
