"""The world card (benchmark/world/card/): exact statistics, checks that can fail, plots, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from tailshift import schema
from tailshift.benchmark.testing import fake_store, make_fake_dataset
from tailshift.benchmark.world import card as wc
from tailshift.benchmark.world.card import checks as card_checks
from tailshift.io import store_checksum, write_manifest, write_store


# ----------------------------------------------------------------------------------------------
# histogram primitives
# ----------------------------------------------------------------------------------------------
def test_rain_bin_index_puts_the_threshold_on_an_edge():
    idx = wc.rain_bin_index(np.array([0.0, 0.005, 0.2, 0.2000001, 0.5, 5000.0]))
    assert idx[0] == -1 and idx[1] == -1
    assert idx[2] == wc.WET0 - 1  # R = 0.2 is not raining (R > 0.2 is)
    assert idx[3] == wc.WET0
    assert wc.EDGES[idx[4]] <= 0.5 < wc.EDGES[idx[4] + 1]
    assert idx[5] == wc.N_BINS - 1
    assert wc.EDGES[wc.WET0] == pytest.approx(schema.RAIN_THRESHOLD)


def test_hist_quantile_within_stated_error_bound():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0.5, 1.2, 300_000)
    x = x[x > schema.RAIN_THRESHOLD]
    h = np.bincount(wc.rain_bin_index(x) - wc.WET0, minlength=wc.N_WET_BINS)
    for q in (0.5, 0.9, 0.99, 0.999):
        est = float(wc.hist_quantile(h, q))
        assert abs(est / np.quantile(x, q) - 1.0) < wc.QUANTILE_REL_ERROR
    assert math.isnan(float(wc.hist_quantile(np.zeros(wc.N_WET_BINS), 0.99)))
    assert wc.QUANTILE_REL_ERROR == pytest.approx(0.0471, abs=1e-4)


# ----------------------------------------------------------------------------------------------
# scaling
# ----------------------------------------------------------------------------------------------
def _scenes(rate: float, n: int = 300, px: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    warming = rng.uniform(0.0, 3.0, n)
    hist = np.zeros((n, wc.N_WET_BINS), dtype=np.uint16)
    sum_all, wet_sum, wet_count = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    for i in range(n):
        r = rng.lognormal(0.5, 1.0, px) * math.exp(rate * warming[i])
        wet = r > schema.RAIN_THRESHOLD
        hist[i] = np.bincount(wc.rain_bin_index(r[wet]) - wc.WET0, minlength=wc.N_WET_BINS)
        sum_all[i], wet_sum[i], wet_count[i] = r.sum(), r[wet].sum(), wet.sum()
    return warming, hist, sum_all, np.full(n, px), wet_sum, wet_count


def test_fit_scaling_recovers_a_known_rate_within_its_ci():
    rate = 0.07
    res = wc.fit_scaling(*_scenes(rate), n_boot=100)
    for stat in ("domain_mean", "p99", "p999"):
        r = res[stat]
        assert r["ci_low"] <= rate <= r["ci_high"], (stat, r["rate"], r["ci_low"], r["ci_high"])
        assert r["ci_high"] - r["ci_low"] < 0.06
        assert r["n_bins"] >= 8
    assert res["cond_mean"]["rate"] == pytest.approx(rate, abs=0.02)
    # a flat world is not read as a warming one
    flat = wc.fit_scaling(*_scenes(0.0, seed=3), n_boot=100)
    assert abs(flat["p99"]["rate"]) < 0.03


def test_fit_scaling_is_nan_without_warming_spread():
    w, *rest = _scenes(0.05, n=20, px=200)
    res = wc.fit_scaling(np.full_like(w, 1.0), *rest, n_boot=10)
    assert all(math.isnan(res[s]["rate"]) for s in wc.SCALING_STATS)


def test_expected_rate_mapping_and_scaling_verdicts():
    truth = {"a_mean": 0.025, "a_ext_strat": 0.06, "a_ext_conv": 0.10}
    assert wc.expected_rate(truth, "domain_mean") == (0.025, 0.025)
    assert wc.expected_rate(truth, "p99") == (0.06, 0.10)
    assert wc.expected_rate(truth, "cond_mean") == (0.025, 0.10)
    assert wc.expected_rate({**truth, "a_p99": 0.08}, "p99") == (0.08, 0.08)
    assert wc.expected_rate(None, "p99") is None
    good = wc.ScalingFit("obs", "x", "p99", 0.07, 0.05, 0.09, 0.06, 0.10, 8)
    bad = wc.ScalingFit("obs", "x", "p99", 0.0, -0.02, 0.02, 0.06, 0.10, 8)
    rows = card_checks.scaling_checks([good, bad])
    assert [r.passed for r in rows] == [True, False]
    assert rows[0].value == pytest.approx(100 * math.expm1(0.07))


# ----------------------------------------------------------------------------------------------
# the card on the fake dataset (plumbing, exact sums)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_card(fake_data):
    return wc.compute_card(fake_data, progress=False, n_boot=50)


def test_climatology_is_exact(fake_data, fake_card):
    ds = xr.open_zarr(fake_data / schema.OBS_STORE)
    rain = ds[schema.VAR_PRECIP].values
    regime = ds[schema.COORD_REGIME].values.astype(str)
    observed = ds[schema.COORD_ERA].values.astype(str) == schema.ERA_OBSERVED
    for r in schema.REGIMES:
        x = rain[(regime == r) & observed]
        wet = x[x > schema.RAIN_THRESHOLD]
        c = fake_card.climatology[r]
        assert c["rain_fraction"] == pytest.approx(wet.size / x.size, rel=1e-12)
        assert c["cond_mean"] == pytest.approx(wet.astype(np.float64).mean(), rel=1e-6)
        for q, key in ((0.99, "p99"), (0.999, "p999")):
            # the inverted-CDF sample quantile lies in the same histogram bin
            ratio = c[key] / np.quantile(wet, q, method="inverted_cdf")
            assert 1 / (1 + wc.QUANTILE_REL_ERROR) <= ratio <= 1 + wc.QUANTILE_REL_ERROR
    assert len(fake_card.section("climatology")) == 4 * len(schema.REGIMES)
    assert fake_card.targets_source  # climate module or docs/world.md


def test_card_does_not_depend_on_chunking(tmp_path):
    a = wc.compute_card(
        make_fake_dataset(tmp_path / "a", n_obs=30, n_sim=20, chunk=7), progress=False, n_boot=20
    )
    b = wc.compute_card(
        make_fake_dataset(tmp_path / "b", n_obs=30, n_sim=20, chunk=30), progress=False, n_boot=20
    )
    assert a.climatology == b.climatology
    np.testing.assert_allclose(a.tb_sum["obs"], b.tb_sum["obs"], rtol=1e-9)
    assert [c.value for c in a.checks if math.isfinite(c.value)] == pytest.approx(
        [c.value for c in b.checks if math.isfinite(c.value)]
    )


def test_render_and_json(fake_card):
    from rich.console import Console

    con = Console(record=True, width=200)
    wc.render_card(fake_card, con)
    text = con.export_text()
    for needle in ("tropical_ocean", "P99.9 (wet)", "18.7V", "%/K", "183.31+-7V", "passed"):
        assert needle in text
    d = json.loads(json.dumps(fake_card.to_dict()))
    assert d["summary"]["passed"] + d["summary"]["failed"] + d["summary"]["n/a"] == len(
        fake_card.checks
    )


@pytest.mark.slow
def test_plots_are_written_and_deterministic(fake_card, tmp_path):
    a = wc.write_card_plots(fake_card, tmp_path / "a")
    b = wc.write_card_plots(fake_card, tmp_path / "b")
    assert {p.name for p in a} == {
        "tb_vs_rain.png",
        "rain_exceedance.png",
        "extremes_vs_warming.png",
        "example_scenes.png",
    }
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pa.read_bytes() == pb.read_bytes()
    assert json.loads((tmp_path / "a" / "card.json").read_text())["n_scenes"]["obs"] == 60


def test_bad_input(tmp_path):
    from tailshift.errors import BadInputError

    with pytest.raises(BadInputError):
        wc.compute_card(tmp_path / "missing", progress=False)
    d = make_fake_dataset(tmp_path / "d", n_obs=10, n_sim=10, size=8)
    import shutil

    shutil.rmtree(d / schema.SIM_STORE)
    with pytest.raises(BadInputError):
        wc.compute_card(d, progress=False)


# ----------------------------------------------------------------------------------------------
# physics checks on hand-made worlds: a physical one passes, a broken one fails
# ----------------------------------------------------------------------------------------------
def _physics_world(path, physical: bool):
    from tailshift.benchmark.world.card.targets import simulator_offsets

    offsets = simulator_offsets() or {c: 0.0 for c in schema.CHANNEL_NAMES}
    off = np.array([offsets[c] for c in schema.CHANNEL_NAMES], dtype=np.float32)
    stores = {}
    for source, name, n, seed in (
        ("obs", schema.OBS_STORE, 100, 0),
        ("sim", schema.SIM_STORE, 100, 0),
    ):
        ds = fake_store(n, 32, source, seed)
        rng = np.random.default_rng(seed + 7)
        wet = rng.random((n, 32, 32)) < 0.3
        rain = (wet * rng.lognormal(0.7, 1.5, (n, 32, 32))).astype(np.float32)
        surface = np.array([schema.REGIME_SURFACE[r] for r in ds[schema.COORD_REGIME].values])
        ocean = (surface == "ocean")[:, None, None]
        tb = 250.0 + rng.normal(0, 1.0, (n, 13, 32, 32)).astype(np.float32)
        c19, c89 = schema.CHANNEL_NAMES.index("18.7V"), schema.CHANNEL_NAMES.index("89.0V")
        if physical:
            t19_ocean = 180.0 + 90.0 * (1.0 - np.exp(-rain / 5.0))
            t19_land = 288.0
            dep = np.where(ocean, 20.0 * (rain / 10.0) ** 0.7, 15.0 * rain**0.52)
        else:
            t19_ocean = 180.0 + 3.0 * rain  # linear: never saturates
            t19_land = 288.0 + 2.0 * np.minimum(rain, 10.0)  # land 19V follows rain
            dep = np.zeros_like(rain)  # no scattering signal
        tb[:, c19] = np.where(ocean, t19_ocean, t19_land) + rng.normal(0, 1.0, rain.shape)
        tb[:, c89] = 280.0 - dep + rng.normal(0, 1.0, rain.shape)
        if source == "sim":
            tb = tb + off[None, :, None, None]
        ds[schema.VAR_TB].values[:] = tb
        ds[schema.VAR_PRECIP].values[:] = rain
        write_store(ds, path / name, 50)
        stores[source] = {"path": name, "checksum": store_checksum(ds), "n_scenes": n}
    write_manifest(
        path,
        {
            "generator_version": "t",
            "seed": 0,
            "preset": "t",
            "stores": stores,
            "size": 32,
            "true_scaling": {},
        },
    )
    return path


def _verdicts(card):
    return {(c.subject, c.quantity.split(",")[0]): c.passed for c in card.section("physics")}


def test_physics_checks_pass_a_physical_world_and_fail_a_broken_one(tmp_path):
    good = wc.compute_card(_physics_world(tmp_path / "good", True), progress=False, n_boot=10)
    bad = wc.compute_card(_physics_world(tmp_path / "bad", False), progress=False, n_boot=10)
    g, b = _verdicts(good), _verdicts(bad)
    for regime in ("tropical_ocean", "midlat_ocean"):
        assert g[(regime, "18.7V rise")] is True
        sat = next(k for k in g if k[0] == regime and k[1].startswith("18.7V slope"))
        assert g[sat] is True and b[sat] is False
        assert g[(regime, "89V depression growth")] is True
        assert b[(regime, "89V depression growth")] is False
        assert g[(regime, "89V depression at 10 mm/h")] is None  # column target: shown, not judged
        assert g[(regime, "89V depression at 50 mm/h")] in (True, None)
    for regime in ("midlat_land", "tropical_land"):
        flat = (regime, "18.7V max |TB − clear| up to 10 mm/h")
        assert g[flat] is True and b[flat] is False
        assert g[(regime, "89V depression at 1 mm/h")] is None  # column target: shown, not judged
        assert g[(regime, "89V depression at 10 mm/h")] is None
        assert b[(regime, "89V depression growth")] is False
    # sim = obs + the simulator's offsets on the same scenes: clear-sky differences recovered
    so = good.section("sim_obs")
    assert len(so) == 13 and all(c.passed for c in so)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def test_cli_info(fake_data, tmp_path, capsys):
    from tailshift.app.cli import main

    assert main(["--data", str(fake_data), "data", "info", "--no-plots"]) == 0
    assert "Climatology" in capsys.readouterr().out
    assert not (fake_data / "card").exists()
    # the fake world is not physical: --strict turns failed checks into exit 1
    assert main(["data", "info", str(fake_data), "--no-plots", "--strict"]) == 1
    assert main(["data", "info", str(tmp_path / "nope")]) == 2


@pytest.mark.slow
def test_cli_info_writes_plots(tmp_path):
    from tailshift.app.cli import main

    d = make_fake_dataset(tmp_path / "data", n_obs=20, n_sim=10, size=8)
    assert main(["data", "info", str(d)]) == 0  # default: DIR/card/
    assert (d / "card" / "tb_vs_rain.png").is_file()
    assert main(["data", "info", str(d), "--plots", str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "card.json",
        "example_scenes.png",
        "extremes_vs_warming.png",
        "rain_exceedance.png",
        "tb_vs_rain.png",
    ]


# ----------------------------------------------------------------------------------------------
# a generated tiny world: the physics the issue asks for
# ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_card_on_generated_tiny_world(tmp_path):
    generate = pytest.importorskip("tailshift.benchmark.world.generate")
    if "tiny" not in getattr(generate, "PRESETS", {}):
        pytest.skip("no tiny preset")
    d = generate.generate(tmp_path / "w", preset="tiny", seed=0, progress=False)
    card = wc.compute_card(d, progress=False, n_boot=50)
    v = _verdicts(card)
    for regime in ("tropical_ocean", "midlat_ocean"):
        assert v[(regime, "18.7V rise")] is True  # emission over ocean
    for regime in ("midlat_land", "tropical_land"):
        assert v[(regime, "18.7V max |TB − clear| up to 10 mm/h")] is True  # flat over land
        assert v[(regime, "89V depression growth")] is True  # scattering grows with rain
    assert card.targets_source.startswith("climate")
    # rain fraction and conditional mean near the docs/world.md targets in most regimes
    body = [
        c
        for c in card.section("climatology")
        if c.quantity in ("rain fraction", "conditional mean")
    ]
    assert sum(c.passed is True for c in body) >= 7
    # simulator offsets recovered from clear land scenes for most channels
    assert sum(c.passed is True for c in card.section("sim_obs")) >= 11
    # the true mean scaling lies inside the pooled CI
    pooled = {f.stat: f for f in card.scaling if f.source == "obs" and f.group == "pooled"}
    f = pooled["domain_mean"]
    assert f.ci_low <= f.expected_lo <= f.ci_high
