"""Pinball loss: formula, NaN masking, minimiser."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.losses import LOSSES, pinball_loss  # noqa: E402


def test_matches_formula():
    rng = np.random.default_rng(0)
    y = rng.gamma(1.0, 2.0, (2, 3, 4))
    q = rng.gamma(1.0, 2.0, (2, 5, 3, 4))
    tau = np.linspace(0.1, 0.9, 5)
    diff = y[:, None] - q
    expected = np.maximum(
        tau[None, :, None, None] * diff, (tau[None, :, None, None] - 1) * diff
    ).mean()
    got = pinball_loss(torch.tensor(q), torch.tensor(y), torch.tensor(tau))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert LOSSES["pinball"] is pinball_loss


def test_nan_targets_are_ignored():
    y = torch.tensor([[[1.0, float("nan")]]])
    q = torch.tensor([[[[0.0, 100.0]]]])
    tau = torch.tensor([0.5])
    assert float(pinball_loss(q, y, tau)) == pytest.approx(0.5)


def test_minimiser_is_the_quantile():
    rng = np.random.default_rng(1)
    y = torch.tensor(rng.exponential(1.0, (1, 1, 1000)), dtype=torch.float64)
    tau = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    q = torch.zeros((1, 3, 1, 1), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([q], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        pinball_loss(q.expand(1, 3, 1, 1000), y, tau).backward()
        opt.step()
    expected = np.quantile(y.numpy(), [0.1, 0.5, 0.9])
    np.testing.assert_allclose(q.detach().numpy().ravel(), expected, atol=0.08)
