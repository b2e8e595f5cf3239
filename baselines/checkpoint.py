"""Checkpoints of the torch training loop: early-stopping state, saving, and ``--resume``.

After every epoch rank 0 writes ``checkpoint.pt`` into the run's staging directory
(:mod:`tailshift.baselines.rundir`): the model, optimiser and gradient-scaler states, the best
weights so far, the early-stopping counters, the history and the torch RNG state. ``--resume``
restores all of it, so a resumed run gives the same weights as an uninterrupted one on the same
device. Checkpoints are state dicts only (read back with ``weights_only=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailshift.baselines.rundir import CHECKPOINT, load_state_dict, save_state_dict
from tailshift.errors import BadInputError

#: The early-stopping counters, stored as top-level keys of the checkpoint.
COUNTERS = ("epoch", "best_val", "best_epoch", "bad_epochs")


@dataclass
class TrainState:
    """Where training stands: epochs done, early stopping, history and the best weights.

    Attributes
    ----------
    epoch : int
        Epochs completed (the next epoch to run).
    best_val : float
        Best early-stopping score so far (``id_val`` loss, or the training loss without it).
    best_epoch : int
        Epoch of ``best_val`` (-1 before the first).
    bad_epochs : int
        Epochs since the last improvement.
    history : list[dict]
        One row per epoch (losses, seconds, speed).
    best_model : dict or None
        CPU copy of the state dict of the best epoch.
    """

    epoch: int = 0
    best_val: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_model: dict[str, Any] | None = None

    def counters(self) -> dict[str, Any]:
        """The early-stopping counters by name (:data:`COUNTERS`)."""
        return {k: getattr(self, k) for k in COUNTERS}

    def record(self, epoch: int, score: float, net: Any) -> None:
        """Update early stopping after ``epoch`` with its ``score`` (lower is better)."""
        if score < self.best_val:
            self.best_val, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_model = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        else:
            self.bad_epochs += 1
        self.epoch = epoch + 1


def save_checkpoint(stage: Path, config_dict: dict[str, Any], net: Any, optim: Any, scaler: Any,
                    state: TrainState) -> None:
    """Write ``checkpoint.pt`` of ``state`` into the staging directory (atomically)."""
    import torch  # deferred: heavy optional dependency

    save_state_dict(stage / CHECKPOINT, {
        "config": config_dict, "model": net.state_dict(), "optimizer": optim.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "best_model": state.best_model, "history": state.history,
        "torch_rng": torch.get_rng_state(), **state.counters(),
    })


def restore_checkpoint(stage: Path, config_dict: dict[str, Any], net: Any, optim: Any,
                       scaler: Any) -> TrainState:
    """Load ``checkpoint.pt`` of ``stage`` into ``net``, ``optim``, ``scaler`` and torch's RNG.

    Raises
    ------
    BadInputError
        If the checkpoint was written with another config.
    """
    import torch  # deferred: heavy optional dependency

    ck = load_state_dict(stage / CHECKPOINT)
    if ck.get("config") != config_dict:
        raise BadInputError(
            f"the checkpoint in {stage} was written with another config; resume with the "
            + "same --config or drop --resume"
        )
    net.load_state_dict(ck["model"])
    optim.load_state_dict(ck["optimizer"])
    if ck.get("scaler"):
        scaler.load_state_dict(ck["scaler"])
    torch.set_rng_state(ck["torch_rng"])
    return TrainState(history=list(ck["history"]), best_model=ck["best_model"],
                      **{k: ck[k] for k in COUNTERS})
