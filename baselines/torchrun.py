"""Train a baseline from the command line, also under torchrun (DistributedDataParallel).

``python -m tailshift.baselines.torchrun unet --split temporal [--data DIR] [--out DIR]
[--config FILE] [--device cpu|cuda|auto] [--resume] [--force]``, or
``torchrun --nproc_per_node=N -m tailshift.baselines.torchrun unet ...`` (gloo on CPU, nccl on
CUDA; the training loop is :mod:`tailshift.baselines.train`). Exit status 2 for bad input, 1 for
other TailShift errors. The ``tailshift train`` command of the application is the everyday way;
this entry point exists because torchrun starts a Python module in every process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tailshift.baselines import registry
from tailshift.baselines.device import dist_info
from tailshift.errors import TailShiftError, report
from tailshift.paths import default_data_dir


def _report(stage: str, done: int, total: int | None, metrics: dict[str, float] | None) -> None:
    """Progress callback of rank 0: one line per epoch."""
    if stage == "epoch" and metrics:
        print(f"epoch {done}/{total}: train {metrics['train_loss']:.4f} "
              + f"val {metrics['val_loss']:.4f} ({metrics['train_scenes_per_s']:.1f} scenes/s)",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m tailshift.baselines.torchrun BASELINE --split NAME ...`` -> exit status."""
    p = argparse.ArgumentParser(prog="python -m tailshift.baselines.torchrun",
                                description=__doc__.splitlines()[0])
    p.add_argument("baseline", choices=sorted(registry.REGISTRY))
    p.add_argument("--split", required=True)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    data = args.data if args.data is not None else default_data_dir()
    rank = dist_info()[0]
    try:
        run = registry.train(args.baseline, args.config, data, args.split, args.out,
                             device=args.device, progress=_report if rank == 0 else None,
                             force=args.force, resume=args.resume)
    except TailShiftError as exc:
        return report(exc)
    if rank == 0:
        print(f"wrote {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
