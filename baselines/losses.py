"""Training losses of the torch baselines.

Pinball (quantile) loss over a set of levels (Koenker & Bassett 1978; SCIENCE.md section 7):

.. math:: \\rho_\\tau(y, q) = (\\mathbb{1}\\{y < q\\} - \\tau)(q - y)
          = \\max(\\tau (y - q), (\\tau - 1)(y - q)),

averaged over levels and valid pixels. Minimising its expectation gives the conditional
:math:`\\tau`-quantile, and the mean over a dense evenly spaced level set is half the CRPS
(Gneiting & Raftery 2007), so it trains the whole predictive distribution. DRAIN (Viltard et al.,
arXiv:2303.01220) and GPROF-NN (Pfreundschuh et al. 2022) train with exactly this loss. Quantile
regression is equivariant under monotone maps, so it can be applied in the GPROF-NN transformed
space (:mod:`baselines.common`). Tail-weighted variants (threshold-weighted CRPS as a loss,
Wessel et al. arXiv:2407.15900) belong in this registry too.
"""

from __future__ import annotations

from collections.abc import Callable


def pinball_loss(pred, target, levels, mask=None):
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

    Returns
    -------
    torch.Tensor
        Scalar: :math:`\\frac{1}{N L}\\sum_{pixels}\\sum_\\tau \\rho_\\tau(y, q_\\tau)`
        (0 if no pixel is valid).
    """
    import torch

    valid = torch.isfinite(target)
    if mask is not None:
        valid = valid & mask
    y = torch.where(valid, target, torch.zeros_like(target)).unsqueeze(1)
    tau = levels.to(pred.dtype).view(1, -1, 1, 1)
    diff = y - pred
    loss = torch.maximum(tau * diff, (tau - 1.0) * diff)
    loss = loss * valid.unsqueeze(1).to(loss.dtype)
    n = valid.sum().clamp_min(1) * pred.shape[1]
    return loss.sum() / n


#: Registry of training losses by config name.
LOSSES: dict[str, Callable] = {"pinball": pinball_loss}
