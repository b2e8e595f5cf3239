"""The card as rich tables that read like a paper's table: value, target, tolerance, a tick or a
cross per row, one table per section."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from tailshift import schema
from tailshift.benchmark.world.card.bins import QUANTILE_REL_ERROR
from tailshift.benchmark.world.card.checks import SO_EXTRA
from tailshift.benchmark.world.card.model import Card, fmt_value
from tailshift.benchmark.world.card.targets import STAT_LABELS


def _fmt_signed(v: float) -> str:
    return f"{v:+.1f}" if math.isfinite(v) else "n/a"


def _mark(passed: bool | None) -> str:
    return {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]n/a[/]"}[passed]


def _check_table(card: Card, section: str, what: str, title: str) -> Table:
    """A rich table of one section's checks: one block of rows per subject (regime)."""
    t = Table(title=title, title_justify="left")
    for col in ("regime", what, "value", "target", "tolerance", "", "note"):
        t.add_column(col, justify="right" if col in ("value", "target") else "left")
    last = None
    for c in card.section(section):
        if last is not None and c.subject != last:
            t.add_section()
        units = c.units if c.units != "-" else ""
        t.add_row(c.subject if c.subject != last else "", c.quantity,
                  f"{fmt_value(c.value)} {units}".strip(), c.target, c.tolerance, _mark(c.passed),
                  c.note)
        last = c.subject
    return t


def _scaling_table(card: Card) -> Table:
    """Observed-store scaling rows: %/K with its bootstrap CI against the manifest's truth."""
    title = ("Scaling with warming, observed store (%/K = 100(exp(a)−1), 95 % scene-bootstrap"
             + " CI) vs the world's true rates (manifest)")
    t = Table(title=title, title_justify="left")
    for col in ("group", "statistic", "%/K", "95 % CI", "truth %/K", "", "bins"):
        t.add_column(col, justify="right" if col in ("%/K", "95 % CI", "truth %/K") else "left")
    last = None
    for c in card.section("scaling"):
        if last is not None and c.subject != last:
            t.add_section()
        finite_ci = c.ci_low is not None and math.isfinite(c.ci_low)
        ci = f"[{c.ci_low:.1f}, {c.ci_high:.1f}]" if finite_ci else "n/a"
        t.add_row(c.subject if c.subject != last else "", c.quantity,
                  f"{c.value:.1f}" if math.isfinite(c.value) else "n/a", ci, c.target,
                  _mark(c.passed), c.note.split()[0] if c.note else "")
        last = c.subject
    return t


def _sim_obs_table(card: Card) -> Table:
    """Per channel: the clear-sky land difference (checked) and the other matched differences."""
    t = Table(title="Simulator − observed TB (K) at matched regime, warming and rain bins",
              title_justify="left")
    for col in ("channel", "clear land", "target", "tolerance", "", *SO_EXTRA.values()):
        t.add_column(col, justify="left" if col in ("channel", "tolerance", "") else "right")
    for c in card.section("sim_obs"):
        parts = [_fmt_signed(card.sim_obs_diffs.get(k, [])[card.channels.index(c.subject)]
                             if card.sim_obs_diffs.get(k) else float("nan")) for k in SO_EXTRA]
        t.add_row(c.subject, f"{c.value:+.2f}" if math.isfinite(c.value) else "n/a", c.target,
                  c.tolerance, _mark(c.passed), *parts)
    return t


def render_card(card: Card, console: Console | None = None) -> None:
    """Print the card as rich tables: value, target, tolerance and a tick or cross per row."""
    console = console or Console()
    m = card.manifest
    console.print(
        f"[bold]TailShift world card[/] — {card.data_dir}  preset={m.get('preset')}  "
        + f"seed={m.get('seed')}  generator={m.get('generator_version')}  "
        + f"scenes obs={card.n_scenes.get('obs')} sim={card.n_scenes.get('sim')}  "
        + f"size={card.size}×{card.size}"
    )
    console.print(_check_table(
        card, "climatology", "statistic",
        "Climatology per regime (observed store, observed era) vs targets"
        + f" ({card.targets_source}); raining: R > {schema.RAIN_THRESHOLD} mm/h",
    ))
    console.print(_check_table(
        card, "physics", "check",
        "Forward-model physics (observed store, binned mean TB vs reference rain)",
    ))
    console.print(_scaling_table(card))
    sim_pooled = [f for f in card.scaling if f.source == schema.SOURCE_SIM and f.group == "pooled"]
    if sim_pooled:
        console.print("  simulator store, pooled: " + ", ".join(
            f"{STAT_LABELS[f.stat][0]} {f.pct:.1f} %/K" for f in sim_pooled if math.isfinite(f.rate)
        ))
    console.print(_sim_obs_table(card))
    colour = "green" if card.passed else "red"
    console.print(
        f"[{colour}]{card.n_passed} passed, {card.n_failed} failed, {card.n_na} n/a "
        + f"(not enough data)[/]  percentiles: histogram, ±{100 * QUANTILE_REL_ERROR:.1f} %"
    )
