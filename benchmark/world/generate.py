"""Generate a synthetic-world dataset directory: ``obs.zarr``, ``sim.zarr``, ``manifest.json``.

What is made (docs/design.md, Dataset directory; docs/world.md):

* **Observed store** (``obs.zarr``, ``source = "obs"``, scene ids ``0..N-1``): the observed era
  1998-2025 (``era = "observed"``, usable for training) plus a held-back truth for 2026-2100
  (``era = "future"``, only the evaluation roles of the splits use it). A preset fixes the share
  of held-back scenes (``future_fraction``). Brightness temperatures come from
  ``tailshift.benchmark.world.forward.observed_tb``.
* **Simulator store** (``sim.zarr``, ``source = "sim"``, ids ``SIM_ID_OFFSET + i``): separate
  draws of the same world over 1980-2100 (the simulator can run any warming level, docs/world.md, The simulator), through ``tailshift.benchmark.world.forward.simulated_tb`` with the preset's blend
  ``lambda`` (0 = the plain simulator). ``era`` is ``"observed"`` for years <= 2025.
* **Label**: ``surface_precip = grid.reference_precip(rain_fine)`` on the output grid for both.

Scene sampling (per store, from ``SeedSequence(seed, spawn_key=(100 + store,))``): regimes are
balanced (equal counts, shuffled) within each era; a region ``"<regime>-<k>"``,
``k < climate.N_REGIONS``; a year uniform over the era's years; a time uniform within the
regime's season (``climate.RegimeParams.months``); ``warming = climate.warming_of_year`` at the
fractional year; ancillaries from ``climate.ancillary`` with a local temperature anomaly
N(0, 1 K) and a TCWV log-deviation N(0, 0.1). Scenes are then sorted by time and numbered.

Randomness: scene ``i`` of store ``s`` draws its rain field from
``SeedSequence(seed, spawn_key=(s, i))``; the forward model of batch ``b`` (scenes
``b*chunk .. (b+1)*chunk-1``) from ``SeedSequence(seed, spawn_key=(200 + s, b))``. Batches are
fixed by the preset, not by ``workers``, so the same seed gives identical content (and
checksums) with any number of worker processes, on any machine (numpy's PCG64 and FFTs in
float64; the stores are hashed by content with :func:`tailshift.io.store_checksum`).

Writing: the whole dataset directory is built in a temporary sibling and renamed at the end
(:func:`tailshift.atomic.atomic_dir`); each store is pre-created from a template (coordinates
written, data variables lazily zero) and filled batch by batch with chunk-aligned region writes,
so memory stays bounded by a few batches whatever the preset; checksums are computed by
re-reading each store chunk by chunk; ``manifest.json`` is written last. An interrupted run
leaves nothing at ``out``.

Presets (:data:`PRESETS`; sizes in output pixels, 4 km each, the fine grid is ``FACTOR`` times
finer):

* ``tiny``: 100 obs + 60 sim scenes of 32 x 32, for tests (a few seconds).
* ``quick``: 1600 + 1600 scenes of 64 x 64 (256 km), the quickstart world (<= 2 min on 2 cores).
* ``standard``: 20 000 + 20 000 scenes of 64 x 64, the official world. 64 x 64 output pixels
  (256 x 256 km) hold several ~40 km organised systems and the 32 km 10-GHz footprint many
  times; 14 000 observed-era obs scenes give ~33 scenes per region-year GEV block (5 regimes x
  3 regions x 28 years) and 6 000 held-back future scenes ~5 per block-year for 2026-2100.
  On disk ~9 GB uncompressed (40 000 x 14 fields x 64 x 64 x float32).
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.atomic import atomic_dir, check_target
from tailshift.benchmark.world import climate, forward, grid, rain
from tailshift.benchmark.world.rain import rain_batch
from tailshift.errors import BadInputError
from tailshift.io import store_checksum, write_manifest

#: Bump when any change alters generated content for a given seed.
GENERATOR_VERSION = "1.1.0"

_STORE_INDEX = {schema.SOURCE_OBS: 0, schema.SOURCE_SIM: 1}


@dataclass(frozen=True)
class Preset:
    """Size of a generated world.

    Attributes
    ----------
    name : str
    n_obs, n_sim : int
        Scenes in the observed and simulator stores.
    size : int
        Output pixels per side (4 km each); the fine grid has ``size * grid.FACTOR``.
    chunk : int
        Scenes per Zarr chunk and per generation batch.
    future_fraction : float
        Share of observed-store scenes in the held-back future era 2026-2100.
    sim_blend : float
        Simulator blend lambda in [0, 1] towards the observed operator (docs/world.md, The simulator).
    """

    name: str
    n_obs: int
    n_sim: int
    size: int
    chunk: int
    future_fraction: float = 0.3
    sim_blend: float = 0.0


#: The presets (see the module docstring for why these sizes).
PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", n_obs=100, n_sim=60, size=32, chunk=20),
    "quick": Preset("quick", n_obs=1600, n_sim=1600, size=64, chunk=64),
    "standard": Preset("standard", n_obs=20_000, n_sim=20_000, size=64, chunk=64),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or :class:`BadInputError` naming the valid ones."""
    if name not in PRESETS:
        raise BadInputError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    return PRESETS[name]


# ----------------------------------------------------------------------------------------------
# Scene table
# ----------------------------------------------------------------------------------------------


def _random_times(rng: np.random.Generator, years: np.ndarray, regimes: np.ndarray) -> np.ndarray:
    """A time uniform within each scene's regime season (months), datetime64[s]."""
    n = years.size
    months = np.empty(n, dtype=np.int64)
    for name, p in climate.REGIMES.items():
        sel = regimes == name
        months[sel] = rng.choice(np.asarray(p.months), size=int(sel.sum()))
    start = ((years - 1970) * 12 + months - 1).astype("datetime64[M]")
    ndays = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)
    seconds = (rng.random(n) * ndays * 86400).astype(np.int64)
    return start.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def scene_table(preset: Preset, source: str, seed: int) -> dict[str, np.ndarray]:
    """Per-scene metadata of one store, sorted by time (cheap: no fields).

    Returns a dict of arrays of length ``n``: ``scene`` (int64 ids), ``time`` (datetime64[ns]),
    ``year`` (int32), ``regime``, ``region`` (str), ``region_k`` (int), ``warming`` (float32, K),
    ``era``, ``surface_type``, ``source`` (str), ``t_skin``, ``t2m``, ``tcwv``,
    ``freezing_level`` (float32).
    """
    s = _STORE_INDEX[source]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(100 + s,)))
    nreg = len(schema.REGIMES)
    if source == schema.SOURCE_OBS:
        n = preset.n_obs
        n_fut = int(round(n * preset.future_fraction))
        parts = [(n - n_fut, schema.OBSERVED_ERA), (n_fut, schema.FUTURE_ERA)]
    else:
        n = preset.n_sim
        parts = [(n, schema.SIMULATED_ERA)]
    years, reg_idx = [], []
    for k, (lo, hi) in parts:
        reg_idx.append(rng.permutation(np.arange(k) % nreg))
        years.append(rng.integers(lo, hi + 1, k))
    years = np.concatenate(years).astype(np.int64)
    regimes = np.array(schema.REGIMES)[np.concatenate(reg_idx).astype(np.int64)]
    region_k = rng.integers(0, climate.N_REGIONS, n)
    times = _random_times(rng, years, regimes)
    anomaly = rng.normal(0.0, 1.0, n)
    tcwv_noise = rng.normal(0.0, 0.1, n)

    order = np.argsort(times, kind="stable")
    years, regimes, region_k, times = years[order], regimes[order], region_k[order], times[order]
    anomaly, tcwv_noise = anomaly[order], tcwv_noise[order]

    jan1 = (years - 1970).astype("datetime64[Y]").astype("datetime64[s]")
    frac = (times - jan1).astype(np.float64) / (365.25 * 86400.0)
    warming = climate.warming_of_year(years + frac).astype(np.float32)
    anc = {k: np.empty(n, dtype=np.float32) for k in ("t_skin", "t2m", "tcwv", "freezing_level")}
    for name in schema.REGIMES:
        sel = regimes == name
        if sel.any():
            a = climate.ancillary(name, warming[sel], region_k[sel], anomaly[sel], tcwv_noise[sel])
            for k in anc:
                anc[k][sel] = a[k]
    offset = 0 if source == schema.SOURCE_OBS else schema.SIM_ID_OFFSET
    era = np.where(years > schema.OBSERVED_ERA[1], schema.ERA_FUTURE, schema.ERA_OBSERVED)
    return {
        "scene": np.arange(n, dtype=np.int64) + offset,
        "time": times.astype("datetime64[ns]"),
        "year": years.astype(np.int32),
        "regime": regimes,
        "region": np.array(
            [climate.region_name(r, k) for r, k in zip(regimes, region_k, strict=True)]
        ),
        "region_k": region_k,
        "warming": warming,
        "era": era,
        "surface_type": np.array([schema.REGIME_SURFACE[r] for r in regimes]),
        "source": np.full(n, source),
        **anc,
    }


def _template(table: dict[str, np.ndarray], preset: Preset):
    """Lazy xarray Dataset of one store: real coordinates, dask-zero data variables."""
    import dask.array as da
    import xarray as xr

    n, size, nch = table["scene"].size, preset.size, len(schema.CHANNELS)
    d_scene = (schema.DIM_SCENE,)
    coords = {
        schema.DIM_SCENE: table["scene"],
        schema.DIM_CHANNEL: list(schema.CHANNEL_NAMES),
        schema.COORD_FREQUENCY: (schema.DIM_CHANNEL, [c.frequency for c in schema.CHANNELS]),
        schema.COORD_POLARIZATION: (schema.DIM_CHANNEL, [c.polarization for c in schema.CHANNELS]),
        schema.COORD_TIME: (d_scene, table["time"]),
        schema.COORD_YEAR: (d_scene, table["year"]),
        schema.COORD_REGIME: (d_scene, table["regime"]),
        schema.COORD_REGION: (d_scene, table["region"]),
        schema.COORD_WARMING: (d_scene, table["warming"], {"units": schema.UNITS_WARMING}),
        schema.COORD_SOURCE: (d_scene, table["source"]),
        schema.COORD_ERA: (d_scene, table["era"]),
        schema.VAR_SURFACE: (d_scene, table["surface_type"]),
        schema.VAR_T2M: (d_scene, table["t2m"], {"units": "K"}),
        schema.VAR_TCWV: (d_scene, table["tcwv"], {"units": schema.UNITS_TCWV}),
        schema.VAR_FREEZING: (d_scene, table["freezing_level"], {"units": schema.UNITS_FREEZING}),
    }
    c = preset.chunk
    data = {
        schema.VAR_TB: (
            (schema.DIM_SCENE, schema.DIM_CHANNEL, schema.DIM_Y, schema.DIM_X),
            da.zeros((n, nch, size, size), chunks=(c, nch, size, size), dtype=np.float32),
            {"units": schema.UNITS_TB},
        ),
        schema.VAR_PRECIP: (
            (schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X),
            da.zeros((n, size, size), chunks=(c, size, size), dtype=np.float32),
            {"units": schema.UNITS_PRECIP},
        ),
    }
    return xr.Dataset(data, coords=coords)


# ----------------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------------


def _forward_module():
    """``tailshift.benchmark.world.forward`` (imported lazily: it is the heavy part)."""

    return forward


def _make_batch(task: dict[str, Any]) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Rain fields -> forward operator -> reference label for scenes ``start:stop`` of a store.

    Runs in a worker process when ``workers > 1`` (so it only receives small metadata).
    Returns ``(start, stop, tb float32 (n, 13, size, size), precip float32 (n, size, size))``.
    """

    t = task["table"]
    s, seed, start, stop = task["store"], task["seed"], task["start"], task["stop"]
    fine = task["size"] * grid.FACTOR
    rngs = [
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s, i)))
        for i in range(start, stop)
    ]
    rain, conv = rain_batch(rngs, t["regime"], t["warming"], (fine, fine), t["region_k"])
    cols = grid.FineColumns(
        rain=rain,
        convective=conv,
        surface=t["surface_type"],
        skin_temperature=t["t_skin"],
        t2m=t["t2m"],
        tcwv=t["tcwv"],
        freezing_level=t["freezing_level"],
        warming=t["warming"],
        regime=t["regime"],
    )
    frng = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(200 + s, start // task["chunk"]))
    )
    fwd = _forward_module()
    if task["source"] == schema.SOURCE_OBS:
        tb = fwd.observed_tb(cols, frng)
    else:
        tb = fwd.simulated_tb(cols, frng, blend=task["blend"])
    tb = np.asarray(tb, dtype=np.float32)
    expected = (stop - start, len(schema.CHANNELS), task["size"], task["size"])
    if tb.shape != expected:
        raise RuntimeError(f"forward operator returned shape {tb.shape}, expected {expected}")
    return start, stop, tb, grid.reference_precip(rain)


_TABLE_KEYS = (
    "regime",
    "warming",
    "region_k",
    "surface_type",
    "t_skin",
    "t2m",
    "tcwv",
    "freezing_level",
)


def _tasks(table: dict[str, np.ndarray], preset: Preset, source: str, seed: int):
    n = table["scene"].size
    for start in range(0, n, preset.chunk):
        stop = min(start + preset.chunk, n)
        yield {
            "table": {k: table[k][start:stop] for k in _TABLE_KEYS},
            "store": _STORE_INDEX[source],
            "source": source,
            "seed": seed,
            "start": start,
            "stop": stop,
            "size": preset.size,
            "chunk": preset.chunk,
            "blend": preset.sim_blend,
        }


def _fill_store(path: Path, tasks: list[dict], workers: int, advance) -> None:
    """Run the batches (inline or in ``workers`` processes) and write them into the store."""
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    tb_arr, pr_arr = group[schema.VAR_TB], group[schema.VAR_PRECIP]

    def write(result) -> None:
        start, stop, tb, precip = result
        tb_arr[start:stop] = tb
        pr_arr[start:stop] = precip
        advance(stop - start)

    if workers <= 1:
        for task in tasks:
            write(_make_batch(task))
        return
    import multiprocessing as mp

    # spawn: the parent holds zarr / rich threads, which fork() would copy in a broken state.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending: set = set()
        queue = list(tasks)
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:  # bounded memory: 2 batches/worker
                    pending.add(pool.submit(_make_batch, queue.pop(0)))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    write(fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def _progress(enabled: bool):
    """A rich progress bar (or a no-op stand-in)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("scenes"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------


def generate(
    out: Path,
    preset: str = "quick",
    seed: int = 0,
    force: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Generate a dataset directory at ``out`` and return its path.

    Parameters
    ----------
    out : Path
        Dataset directory to create (``obs.zarr``, ``sim.zarr``, ``manifest.json``).
    preset : str
        One of :data:`PRESETS` (``tiny``, ``quick``, ``standard``).
    seed : int
        Non-negative seed; same seed and :data:`GENERATOR_VERSION` give identical checksums.
    force : bool
        Replace an existing ``out`` (only once the new dataset is complete).
    workers : int
        Worker processes for the batches (>= 1); does not change the content.
    progress : bool
        Show a rich progress bar.

    Raises
    ------
    BadInputError
        Unknown preset, negative seed or workers < 1, ``out`` exists without ``force``, or its
        parent is not writable. Nothing is written in these cases.
    """

    p = get_preset(preset)
    if int(seed) != seed or seed < 0:
        raise BadInputError(f"seed must be a non-negative integer, got {seed!r}")
    if int(workers) != workers or workers < 1:
        raise BadInputError(f"--workers must be an integer >= 1, got {workers!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"output {out} is a file, not a directory; choose another --out")
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise BadInputError(
                    f"cannot create {out}: {parent} is a file; choose another --out"
                )
            break
    check_target(out, force, what="dataset directory")

    stores: dict[str, dict[str, Any]] = {}
    with atomic_dir(out, force=force, what="dataset directory") as tmp, _progress(progress) as bar:
        _chmod_like_mkdir(tmp)
        for source, name in (
            (schema.SOURCE_OBS, schema.OBS_STORE),
            (schema.SOURCE_SIM, schema.SIM_STORE),
        ):
            table = scene_table(p, source, seed)
            n = int(table["scene"].size)
            ds = _template(table, p)
            path = tmp / name
            ds.to_zarr(path, mode="w", zarr_format=2, compute=False, consolidated=True)
            task_id = bar.add_task(f"{source} ({p.name})", total=n)
            _fill_store(
                path,
                list(_tasks(table, p, source, seed)),
                int(workers),
                lambda k, t=task_id: bar.advance(t, k),
            )
            stores[source] = {"path": name, "n_scenes": n, "checksum": _checksum(path)}
        write_manifest(tmp, _manifest(p, seed, stores))
    return out


def _chmod_like_mkdir(path: Path) -> None:
    """Give the temporary directory (mkdtemp: 0700) the permissions ``mkdir`` would (umask)."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)


def _checksum(path: Path) -> str:
    """Content checksum of a written store, re-read chunk by chunk (bounded memory)."""
    import xarray as xr


    # Default chunk on purpose: store_checksum's hash of string variables depends on it, and
    # readers verify with the default.
    with xr.open_zarr(path, consolidated=True) as ds:
        return store_checksum(ds)


def _manifest(p: Preset, seed: int, stores: dict) -> dict[str, Any]:
    """The manifest (keys of issue 2); ``dataset_checksum`` is added by ``write_manifest``."""

    scaling = climate.true_scaling()
    for v in scaling.values():
        v["a_ext"] = v["a_ext_conv"]
    return {
        "generator": "benchmark.world",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "preset": p.name,
        "preset_params": asdict(p),
        "size": p.size,
        "fine_size": p.size * grid.FACTOR,
        "fine_km": grid.FINE_KM,
        "output_km": grid.OUT_KM,
        "reference_fwhm_km": grid.REFERENCE_FWHM_KM,
        "reference_floor_mm_h": grid.REFERENCE_FLOOR,
        "sim_blend": p.sim_blend,
        "stores": stores,
        "eras": {
            "observed": list(schema.OBSERVED_ERA),
            "future": list(schema.FUTURE_ERA),
            "simulated": list(schema.SIMULATED_ERA),
        },
        "true_scaling": scaling,
        "true_scaling_definition": " ".join(
            [
                "log-rate per K of global warming (%/K = 100*(exp(a)-1)): a_mean for the",
                "domain-mean rain; a_ext_strat / a_ext_conv for class intensity percentiles >= 99",
                "of stratiform / convective pixels; a_ext (= a_ext_conv), approximately the rate",
                "of P99.9 of raining pixels (convective there). R' = R*exp(dT*[a_mean + (a_ext - a_mean)*w(u)]), w from 0 at the median",
                "to 1 at the 99th percentile, wet-area ratio lowered so the mean rises by",
                "exp(a_mean*dT); dT = warming - reference_warming (docs/world.md, Warming path).",
            ]
        ),
        "reference_warming": climate.REFERENCE_WARMING,
        "warming_path": {
            "anchors": [list(a) for a in climate.WARMING_ANCHORS],
            "by_year": climate.warming_table(),
            "source": "IPCC AR6 WG1 (historical to 2025, SSP2-4.5 to 2100); see climate.py",
        },
        "regimes": {k: v.to_dict() for k, v in climate.REGIMES.items()},
        "regions_per_regime": climate.N_REGIONS,
        "rain_field": {
            "envelope_km": rain.ENVELOPE_KM,
            "organisation": rain.ORGANISATION,
            "beta1_range": list(rain.BETA1_RANGE),
            "beta2_range": list(rain.BETA2_RANGE),
            "break_km_range": list(rain.BREAK_KM_RANGE),
        },
    }
