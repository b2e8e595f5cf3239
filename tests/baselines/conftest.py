"""Fixtures of the baseline tests: a fake dataset big enough for every temporal role."""

from __future__ import annotations

import pytest

#: Tiny U-Net settings shared by the tests (width 4, depth 2, 1 epoch).
TINY_UNET = {"width": 4, "depth": 2, "max_epochs": 1, "batch_size": 4, "patience": 1, "threads": 1}


@pytest.fixture(scope="session")
def bl_data(tmp_path_factory):
    """120 obs + 40 sim scenes of 16 x 16: temporal has ~20 obs train, 3 id_val, 6 id_test, 63 ood_test."""
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("bl") / "data", n_obs=120, n_sim=40, size=16)


@pytest.fixture(scope="session")
def obs_only_split(tmp_path_factory):
    """A copy of splits/temporal.toml whose training may use observations only."""
    from tailshift.splits.loader import SPLITS_DIR

    text = (SPLITS_DIR / "temporal.toml").read_text()
    text = text.replace('train_sources = ["obs", "sim"]', 'train_sources = ["obs"]')
    start = text.index('[[roles.train.select]]\nsource = "sim"')
    end = text.index("[roles.id_val]")
    text = text[:start] + text[end:]
    text = text.replace('name = "temporal"', 'name = "temporal_obs"')
    path = tmp_path_factory.mktemp("splits") / "temporal_obs.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def clim_run(bl_data, tmp_path_factory):
    """A climatology run on the temporal split (fast)."""
    from tailshift.baselines import registry

    return registry.train(
        "climatology", None, bl_data, "temporal", tmp_path_factory.mktemp("runs") / "clim"
    )


@pytest.fixture(scope="session")
def unet_run(bl_data, tmp_path_factory):
    """A tiny U-Net run on the temporal split."""
    from tailshift.baselines import registry

    return registry.train(
        "unet", dict(TINY_UNET), bl_data, "temporal", tmp_path_factory.mktemp("runs") / "unet"
    )
