"""Devices of the torch baselines: the device string, distributed ranks, mixed precision, seeding.

Importing this module is cheap: torch is imported inside the functions that need it (a heavy
dependency, deferred so that :mod:`tailshift.baselines.registry` and the numpy baselines can use
:func:`resolve_device` without loading torch at import time).
"""

from __future__ import annotations

import os
from typing import Any

from tailshift.errors import BadInputError


def dist_info() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the environment torchrun sets (1 process without)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def resolve_device(device: str, local_rank: int = 0) -> str:
    """``cpu`` / ``cuda`` / ``cuda:N`` / ``auto`` -> a torch device string; CUDA must exist."""
    import torch  # deferred: heavy; registry.load calls this for numpy models too

    device = device or "cpu"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInputError(
                f"--device {device} asked for, but CUDA is not available; use --device cpu"
            )
        if device == "cuda":
            device = f"cuda:{local_rank}"
    elif device != "cpu":
        raise BadInputError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    return device


def device_type(device: str) -> str:
    """``"cuda"`` or ``"cpu"``: the ``device_type`` of ``torch.autocast`` / ``GradScaler``."""
    return "cuda" if device.startswith("cuda") else "cpu"


def amp_settings(config: Any, device: str) -> tuple[bool, Any]:
    """``(use_amp, dtype)`` of the config's ``amp`` mode on ``device`` (fp16 needs CUDA)."""
    import torch  # deferred: heavy optional dependency

    mode = config.amp
    if mode == "auto":
        mode = "fp16" if device.startswith("cuda") else "off"
    if mode == "off":
        return False, None
    if mode == "fp16" and not device.startswith("cuda"):
        raise BadInputError("amp = 'fp16' needs CUDA; use amp = 'bf16' or 'off' on CPU")
    return True, torch.float16 if mode == "fp16" else torch.bfloat16


def seed_everything(seed: int, device: str) -> None:
    """Seed torch (CPU and CUDA) and request deterministic algorithms."""
    import torch  # deferred: heavy optional dependency

    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def init_distributed(device: str) -> None:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU) unless already joined."""
    import torch  # deferred: heavy optional dependency
    import torch.distributed as dist  # deferred: with torch

    if dist.is_initialized():
        return
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")


def barrier(distributed: bool) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if distributed:
        import torch.distributed as dist  # deferred: heavy optional dependency

        dist.barrier()


def all_reduce_mean(total: float, count: float, distributed: bool) -> float:
    """``sum(total) / max(sum(count), 1)`` over ranks (float64 all-reduce under DDP)."""
    import torch  # deferred: heavy optional dependency

    sums = torch.tensor([total, count], dtype=torch.float64)
    if distributed:
        import torch.distributed as dist  # deferred: with torch

        dist.all_reduce(sums)
    return float(sums[0] / max(float(sums[1]), 1.0))


def leave_distributed(distributed: bool) -> None:
    """Leave the process group (when one was joined)."""
    if distributed:
        import torch.distributed as dist  # deferred: heavy optional dependency

        if dist.is_initialized():
            dist.destroy_process_group()
