"""Throughput of the streaming PyTorch loader (scenes per second over one epoch).

Run with the other benchmarks (``scripts/bench.sh``) or alone::

    .venv/bin/python benchmarks/bench_loader.py --n-obs 400 --size 32 --workers 0 2

The data are :func:`tailshift.benchmark.testing.make_fake_dataset` stores (Blosc-LZ4, chunks of 16 scenes,
13 channels), so the figure measures reading, decompressing, normalising and collating, not the
world generator. Normalisation statistics are computed once beforehand (cached).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pytest


def make_data(root: Path, n_obs: int = 400, n_sim: int = 100, size: int = 32) -> Path:
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(root / "data", n_obs=n_obs, n_sim=n_sim, size=size, seed=0, chunk=16)


def one_epoch(loader) -> int:
    return sum(len(batch["scene"]) for batch in loader)


def measure(
    data: Path, workers: int, split: str = "temporal", role: str = "train", batch: int = 16
):
    from tailshift.benchmark.torchdata import make_loader, normalisation_stats

    stats = normalisation_stats(data, split)
    loader = make_loader(data, split, role, batch_size=batch, num_workers=workers, stats=stats)
    t0 = time.perf_counter()
    n = one_epoch(loader)
    return n, time.perf_counter() - t0


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("bench"))


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_throughput(benchmark, bench_data, workers):
    from tailshift.benchmark.torchdata import make_loader, normalisation_stats

    stats = normalisation_stats(bench_data, "temporal")
    loader = make_loader(
        bench_data, "temporal", "train", batch_size=16, num_workers=workers, stats=stats
    )
    n = benchmark.pedantic(one_epoch, args=(loader,), rounds=3, iterations=1, warmup_rounds=1)
    assert n == loader.dataset.n_scenes
    benchmark.extra_info["scenes"] = n
    benchmark.extra_info["scenes_per_s"] = n / benchmark.stats.stats.mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-obs", type=int, default=400)
    ap.add_argument("--n-sim", type=int, default=100)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--data", type=Path, default=None, help="an existing dataset directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or make_data(Path(tmp), args.n_obs, args.n_sim, args.size)
        for w in args.workers:
            measure(data, w)  # warm-up (stats cache, page cache)
            n, dt = measure(data, w)
            print(f"workers={w}: {n} scenes in {dt:.2f} s = {n / dt:.0f} scenes/s")


if __name__ == "__main__":
    main()
