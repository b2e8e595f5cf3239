"""The DRAIN-like quantile U-Net: the reference baseline.

Architecture (Ronneberger et al. 2015; DRAIN, Viltard et al., arXiv:2303.01220): ``depth``
down-sampling levels of two 3x3 convolutions + batch norm + ReLU with ``width * 2**level``
channels, max-pooling down, transposed-convolution up, skip connections, and a 1x1 quantile head.
Inputs are TBs normalised with the training role's per-channel mean/std; NaN TBs become 0 (the
mean). Scenes whose size is not a multiple of ``2**depth`` are reflect-padded and cropped back.

Initialisation: :func:`tailshift.baselines.train.fit_torch` sets the head's biases so that the
untrained network predicts the training role's marginal quantiles (in training space) everywhere
-- it starts from the climatology floor and learns the conditional part. Without it the softplus
increments start at :math:`\\log 2` each, i.e. a 24 mm/h spread of the 35 levels on every dry
pixel, which took many epochs to unlearn (measured on the quick world).

Monotone quantile head: the last layer outputs :math:`a, d_1, \\dots, d_{L-1}` per pixel and

.. math:: q_1 = a, \\qquad q_k = a + \\sum_{j<k} \\operatorname{softplus}(d_j),

so quantiles never cross, by construction, in the (optionally GPROF-NN-transformed) training
space; the inverse transform is monotone, so they do not cross in mm/h either. The head runs in
float32 even under mixed precision.

Input modes: ``channels = "drain4"`` (37V/H, 89V/H, DRAIN's inputs) or ``"all"`` (13 GMI
channels), or an explicit list. Levels: :data:`tailshift.baselines.common.QUANTILE_LEVELS` (35; the
module docstring there compares them with DRAIN's 99 and GPROF-NN's 128). Loss: pinball over the
levels (:mod:`tailshift.baselines.losses`). Training: :mod:`tailshift.baselines.train` (command
line: ``python -m tailshift.baselines.torchrun unet ...``, also under ``torchrun``).

torch is imported inside the functions that need it (a heavy dependency, deferred so that the
registry and configs load without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tailshift import schema
from tailshift.baselines import common
from tailshift.baselines.losses import LOSSES, check_loss_options
from tailshift.baselines.rundir import MODEL_PT, RunDir, load_state_dict
from tailshift.baselines.train import fit_torch
from tailshift.errors import BadInputError

AMP_MODES = ("auto", "off", "bf16", "fp16")
LOADERS = ("auto", "memory", "stream")


@dataclass(frozen=True)
class Config:
    """Quantile U-Net configuration (every field is used; see tests/baselines/test_unet.py).

    Attributes
    ----------
    channels : str or tuple[str, ...]
        ``"all"``, ``"drain4"``, ``"no_high_freq"`` or a list of channel names.
    depth : int
        Number of down-sampling levels.
    width : int
        Channels of the first level (doubled at each level).
    transform : str
        ``"gprof_nn"`` (train in the GPROF-NN rain transform) or ``"none"`` (mm/h).
    loss : str
        A key of :data:`tailshift.baselines.losses.LOSSES`: ``pinball`` (the reference),
        ``twcrps`` or ``tail_pinball`` (tail-sensitive, proper; :mod:`tailshift.baselines.losses`).
    loss_threshold : float
        Threshold (mm/h) of ``twcrps``; 10 mm/h is the ``twcrps_10`` metric's (docs/protocol.md).
    loss_weight : float
        Weight of the tail term: lambda of ``twcrps`` (>= 0) or the mixing weight of
        ``tail_pinball`` (in [0, 1]).
    batch_size, lr, weight_decay : int, float, float
        AdamW settings (Loshchilov & Hutter 2019).
    max_epochs, patience : int
        Stop after ``max_epochs`` or ``patience`` epochs without an ``id_val`` improvement.
    grad_clip : float
        Global gradient-norm clip (0 = off).
    amp : str
        ``"auto"`` (fp16 autocast on CUDA, off on CPU), ``"off"``, ``"bf16"``, ``"fp16"`` (CUDA).
    max_train_scenes, max_val_scenes : int
        Use at most this many scenes (evenly strided; 0 = all).
    cache_mb : int
        Hold the training role in memory if it is smaller than this (else stream chunks).
    loader : str
        ``"auto"`` (memory when it fits in ``cache_mb``, else ``"stream"``), ``"memory"``, or
        ``"stream"`` (:class:`tailshift.benchmark.torchdata.SceneStream`; ignores
        ``max_train_scenes``).
    num_workers, buffer_scenes : int
        DataLoader workers and shuffle-buffer size (scenes) of the streaming loader.
    threads : int
        ``torch.set_num_threads`` for training on CPU (0 = torch's default, one per core). On a
        machine shared with other CPU-bound jobs use 1: intra-op threads that wait for a
        descheduled sibling made epochs 10-50x slower in our measurements.
    sources : tuple[str, ...]
        Training sources; must be allowed by the split (empty = all allowed).
    channel_dropout : float
        Sensor robustness: the probability (per training scene and step) that the channels outside
        ``dropout_keep`` are set to their training mean (0 after normalisation), which is how
        :class:`UNetModel` fills channels a sensor lacks. 0 = off; validation never drops.
    dropout_keep : str or tuple[str, ...]
        Channel set that channel dropout keeps (default ``"no_high_freq"``: it drops 166 and
        183 GHz, the channels the ``sensor`` split removes).
    sim_fraction : float, optional
        Hybrid training: the share of simulator scenes among the training scenes (in [0, 1]; needs
        both sources and the in-memory loader). Unset keeps the role's own proportions.
    seed : int
        Seeds initialisation and shuffling: same seed, same data, same device -> same weights.
    """

    BASELINE: ClassVar[str] = "unet"
    channels: str | tuple[str, ...] = "all"
    depth: int = 3
    width: int = 16
    transform: str = "gprof_nn"
    loss: str = "pinball"
    loss_threshold: float = 10.0
    loss_weight: float = 1.0
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 30
    patience: int = 5
    grad_clip: float = 1.0
    amp: str = "auto"
    max_train_scenes: int = 0
    max_val_scenes: int = 0
    cache_mb: int = 2048
    loader: str = "auto"
    num_workers: int = 0
    buffer_scenes: int = 256
    threads: int = 0
    sources: tuple[str, ...] = ("obs",)
    channel_dropout: float = 0.0
    dropout_keep: str | tuple[str, ...] = "no_high_freq"
    sim_fraction: float | None = None
    seed: int = 0

    def __post_init__(self):
        schema.resolve_channels(self.channels)
        for name in ("depth", "width", "batch_size", "max_epochs", "patience"):
            common.check_positive(name, getattr(self, name))
        for name in ("lr",):
            common.check_positive(name, getattr(self, name))
        for name in ("weight_decay", "grad_clip", "max_train_scenes", "max_val_scenes",
                     "cache_mb", "num_workers", "threads"):
            common.check_positive(name, getattr(self, name), allow_zero=True)
        common.check_choice("transform", self.transform, common.TRANSFORMS)
        common.check_choice("loss", self.loss, tuple(LOSSES))
        check_loss_options(self.loss, self.loss_threshold, self.loss_weight)
        common.check_choice("amp", self.amp, AMP_MODES)
        common.check_choice("loader", self.loader, LOADERS)
        common.check_positive("buffer_scenes", self.buffer_scenes)
        if not (isinstance(self.channel_dropout, int | float) and 0 <= self.channel_dropout < 1):
            raise BadInputError(f"channel_dropout must lie in [0, 1), got {self.channel_dropout!r}")
        kept = set(schema.resolve_channels(self.dropout_keep))
        if self.channel_dropout > 0 and not [c for c in self.channel_names if c not in kept]:
            raise BadInputError(
                f"channel_dropout > 0 but dropout_keep = {self.dropout_keep!r} keeps every model "
                + "channel, so nothing would be dropped; name a smaller channel set"
            )
        if self.sim_fraction is not None:
            if not (isinstance(self.sim_fraction, int | float) and 0 <= self.sim_fraction <= 1):
                raise BadInputError(f"sim_fraction must lie in [0, 1], got {self.sim_fraction!r}")
            if set(self.sources) != set(schema.SOURCES):
                raise BadInputError(
                    "sim_fraction mixes observed and simulator scenes: set sources = "
                    + f"{list(schema.SOURCES)}"
                )

    @property
    def channel_names(self) -> tuple[str, ...]:
        return schema.resolve_channels(self.channels)


# ~80 lines: the network's classes are defined inside this function because they subclass
# torch.nn.Module and torch is imported here (deferred), not at module import.
def build_network(config: Config, n_channels: int, n_levels: int):
    """The ``torch.nn.Module`` of a config (weights initialised from the current torch seed)."""
    import torch  # deferred: heavy optional dependency
    from torch import nn  # deferred: with torch
    from torch.nn import functional as F  # noqa: N812  # deferred: with torch

    def block(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    class MonotoneQuantileHead(nn.Module):
        """1x1 conv to ``a, d_1..d_{L-1}``; returns ``a + cumsum(softplus(d))`` (float32)."""

        def __init__(self, c_in: int, n: int):
            super().__init__()
            self.proj = nn.Conv2d(c_in, n, 1)

        @torch.no_grad()
        def init_quantiles(self, values, min_step: float = 1e-3, weight_scale: float = 0.1):
            """Start from given quantiles (training-space climatology): bias_0 = q_0,
            bias_k = softplus^-1(max(q_k - q_{k-1}, min_step)); weights shrunk by weight_scale."""
            q = torch.as_tensor(np.asarray(values, dtype=np.float64))
            step = torch.clamp(q[1:] - q[:-1], min=min_step)
            bias = torch.cat([q[:1], torch.log(torch.expm1(step))])
            self.proj.bias.copy_(bias.to(self.proj.bias.dtype))
            self.proj.weight.mul_(weight_scale)

        def forward(self, x):
            with torch.autocast(device_type=x.device.type, enabled=False):
                out = self.proj(x.float())
                first = out[:, :1]
                inc = F.softplus(out[:, 1:])
                return torch.cat([first, first + torch.cumsum(inc, dim=1)], dim=1)

    class QuantileUNet(nn.Module):
        def __init__(self, n_in: int, n_out: int, depth: int, width: int):
            super().__init__()
            self.depth = depth
            widths = [width * 2**i for i in range(depth + 1)]
            self.enc = nn.ModuleList(
                [block(n_in, widths[0])]
                + [block(widths[i - 1], widths[i]) for i in range(1, depth + 1)]
            )
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ModuleList(
                [nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2)
                 for i in range(depth, 0, -1)]
            )
            self.dec = nn.ModuleList(
                [block(2 * widths[i - 1], widths[i - 1]) for i in range(depth, 0, -1)]
            )
            self.head = MonotoneQuantileHead(widths[0], n_out)

        def forward(self, x):
            ny, nx = x.shape[-2:]
            m = 2**self.depth
            py, px = (-ny) % m, (-nx) % m
            if py or px:
                mode = "reflect" if py < ny and px < nx else "replicate"
                x = F.pad(x, (0, px, 0, py), mode=mode)
            skips = []
            for i, enc in enumerate(self.enc):
                x = enc(x)
                if i < self.depth:
                    skips.append(x)
                    x = self.pool(x)
            for up, dec in zip(self.up, self.dec, strict=True):
                x = up(x)
                x = dec(torch.cat([x, skips.pop()], dim=1))
            out = self.head(x)
            return out[..., :ny, :nx]

    return QuantileUNet(n_channels, n_levels, config.depth, config.width)


def n_parameters(module: Any) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


class UNetModel:
    """A trained U-Net wrapped for ``predict(inputs: xr.Dataset) -> xr.Dataset``.

    Missing input channels (``sensor`` split) are imputed with the training mean (0 after
    normalisation) and listed in :attr:`imputed_channels` after each call.
    """

    def __init__(self, net: Any, channels: tuple[str, ...], mean: np.ndarray, std: np.ndarray,
                 transform: str, levels: np.ndarray = common.QUANTILE_LEVELS,
                 device: str = "cpu", batch_size: int = 16,
                 training_sources: tuple[str, ...] = ("obs",)):
        self.net = net.eval()
        self.channels = tuple(channels)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.transform = transform
        self.quantile_levels = np.asarray(levels, np.float64)
        self.device = device
        self.batch_size = batch_size
        self.training_sources = tuple(training_sources)
        self.imputed_channels: list[str] = []

    def forward_numpy(self, x: np.ndarray) -> np.ndarray:
        """Normalised ``(n, C, y, x)`` -> quantiles ``(n, L, y, x)`` in mm/h."""
        import torch  # deferred: heavy optional dependency

        outs = []
        with torch.no_grad():
            for sl in common.iter_batches(x.shape[0], self.batch_size):
                t = torch.from_numpy(np.ascontiguousarray(x[sl])).to(self.device)
                outs.append(self.net(t).float().cpu().numpy())
        empty = (0, len(self.quantile_levels)) + x.shape[2:]
        q = np.concatenate(outs) if outs else np.zeros(empty)
        return common.rain_inverse(q, self.transform)

    def normalise(self, inputs: Any) -> np.ndarray:
        have = set(map(str, inputs[schema.DIM_CHANNEL].values))
        self.imputed_channels = [c for c in self.channels if c not in have]
        tb = common.tb_array(inputs, self.channels, fill=self.mean)
        x = (tb - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def predict(self, inputs: Any) -> Any:
        """Quantiles (and the predictive mean) for a batch of scenes."""
        q = self.forward_numpy(self.normalise(inputs))
        return common.to_predictions(inputs, q, self.quantile_levels)


def train(config: Config, data_dir, split, out_dir, device: str = "cpu",
          progress: common.ProgressFn | None = None, force: bool = False,
          resume: bool = False) -> RunDir:
    """Train on the split's training role (early stopping on ``id_val``); see
    :mod:`tailshift.baselines.train`."""
    return fit_torch(Config.BASELINE, config, data_dir, split, out_dir, build_network,
                     n_parameters, device=device, progress=progress, force=force, resume=resume)


def load(run: RunDir, device: str = "cpu") -> UNetModel:
    """Rebuild the network from ``run.json`` and load ``model.pt`` with ``weights_only=True``."""
    config = common.load_config(Config, {k: v for k, v in run.config.items()})
    norm = run.normalisation
    if norm is None:
        raise BadInputError(f"{run.path} has no normalisation statistics; retrain the model")
    net = build_network(config, len(run.channels), len(run.quantile_levels))
    net.load_state_dict(load_state_dict(run.file(MODEL_PT)))
    net.to(device)
    return UNetModel(net, run.channels, norm[0], norm[1], config.transform, run.quantile_levels,
                     device=device, batch_size=max(config.batch_size, 16),
                     training_sources=run.training_sources)
