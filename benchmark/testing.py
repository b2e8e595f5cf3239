"""Small schema-conformant datasets for unit tests that must not depend on the world generator.

:func:`make_fake_dataset` writes a dataset directory with the exact layout, names, dtypes and
manifest of a generated world, filled with cheap random fields (log-normal rain with a warming
trend, TBs loosely anti-correlated with rain). It is *not* physically meaningful: tests of the
physics use the real generator (``tailshift.benchmark.world``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from tailshift import schema
from tailshift.io import store_checksum, write_manifest, write_store

FAKE_TRUE_SCALING = {r: {"a_mean": 0.025, "a_ext": 0.07} for r in schema.REGIMES}


def fake_store(n: int, size: int, source: str, seed: int) -> xr.Dataset:
    """One store of ``n`` random scenes of ``size`` x ``size`` pixels."""
    rng = np.random.default_rng(seed)
    regimes = np.array(schema.REGIMES)[np.arange(n) % len(schema.REGIMES)]
    if source == schema.SOURCE_OBS:
        years = rng.integers(schema.OBSERVED_ERA[0], schema.FUTURE_ERA[1] + 1, n)
        ids = np.arange(n, dtype=np.int64)
    else:
        years = rng.integers(schema.SIMULATED_ERA[0], schema.SIMULATED_ERA[1] + 1, n)
        ids = np.arange(n, dtype=np.int64) + schema.SIM_ID_OFFSET
    warming = np.clip(0.2 + 0.02 * (years - 1980), 0.0, None).astype(np.float32)
    scale = np.exp(0.07 * warming)[:, None, None]
    wet = rng.random((n, size, size)) < 0.15
    rain = (wet * rng.lognormal(0.0, 1.2, (n, size, size)) * scale).astype(np.float32)
    tb = (
        250.0
        - 3.0 * np.log1p(rain)[:, None]
        + rng.normal(0, 5, (n, len(schema.CHANNELS), size, size))
    ).astype(np.float32)
    surface = np.array([schema.REGIME_SURFACE[r] for r in regimes])
    era = np.where(
        (source == schema.SOURCE_OBS) & (years > schema.OBSERVED_ERA[1]),
        schema.ERA_FUTURE,
        schema.ERA_OBSERVED,
    )
    times = pd.to_datetime([f"{y}-07-01" for y in years]) + pd.to_timedelta(
        rng.integers(0, 3600 * 24 * 60, n), unit="s"
    )
    ds = xr.Dataset(
        {
            schema.VAR_TB: (
                (schema.DIM_SCENE, schema.DIM_CHANNEL, schema.DIM_Y, schema.DIM_X),
                tb,
                {"units": schema.UNITS_TB},
            ),
            schema.VAR_PRECIP: (
                (schema.DIM_SCENE, schema.DIM_Y, schema.DIM_X),
                rain,
                {"units": schema.UNITS_PRECIP},
            ),
        },
        coords={
            schema.DIM_SCENE: ids,
            schema.DIM_CHANNEL: list(schema.CHANNEL_NAMES),
            schema.COORD_FREQUENCY: (schema.DIM_CHANNEL, [c.frequency for c in schema.CHANNELS]),
            schema.COORD_POLARIZATION: (
                schema.DIM_CHANNEL,
                [c.polarization for c in schema.CHANNELS],
            ),
            schema.COORD_TIME: (schema.DIM_SCENE, times.values.astype("datetime64[ns]")),
            schema.COORD_YEAR: (schema.DIM_SCENE, years.astype(np.int32)),
            schema.COORD_REGIME: (schema.DIM_SCENE, regimes),
            schema.COORD_REGION: (
                schema.DIM_SCENE,
                np.array([f"{r}-{i % 4}" for i, r in enumerate(regimes)]),
            ),
            schema.COORD_WARMING: (schema.DIM_SCENE, warming, {"units": schema.UNITS_WARMING}),
            schema.COORD_SOURCE: (schema.DIM_SCENE, np.full(n, source)),
            schema.COORD_ERA: (schema.DIM_SCENE, era),
            schema.VAR_SURFACE: (schema.DIM_SCENE, surface),
            schema.VAR_T2M: (schema.DIM_SCENE, (290 + warming).astype(np.float32), {"units": "K"}),
            schema.VAR_TCWV: (
                schema.DIM_SCENE,
                (30 * 1.07**warming).astype(np.float32),
                {"units": schema.UNITS_TCWV},
            ),
            schema.VAR_FREEZING: (
                schema.DIM_SCENE,
                (4000 + 170 * warming).astype(np.float32),
                {"units": schema.UNITS_FREEZING},
            ),
        },
    )
    return ds


def make_fake_dataset(
    out: str | Path, n_obs: int = 60, n_sim: int = 40, size: int = 16, seed: int = 0, chunk: int = 16
) -> Path:
    """Write a fake dataset directory (obs.zarr, sim.zarr, manifest.json) and return its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stores = {}
    for source, n, store in (
        (schema.SOURCE_OBS, n_obs, schema.OBS_STORE),
        (schema.SOURCE_SIM, n_sim, schema.SIM_STORE),
    ):
        ds = fake_store(n, size, source, seed + (0 if source == schema.SOURCE_OBS else 1))
        write_store(ds, out / store, chunk)
        stores[source] = {"path": store, "checksum": store_checksum(ds), "n_scenes": n}
    write_manifest(
        out,
        {
            "generator_version": "fake-1",
            "seed": seed,
            "preset": "fake",
            "stores": stores,
            "size": size,
            "true_scaling": FAKE_TRUE_SCALING,
        },
    )
    return out
