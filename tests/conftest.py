"""Shared fixtures: small datasets made on the fly from a seed (docs/design.md, Conventions)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory):
    """A schema-conformant random dataset directory (fast; not physically meaningful)."""
    from tailshift.benchmark.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("fake") / "data", n_obs=60, n_sim=40, size=16)
