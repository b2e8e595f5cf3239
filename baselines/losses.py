"""Training losses of the torch baselines.

Pinball (quantile) loss over a set of levels (Koenker & Bassett 1978; docs/protocol.md):

.. math:: \\rho_\\tau(y, q) = (\\mathbb{1}\\{y < q\\} - \\tau)(q - y)
          = \\max(\\tau (y - q), (\\tau - 1)(y - q)),

averaged over levels and valid pixels. Minimising its expectation gives the conditional
:math:`\\tau`-quantile, and the mean over a dense evenly spaced level set is half the CRPS
(Gneiting & Raftery 2007), so it trains the whole predictive distribution. DRAIN (Viltard et al.,
arXiv:2303.01220) and GPROF-NN (Pfreundschuh et al. 2022) train with exactly this loss. Quantile
regression is equivariant under monotone maps, so it can be applied in the GPROF-NN transformed
space (:mod:`tailshift.baselines.common`).

Tail-sensitive variants (docs/baselines.md), both *proper*: their expected value is still
minimised by the true conditional quantiles, so they move effort towards the tail without
biasing the body. Weighting the loss by the observed value would not be proper (docs/protocol.md), so no loss here does that.

* ``twcrps`` -- pinball + lambda x threshold-weighted pinball. The twCRPS with weight
  :math:`1\\{z \\ge t\\}` is the CRPS of the chained variable :math:`v(z) = \\max(z, t)`
  (Gneiting & Ranjan 2011, JBES 29:411; Allen et al. 2023, SIAM/ASA JUQ 11:1). The quantiles of
  :math:`v(X)` are :math:`v(q_\\tau)`, so the dense-level pinball of ``(max(q, t), max(y, t))`` is
  half the twCRPS. Added to the plain pinball (which keeps the body trained), as in Wessel et al.
  (arXiv:2407.15900), who report better tails at some cost of the body.
* ``tail_pinball`` -- quantile-weighted pinball, weights
  :math:`w(\\tau) = (1 - \\lambda) + 3\\lambda\\tau^2` (mean 1 over uniform levels): the
  right-tail quantile weighting :math:`w(\\tau) = \\tau^2` of Gneiting & Ranjan (2011) mixed
  with the flat weight.

With the GPROF-NN transform the threshold is mapped into model space; ``max`` commutes with the
monotone transform, so the chaining is the same in either space.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from tailshift.baselines import common
from tailshift.errors import BadInputError

#: Losses with a tail threshold (mm/h) and those whose weight must lie in [0, 1].
THRESHOLD_LOSSES = ("twcrps",)
UNIT_WEIGHT_LOSSES = ("tail_pinball",)


def pinball_loss(pred, target, levels, mask=None, level_weights=None):
    """Mean pinball loss.

    Parameters
    ----------
    pred : torch.Tensor
        Predicted quantiles ``(batch, level, y, x)`` (any units, same as ``target``).
    target : torch.Tensor
        Reference ``(batch, y, x)``.
    levels : torch.Tensor
        Quantile levels ``(level,)`` in (0, 1).
    mask : torch.Tensor, optional
        Boolean ``(batch, y, x)``, True where the target is valid; NaN targets are always masked.
    level_weights : torch.Tensor, optional
        ``(level,)`` weights of the levels (mean 1 keeps the loss on the same scale).

    Returns
    -------
    torch.Tensor
        Scalar: :math:`\\frac{1}{N L}\\sum_{pixels}\\sum_\\tau \\rho_\\tau(y, q_\\tau)`
        (0 if no pixel is valid).
    """
    import torch  # deferred: heavy optional dependency (importing the losses stays cheap)

    valid = torch.isfinite(target)
    if mask is not None:
        valid = valid & mask
    y = torch.where(valid, target, torch.zeros_like(target)).unsqueeze(1)
    tau = levels.to(pred.dtype).view(1, -1, 1, 1)
    diff = y - pred
    loss = torch.maximum(tau * diff, (tau - 1.0) * diff)
    if level_weights is not None:
        loss = loss * level_weights.to(loss.dtype).view(1, -1, 1, 1)
    loss = loss * valid.unsqueeze(1).to(loss.dtype)
    n = valid.sum().clamp_min(1) * pred.shape[1]
    return loss.sum() / n


def twcrps_loss(pred, target, levels, threshold: float, weight: float = 1.0, mask=None):
    """Pinball plus ``weight`` x the pinball of the chained ``max(., threshold)`` (module doc).

    ``threshold`` is in the units of ``pred`` / ``target`` (model space). Pixels and levels below
    the threshold on both sides contribute nothing to the second term.
    """
    import torch  # deferred: heavy optional dependency (importing the losses stays cheap)

    body = pinball_loss(pred, target, levels, mask)
    t = torch.as_tensor(threshold, dtype=pred.dtype, device=pred.device)
    tail = pinball_loss(torch.maximum(pred, t), torch.maximum(target, t.to(target.dtype)), levels,
                        mask)
    return body + weight * tail


def tail_level_weights(levels, weight: float):
    """``(1 - weight) + 3 weight tau^2``: flat at 0, the tau^2 right-tail weighting at 1."""
    return (1.0 - weight) + 3.0 * weight * levels * levels


def tail_pinball_loss(pred, target, levels, weight: float = 1.0, mask=None):
    """Pinball with the right-tail level weights of :func:`tail_level_weights`."""
    weights = tail_level_weights(levels, weight)
    return pinball_loss(pred, target, levels, mask, level_weights=weights)


#: Registry of training losses by config name.
LOSSES: dict[str, Callable] = {"pinball": pinball_loss, "twcrps": twcrps_loss,
                               "tail_pinball": tail_pinball_loss}


def make_loss(name: str, transform: str, threshold_mm_h: float = 10.0,
              weight: float = 1.0) -> Callable:
    """The training loss ``f(pred, target, levels)`` of a config, in model space.

    ``threshold_mm_h`` (``twcrps``) is mapped through the rain ``transform``
    (:func:`tailshift.baselines.common.rain_transform`); 10 mm/h is the heavy-rain threshold of the
    ``twcrps_10`` metric (docs/protocol.md).
    """
    if name == "pinball":
        return pinball_loss
    if name == "twcrps":
        t = float(common.rain_transform(np.asarray([threshold_mm_h], np.float64), transform)[0])
        return functools.partial(twcrps_loss, threshold=t, weight=weight)
    if name == "tail_pinball":
        return functools.partial(tail_pinball_loss, weight=weight)
    raise KeyError(name)


def check_loss_options(name: str, threshold_mm_h: Any, weight: Any) -> None:
    """Refuse loss options that make no sense (clear ``BadInputError``)."""
    if not (isinstance(weight, int | float) and weight >= 0):
        raise BadInputError(f"loss_weight must be a number >= 0, got {weight!r}")
    if name in UNIT_WEIGHT_LOSSES and weight > 1:
        raise BadInputError(
            f"loss {name!r} needs loss_weight in [0, 1] (a mixing weight), got {weight}"
        )
    positive = isinstance(threshold_mm_h, int | float) and threshold_mm_h > 0
    if name in THRESHOLD_LOSSES and not positive:
        raise BadInputError(f"loss {name!r} needs loss_threshold > 0 mm/h, got {threshold_mm_h!r}")
