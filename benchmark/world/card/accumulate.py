"""Streaming accumulation: one pass over a store, chunk of scenes by chunk of scenes.

Only additive statistics are kept (docs/design.md, "Conventions the code follows", 3: statistics
first, then one reduction), so memory is bounded by one chunk plus a few small tables and one
short wet-pixel histogram per scene (about 400 bytes per scene).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tailshift import schema
from tailshift.benchmark.world.card.bins import (
    N_BINS,
    N_RBINS,
    N_WBINS,
    N_WET_BINS,
    TB_CENTER,
    TB_RAIN_EDGES,
    WARMING_EDGES,
    WET0,
    rain_bin_index,
)
from tailshift.errors import BadInputError


@dataclass
class StoreAcc:
    """Accumulators of one store."""

    n: int
    size: int
    regime: np.ndarray  # (n,) int regime index
    warming: np.ndarray  # (n,) float
    observed: np.ndarray  # (n,) bool: observed era
    sum_all: np.ndarray  # (n,) float64
    npix: np.ndarray  # (n,) int64
    wet_sum: np.ndarray  # (n,) float64
    wet_count: np.ndarray  # (n,) int64
    wet_hist: np.ndarray  # (n, N_WET_BINS) uint
    max_rain: np.ndarray  # (n,) float32
    rain_hist: np.ndarray  # (n_regimes, 2 eras, 1 + N_BINS): [below 0.01, bins...]
    tb_count: np.ndarray  # (n_regimes, N_WBINS, N_RBINS)
    rain_sum: np.ndarray  # (n_regimes, N_WBINS, N_RBINS)
    tb_sum: np.ndarray  # (n_regimes, N_WBINS, N_RBINS, n_channels), of TB - TB_CENTER
    tb_sumsq: np.ndarray


def _scene_chunk(ds) -> int:
    """Scenes per read: the stored chunk of ``surface_precip`` (coordinates may differ)."""
    chunks = ds[schema.VAR_PRECIP].chunks
    if chunks:
        return int(max(chunks[0][0], 1))
    return 256


def _new_acc(ds, source: str) -> StoreAcc:
    """Empty accumulators for a store, after checking its channels and regimes."""
    regimes = list(schema.REGIMES)
    n = int(ds.sizes[schema.DIM_SCENE])
    size_y, size_x = int(ds.sizes[schema.DIM_Y]), int(ds.sizes[schema.DIM_X])
    channels = [str(c) for c in ds[schema.DIM_CHANNEL].values]
    if channels != list(schema.CHANNEL_NAMES):
        raise BadInputError(
            f"{source} store has channels {channels}, expected the 13 GMI channels of the schema;"
            + " regenerate the dataset"
        )
    reg_names = np.asarray(ds[schema.COORD_REGIME].values).astype(str)
    unknown = sorted(set(reg_names) - set(regimes))
    if unknown:
        raise BadInputError(f"{source} store has unknown regimes {unknown}; regenerate the dataset")
    if schema.COORD_ERA in ds.coords or schema.COORD_ERA in ds:
        observed = np.asarray(ds[schema.COORD_ERA].values).astype(str) == schema.ERA_OBSERVED
    else:
        observed = np.ones(n, dtype=bool)
    nch = len(channels)
    nreg = len(regimes)
    hist_dtype = np.uint16 if size_y * size_x < 65535 else np.uint32
    return StoreAcc(
        n=n,
        size=size_y,
        regime=np.array([regimes.index(r) for r in reg_names], dtype=np.int64),
        warming=np.asarray(ds[schema.COORD_WARMING].values, dtype=np.float64),
        observed=observed,
        sum_all=np.zeros(n),
        npix=np.zeros(n, dtype=np.int64),
        wet_sum=np.zeros(n),
        wet_count=np.zeros(n, dtype=np.int64),
        wet_hist=np.zeros((n, N_WET_BINS), dtype=hist_dtype),
        max_rain=np.zeros(n, dtype=np.float32),
        rain_hist=np.zeros((nreg, 2, 1 + N_BINS), dtype=np.int64),
        tb_count=np.zeros((nreg, N_WBINS, N_RBINS), dtype=np.int64),
        rain_sum=np.zeros((nreg, N_WBINS, N_RBINS)),
        tb_sum=np.zeros((nreg, N_WBINS, N_RBINS, nch)),
        tb_sumsq=np.zeros((nreg, N_WBINS, N_RBINS, nch)),
    )


def _add_scene_stats(acc: StoreAcc, sl: slice, flat: np.ndarray, finite: np.ndarray) -> None:
    """Per-scene sums, counts, maxima and wet-pixel histograms of one chunk ``(m, pixels)``."""
    m = flat.shape[0]
    acc.sum_all[sl] = flat.sum(axis=1, dtype=np.float64)
    acc.npix[sl] = finite.reshape(m, -1).sum(axis=1)
    acc.max_rain[sl] = flat.max(axis=1)
    wet = flat > schema.RAIN_THRESHOLD
    acc.wet_count[sl] = wet.sum(axis=1)
    acc.wet_sum[sl] = np.where(wet, flat, 0.0).sum(axis=1, dtype=np.float64)
    s_idx, p_idx = np.nonzero(wet)
    if s_idx.size:
        k = rain_bin_index(flat[s_idx, p_idx]) - WET0
        h = np.bincount(s_idx * N_WET_BINS + k, minlength=m * N_WET_BINS)
        acc.wet_hist[sl] = h.reshape(m, N_WET_BINS).astype(acc.wet_hist.dtype)


def _add_rain_hist(acc: StoreAcc, sl: slice, flat: np.ndarray) -> None:
    """Per-regime, per-era full-range rain histogram (for the exceedance plot)."""
    nreg = acc.rain_hist.shape[0]
    idx = rain_bin_index(flat) + 1  # 0 = below 0.01 mm/h
    era = np.where(acc.observed[sl], 0, 1)
    gid = (acc.regime[sl] * 2 + era)[:, None] * (1 + N_BINS) + idx
    acc.rain_hist += np.bincount(gid.ravel(), minlength=nreg * 2 * (1 + N_BINS)).reshape(
        nreg, 2, 1 + N_BINS
    )


def _add_tb_cells(
    acc: StoreAcc, sl: slice, flat: np.ndarray, tb: np.ndarray, wbin: np.ndarray
) -> None:
    """Count, rain sum and centred TB sums per (regime, warming bin, rain bin) cell."""
    m = flat.shape[0]
    nreg, nch = acc.tb_sum.shape[0], acc.tb_sum.shape[-1]
    n_groups = nreg * N_WBINS * N_RBINS
    rb = np.searchsorted(TB_RAIN_EDGES, flat, side="right") - 1
    rb = np.clip(rb, 0, N_RBINS - 1)
    g = ((acc.regime[sl] * N_WBINS + wbin[sl])[:, None] * N_RBINS + rb).ravel()
    acc.tb_count += np.bincount(g, minlength=n_groups).reshape(nreg, N_WBINS, N_RBINS)
    acc.rain_sum += np.bincount(g, weights=flat.ravel(), minlength=n_groups).reshape(
        nreg, N_WBINS, N_RBINS
    )
    tbc = tb.reshape(m, nch, -1) - np.float32(TB_CENTER)
    for c in range(nch):
        x = np.nan_to_num(tbc[:, c, :].ravel().astype(np.float64))
        acc.tb_sum[..., c] += np.bincount(g, weights=x, minlength=n_groups).reshape(
            nreg, N_WBINS, N_RBINS
        )
        acc.tb_sumsq[..., c] += np.bincount(g, weights=x * x, minlength=n_groups).reshape(
            nreg, N_WBINS, N_RBINS
        )


def accumulate(ds, source: str, progress_cb=None) -> StoreAcc:
    """Stream over a store's scene chunks and return its accumulators.

    ``progress_cb(m)`` is called after each chunk of ``m`` scenes. Non-finite rain counts as 0
    mm/h and is left out of the pixel count; a non-finite TB adds 0 to its cell's TB sums.
    """
    acc = _new_acc(ds, source)
    wbin = np.searchsorted(WARMING_EDGES, acc.warming, side="right")  # 0..N_WBINS-1
    chunk = _scene_chunk(ds)
    for start in range(0, acc.n, chunk):
        stop = min(start + chunk, acc.n)
        sl = slice(start, stop)
        part = {schema.DIM_SCENE: sl}
        rain = np.asarray(ds[schema.VAR_PRECIP].isel(part).values, dtype=np.float32)
        tb = np.asarray(ds[schema.VAR_TB].isel(part).values, dtype=np.float32)
        finite = np.isfinite(rain)
        rain = np.where(finite, rain, 0.0)
        flat = rain.reshape(stop - start, -1)
        _add_scene_stats(acc, sl, flat, finite)
        _add_rain_hist(acc, sl, flat)
        _add_tb_cells(acc, sl, flat, tb, wbin)
        if progress_cb is not None:
            progress_cb(stop - start)
    return acc


def pick_examples(acc: StoreAcc, n_max: int = 5) -> list[int]:
    """Per regime (in schema order) the observed scene with the largest wet area among the scenes
    whose max rain is above the regime's median max (a rainy, organised scene); deterministic."""
    picks = []
    for i in range(len(schema.REGIMES)):
        ix = np.flatnonzero(acc.regime == i)
        if ix.size == 0:
            continue
        thr = np.median(acc.max_rain[ix])
        cand = ix[acc.max_rain[ix] >= thr]
        picks.append(int(cand[np.argmax(acc.wet_count[cand])]))
        if len(picks) >= n_max:
            break
    return picks


def load_examples(ds, picks: list[int]) -> list[dict[str, Any]]:
    """Reference rain, 18.7V and 89V of the picked scenes, for the example-scene figure."""
    out = []
    c19 = schema.CHANNEL_NAMES.index("18.7V")
    c89 = schema.CHANNEL_NAMES.index("89.0V")
    for i in picks:
        one = ds.isel({schema.DIM_SCENE: i})
        tb = np.asarray(one[schema.VAR_TB].values)
        out.append({
            "scene": str(one[schema.DIM_SCENE].values),
            "regime": str(one[schema.COORD_REGIME].values),
            "warming": float(one[schema.COORD_WARMING].values),
            "rain": np.asarray(one[schema.VAR_PRECIP].values, dtype=np.float32),
            "tb19v": tb[c19].astype(np.float32),
            "tb89v": tb[c89].astype(np.float32),
        })
    return out
