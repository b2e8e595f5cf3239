"""Pinball loss: formula, NaN masking, minimiser."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tailshift.baselines.losses import LOSSES, pinball_loss  # noqa: E402


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


def test_twcrps_tail_term_is_half_the_metric_twcrps():
    """The tail term is the mid-point quadrature of the twCRPS (mean pinball of the chained
    quantiles), which the protocol's exact twCRPS approaches for dense mid-point levels."""
    from tailshift.baselines.losses import twcrps_loss
    from tailshift.metrics.kernels import crps_midpoint_approx, twcrps_quantiles

    rng = np.random.default_rng(2)
    y = rng.gamma(0.5, 4.0, (2, 6, 5))
    q = np.sort(rng.gamma(0.5, 4.0, (2, 32, 6, 5)), axis=1)
    tau = (np.arange(32) + 0.5) / 32
    t = 3.0
    body = float(pinball_loss(torch.tensor(q), torch.tensor(y), torch.tensor(tau)))
    for lam in (0.0, 0.5, 2.0):
        got = float(twcrps_loss(torch.tensor(q), torch.tensor(y), torch.tensor(tau), threshold=t, weight=lam))
        qm = np.moveaxis(q, 1, -1)
        tw = crps_midpoint_approx(np.maximum(y, t), np.maximum(qm, t), tau).mean()
        assert got == pytest.approx(body + lam * tw / 2, rel=1e-10)
    exact = twcrps_quantiles(y, np.moveaxis(q, 1, -1), tau, t).mean()
    assert tw == pytest.approx(exact, rel=0.05)
    # below the threshold on both sides the tail term vanishes
    small = torch.full((1, 32, 1, 1), 0.5, dtype=torch.float64)
    assert float(twcrps_loss(small, torch.tensor([[[1.0]]], dtype=torch.float64), torch.tensor(tau),
                             threshold=t, weight=5.0)) == pytest.approx(
        float(pinball_loss(small, torch.tensor([[[1.0]]], dtype=torch.float64), torch.tensor(tau))))


def test_tail_level_weights():
    from tailshift.baselines.losses import tail_level_weights, tail_pinball_loss

    tau = torch.tensor((np.arange(1000) + 0.5) / 1000)
    for lam in (0.0, 0.3, 1.0):
        w = tail_level_weights(tau, lam)
        assert float(w.mean()) == pytest.approx(1.0, abs=1e-5) and bool(torch.all(w > 0))
        assert bool(torch.all(w[1:] >= w[:-1]))  # the right tail weighs at least as much
    rng = np.random.default_rng(3)
    y, q = torch.tensor(rng.random((1, 2, 2))), torch.tensor(rng.random((1, 3, 2, 2)))
    lv = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    assert float(tail_pinball_loss(q, y, lv, weight=0.0)) == pytest.approx(float(pinball_loss(q, y, lv)))
    assert float(tail_pinball_loss(q, y, lv, weight=1.0)) != pytest.approx(float(pinball_loss(q, y, lv)))


@pytest.mark.parametrize("name", ["twcrps", "tail_pinball"])
def test_tail_losses_are_proper(name):
    """Both tail losses are still minimised by the true quantiles (no bias in the body or tail)."""
    from tailshift.baselines.losses import make_loss

    rng = np.random.default_rng(4)
    y = torch.tensor(rng.exponential(2.0, (1, 1, 4000)), dtype=torch.float64)
    levels = [0.1, 0.5, 0.9, 0.99]
    tau = torch.tensor(levels, dtype=torch.float64)
    loss = make_loss(name, "none", threshold_mm_h=2.0, weight=1.0)
    expected = np.quantile(y.numpy(), levels)
    q = torch.ones((1, 4, 1, 1), dtype=torch.float64, requires_grad=True)  # start away from them
    opt = torch.optim.Adam([q], lr=0.05)
    for _ in range(800):
        opt.zero_grad()
        loss(q.expand(1, 4, 1, 4000), y, tau).backward()
        opt.step()
    np.testing.assert_allclose(q.detach().numpy().ravel(), expected, rtol=0.06, atol=0.03)


def test_loss_options_are_checked():
    from tailshift.baselines import common, unet
    from tailshift.errors import BadInputError

    with pytest.raises(BadInputError, match=r"loss_weight in \[0, 1\]"):
        common.load_config(unet.Config, {"loss": "tail_pinball", "loss_weight": 2.0})
    with pytest.raises(BadInputError, match="loss_threshold > 0"):
        common.load_config(unet.Config, {"loss": "twcrps", "loss_threshold": 0.0})
    with pytest.raises(BadInputError, match="loss_weight must be"):
        common.load_config(unet.Config, {"loss": "twcrps", "loss_weight": -1.0})
    assert common.load_config(unet.Config, {"loss": "twcrps"}).loss_threshold == 10.0
