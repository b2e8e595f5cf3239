"""Throughput of the world generator, in scenes per second.

* ``test_bench_rain_fields``: rain fields only (:func:`tailshift.benchmark.world.rain.rain_batch`), one
  batch of 64 scenes of 128 x 128 fine pixels (the quick/standard fine grid), all regimes.
* ``test_bench_generate_tiny``: the whole pipeline on the ``tiny`` preset (160 scenes of
  32 x 32 output pixels): scene table, rain, forward operators, reference label, Zarr writes,
  checksums and manifest, one worker.

Both record ``scenes_per_s`` in pytest-benchmark's ``extra_info``. Run with the other
benchmarks (``scripts/bench.sh -k world``) or alone for a plain print-out::

    .venv/bin/python benchmarks/bench_world.py [--preset quick] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

N_RAIN, FINE = 64, 128


def _rain_once():
    from tailshift import schema
    from tailshift.benchmark.world.rain import rain_batch

    rngs = [np.random.default_rng([0, i]) for i in range(N_RAIN)]
    regimes = [schema.REGIMES[i % len(schema.REGIMES)] for i in range(N_RAIN)]
    return rain_batch(rngs, regimes, np.full(N_RAIN, 1.5), (FINE, FINE))


def test_bench_rain_fields(benchmark):
    rain, conv = benchmark(_rain_once)
    assert rain.shape == (N_RAIN, FINE, FINE) and conv.dtype == bool
    benchmark.extra_info["scenes_per_s"] = N_RAIN / benchmark.stats.stats.mean


def test_bench_generate_tiny(benchmark, tmp_path):
    from tailshift.benchmark.world.generate import PRESETS, generate

    p = PRESETS["tiny"]
    counter = iter(range(1_000_000))

    def run():
        return generate(tmp_path / f"d{next(counter)}", "tiny", seed=0, progress=False)

    out = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert (out / "manifest.json").is_file()
    benchmark.extra_info["scenes_per_s"] = (p.n_obs + p.n_sim) / benchmark.stats.stats.mean


def main() -> None:  # pragma: no cover - manual timing
    from tailshift.benchmark.world.generate import PRESETS, generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    _rain_once()
    t = time.perf_counter()
    _rain_once()
    dt = time.perf_counter() - t
    print(f"rain_batch: {N_RAIN / dt:8.1f} scenes/s ({FINE}x{FINE} fine pixels)")
    p = PRESETS[args.preset]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        generate(Path(tmp) / "d", args.preset, workers=args.workers, progress=False)
        dt = time.perf_counter() - t
    n = p.n_obs + p.n_sim
    print(f"generate {args.preset} (workers={args.workers}): {n / dt:8.1f} scenes/s, {dt:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
