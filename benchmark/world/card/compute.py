"""Compute the card of a dataset directory: accumulate both stores, then run every check."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tailshift import schema
from tailshift.benchmark.stores import open_dataset
from tailshift.benchmark.world.card.accumulate import (
    StoreAcc,
    accumulate,
    load_examples,
    pick_examples,
)
from tailshift.benchmark.world.card.checks import (
    climatology,
    climatology_checks,
    physics_checks,
    scaling_checks,
    sim_obs_checks,
)
from tailshift.benchmark.world.card.model import Card
from tailshift.benchmark.world.card.scaling import N_BOOT, scaling_fits
from tailshift.benchmark.world.card.targets import regime_targets
from tailshift.io import read_manifest


def _accumulate_all(stores: dict, progress: bool) -> dict[str, StoreAcc]:
    """Accumulators per store, with a rich progress bar over scene chunks when asked."""
    if not progress:
        return {s: accumulate(ds, s) for s, ds in stores.items()}
    total = sum(int(ds.sizes[schema.DIM_SCENE]) for ds in stores.values())
    accs = {}
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("climatology card: scanning scenes", total=total)
        for s, ds in stores.items():
            accs[s] = accumulate(ds, s, lambda m: bar.advance(task, m))
    return accs


def compute_card(
    data_dir: str | Path, progress: bool = True, n_boot: int = N_BOOT, seed: int = 0
) -> Card:
    """Compute the climatology card of a dataset directory, streaming over scene chunks.

    Parameters
    ----------
    data_dir : path
        A dataset directory (``obs.zarr``, ``sim.zarr``, ``manifest.json``).
    progress : bool
        Show a rich progress bar over scene chunks.
    n_boot : int
        Bootstrap replicates of the scaling CIs.
    seed : int
        Seed of the bootstrap (the card is deterministic for a given dataset and seed).

    Returns
    -------
    Card
        Structured results (checks with pass/fail, scaling fits) and the accumulated tables the
        plots need. Memory: one chunk of scenes plus ~400 bytes per scene.

    Raises
    ------
    BadInputError
        If the directory is not a dataset (no manifest, missing or malformed store).
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    stores = {s: open_dataset(data_dir, s) for s in schema.SOURCES}
    accs = _accumulate_all(stores, progress)
    obs, sim = accs[schema.SOURCE_OBS], accs[schema.SOURCE_SIM]
    targets, targets_source = regime_targets(manifest)
    clim = {}
    for i, r in enumerate(schema.REGIMES):
        sel = (obs.regime == i) & obs.observed
        if sel.any():
            clim[r] = climatology(obs, sel)
    checks = climatology_checks(clim, targets)
    checks += physics_checks(obs)
    true_scaling = manifest.get("true_scaling") or {}
    fits = scaling_fits(obs, schema.SOURCE_OBS, true_scaling, n_boot, seed)
    fits += scaling_fits(sim, schema.SOURCE_SIM, true_scaling, n_boot, seed + 100)
    checks += scaling_checks(fits)
    so_rows, so_diffs = sim_obs_checks(obs, sim)
    checks += so_rows
    return Card(
        data_dir=str(data_dir),
        manifest=manifest,
        n_scenes={s: a.n for s, a in accs.items()},
        size=obs.size,
        checks=checks,
        scaling=fits,
        climatology=clim,
        targets=targets,
        targets_source=targets_source,
        rain_hist={s: a.rain_hist for s, a in accs.items()},
        tb_count={s: a.tb_count for s, a in accs.items()},
        tb_sum={s: a.tb_sum for s, a in accs.items()},
        tb_sumsq={s: a.tb_sumsq for s, a in accs.items()},
        rain_sum={s: a.rain_sum for s, a in accs.items()},
        regimes=tuple(schema.REGIMES),
        channels=tuple(schema.CHANNEL_NAMES),
        examples=load_examples(stores[schema.SOURCE_OBS], pick_examples(obs)),
        sim_obs_diffs={k: [float(x) for x in v] for k, v in so_diffs.items()},
    )
