"""Speed of the forward operators: a batch of 32 scenes of 128 x 128 fine pixels (2 km).

Target (issue 2): observed_tb <= 0.5 s per batch on one core (~15 ms/scene), the simulator
about the same. Run ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_forward.py`` for a
plain ms/scene print-out, or ``scripts/bench.sh -k forward`` through pytest-benchmark.
"""

from __future__ import annotations

import time

import numpy as np

N_SCENES, SIZE = 32, 128


def make_batch(n: int = N_SCENES, size: int = SIZE, seed: int = 0):
    """Patchy rain (~10 % wet) in all five regimes with their climatological ancillaries."""
    from tailshift.benchmark.world.grid import FineColumns, smooth_fine
    from tailshift.benchmark.world.rt import REGIME_CLIMATE
    from tailshift.schema import REGIME_SURFACE, REGIMES

    rng = np.random.default_rng(seed)
    g = smooth_fine(rng.standard_normal((n, size, size)).astype(np.float32), 20.0, 20.0)
    g /= g.std()
    rain = np.where(g > 1.3, np.exp(1.0 + rng.standard_normal((n, size, size))), 0.0)
    rain = rain.astype(np.float32)
    regimes = np.array(REGIMES)[np.arange(n) % len(REGIMES)]

    def anc(key):
        return np.array([REGIME_CLIMATE[r][key] for r in regimes], dtype=np.float32)

    return FineColumns(
        rain=rain,
        convective=rain > 8.0,
        surface=np.array([REGIME_SURFACE[r] for r in regimes]),
        skin_temperature=anc("skin_temperature"),
        t2m=anc("skin_temperature"),
        tcwv=anc("tcwv"),
        freezing_level=anc("freezing_level"),
        warming=np.zeros(n, dtype=np.float32),
        regime=regimes,
    )


def test_bench_observed_tb(benchmark):
    from tailshift.benchmark.world.forward import observed_tb

    cols = make_batch()
    tb = benchmark(lambda: observed_tb(cols, np.random.default_rng(0)))
    assert tb.shape == (N_SCENES, 13, SIZE // 2, SIZE // 2)


def test_bench_simulated_tb(benchmark):
    from tailshift.benchmark.world.forward import simulated_tb

    cols = make_batch()
    tb = benchmark(lambda: simulated_tb(cols, np.random.default_rng(0)))
    assert tb.shape == (N_SCENES, 13, SIZE // 2, SIZE // 2)


def main() -> None:  # pragma: no cover - manual timing
    from tailshift.benchmark.world.forward import observed_tb, simulated_tb

    cols = make_batch()
    for label, fn in (
        ("observed_tb", lambda: observed_tb(cols, np.random.default_rng(0))),
        ("simulated_tb blend=0", lambda: simulated_tb(cols, np.random.default_rng(0))),
        ("simulated_tb blend=0.5", lambda: simulated_tb(cols, np.random.default_rng(0), 0.5)),
    ):
        fn()
        best = min(_timed(fn) for _ in range(5))
        print(f"{label:24s} {best * 1e3:7.1f} ms/batch  {best * 1e3 / N_SCENES:6.2f} ms/scene")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":  # pragma: no cover
    main()
