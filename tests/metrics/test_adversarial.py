"""The adversarial suite: what a perfect, a climatological, a degenerate and a subtly wrong
submission score, in the order a scientist expects, and the invariances the protocol promises.

One synthetic world (warming 0-4 K, three regimes, a known scaling) scored through the same
:class:`~tailshift.metrics.scorecard.ScoreCard` the CLI uses. Submissions:

* ``perfect``     -- the reference itself (a point mass at the truth);
* ``good``        -- a calibrated log-normal around a noisy copy, on three level densities;
* ``climatology`` -- the pixel distribution of the scene's regime, the same for every scene
  (point estimate: the regime mean);
* ``zero``        -- all-zero quantiles; ``zero_one``: one level (0.001), all zero;
* ``quartiles``   -- the good forecast on 0.25 / 0.5 / 0.75 only;
* ``clipped``     -- the good forecast capped at the reference's low-warming P99;
* ``blurred``, ``shifted`` -- the reference smoothed (sigma 1.5 px) or displaced by 2 px;
* ``blind``       -- the reference with the warming signal removed (-5 %/K);
* ``ensemble``    -- 64 members drawn from the good forecast's distribution.

The last tests replay the attacks an outside audit of protocol 2 found (chosen ensemble
members, a quantised retrieval, one planted extreme pixel, a noisy trend, a constant bias).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.special import ndtri

from tailshift.metrics.levels import check_levels
from tailshift.metrics.paired import paired_difference
from tailshift.metrics.scorecard import CardConfig, ScoreCard
from tests.metrics.synth import labels, make_scenes

MID35 = np.union1d((np.arange(32) + 0.5) / 32, [0.99, 0.995, 0.999])
EVEN99 = np.arange(1, 100) / 100
COARSE21 = np.r_[0.02, np.arange(0.05, 0.951, 0.05), 0.98]
SIGMA = 0.35


@pytest.fixture(scope="module")
def world():
    d = make_scenes(n=300, size=32, seed=11)
    rng = np.random.default_rng(5)
    d["centre"] = d["ref"] * np.exp(SIGMA * rng.standard_normal(d["ref"].shape))
    return d


def _lognormal_q(centre, levels):
    z = ndtri(np.asarray(levels))[None, :, None, None]
    return (centre[:, None] * np.exp(SIGMA * z)).astype(np.float32)


def _climatology_q(d, levels):
    ref = d["ref"]
    q = np.zeros((ref.shape[0], len(levels)) + ref.shape[1:], dtype=np.float32)
    reg = d["groups"]["regime"]
    for r in np.unique(reg):
        vals = np.quantile(ref[reg == r], levels)
        q[reg == r] = vals[None, :, None, None]
    return q


def _climatology_mean(d):
    """The regime-mean rain rate as the point estimate (a median would be 0: mostly dry)."""
    reg = d["groups"]["regime"]
    out = np.zeros_like(d["ref"])
    for r in np.unique(reg):
        out[reg == r] = d["ref"][reg == r].mean()
    return out


def _score(d, levels=None, n_boot=60, **pred):
    cfg = CardConfig(quantile_levels=levels, n_boot=n_boot, n_boot_tail=60, min_block_scenes=1)
    card = ScoreCard(cfg)
    for part in np.array_split(np.arange(d["ref"].shape[0]), 3):
        card.update(d["ref"][part], **{k: v[part] for k, v in pred.items()}, **labels(d, part))
    return card.finalize()


@pytest.fixture(scope="module")
def scored(world):
    d = world
    ref = d["ref"]
    good = {name: _lognormal_q(d["centre"], lv)
            for name, lv in (("35", MID35), ("99", EVEN99), ("21", COARSE21))}
    cap = np.quantile(ref[d["warming"] < 1.0], 0.99)
    blind = ref * np.exp(-0.05 * d["warming"])[:, None, None]
    rng = np.random.default_rng(8)
    members = d["centre"][:, None] * np.exp(SIGMA * rng.standard_normal(
        (ref.shape[0], 64) + ref.shape[1:]))
    out = {
        "perfect": _score(d, MID35, quantiles=np.repeat(ref[:, None], MID35.size, 1)),
        "good35": _score(d, MID35, quantiles=good["35"]),
        "good99": _score(d, EVEN99, quantiles=good["99"]),
        "good21": _score(d, COARSE21, quantiles=good["21"]),
        "climatology": _score(d, MID35, quantiles=_climatology_q(d, MID35),
                              point=_climatology_mean(d)),
        "zero": _score(d, MID35, quantiles=np.zeros((ref.shape[0], MID35.size) + ref.shape[1:],
                                                    np.float32)),
        "zero_one": _score(d, [0.001], quantiles=np.zeros((ref.shape[0], 1) + ref.shape[1:],
                                                          np.float32)),
        "quartiles": _score(d, [0.25, 0.5, 0.75],
                            quantiles=_lognormal_q(d["centre"], [0.25, 0.5, 0.75])),
        "clipped": _score(d, MID35, quantiles=np.minimum(good["35"], cap),
                          point=np.minimum(d["centre"], cap)),
        "blurred": _score(d, point=gaussian_filter(ref, (0, 1.5, 1.5))),
        "shifted": _score(d, point=np.roll(ref, 2, axis=2)),
        "point_perfect": _score(d, point=ref),
        "blind": _score(d, point=blind),
        "ensemble": _score(d, samples=members.astype(np.float32)),
    }
    return out


def _v(res, name):
    return res["scores"][name]["value"]


def test_crps_order_a_scientist_expects(scored):
    s = scored
    assert _v(s["perfect"], "crps") == pytest.approx(0.0, abs=1e-12)
    order = ["perfect", "good35", "climatology", "zero"]
    vals = [_v(s[k], "crps") for k in order]
    assert vals == sorted(vals) and len(set(vals)) == len(vals), dict(zip(order, vals,
                                                                         strict=True))
    # the degenerate one-level all-zero file is the same distribution as the all-zero file: a
    # point mass at 0, whose CRPS is the mean rain rate -- not ~0 as under the pinball average
    assert _v(s["zero_one"], "crps") == pytest.approx(_v(s["zero"], "crps"), rel=1e-9)
    assert _v(s["zero_one"], "crps") > 3 * _v(s["good35"], "crps")


def test_level_density_invariance(scored):
    """The same distribution on 35, 99 and 21 admissible levels: CRPS and twCRPS within 1 %."""
    base = _v(scored["good99"], "crps")
    for k in ("good35", "good21"):
        assert _v(scored[k], "crps") == pytest.approx(base, rel=0.01), k
        assert _v(scored[k], "twcrps_10") == pytest.approx(_v(scored["good99"], "twcrps_10"),
                                                           rel=0.01), k
    # the pinball average is level-dependent by construction: it is reported as quantile_loss
    assert abs(_v(scored["good21"], "quantile_loss") / _v(scored["good99"], "quantile_loss")
               - 1) > 0.01


def test_quantile_file_and_ensemble_of_one_distribution_agree(scored):
    q, e = scored["good99"]["scores"]["crps"], scored["ensemble"]["scores"]["crps"]
    assert e["value"] == pytest.approx(q["value"], rel=0.02)
    assert _v(scored["ensemble"], "twcrps_10") == pytest.approx(_v(scored["good99"],
                                                                   "twcrps_10"), rel=0.05)


def test_admissibility_is_recorded_and_named(scored):
    assert scored["good35"]["forecast"]["admissible"] is True
    assert scored["good21"]["forecast"]["admissible"] is True
    for k, word in (("zero_one", "last quantile level"), ("quartiles", "first quantile level")):
        fc = scored[k]["forecast"]
        assert fc["admissible"] is False and word in fc["reason"]
    assert scored["point_perfect"]["forecast"]["admissible"] is False
    assert check_levels([0.01, 0.1, 0.5, 0.9, 0.99])[1].startswith("gap")
    # coverage_90 is read from the predictive CDF, or undefined: never from levels it lacks
    assert scored["zero_one"]["scores"]["coverage_90"]["value"] is None
    assert "0.05 and 0.95" in scored["zero_one"]["undefined"]["coverage_90"]
    assert _v(scored["good35"], "coverage_90") == pytest.approx(0.9, abs=0.02)


def test_sedi_no_skill_is_not_rewarded(scored, world):
    s = scored
    # never forecasting the event is undefined, with the reason
    for k in ("zero", "zero_one"):
        assert s[k]["scores"]["sedi_p99"]["value"] is None
        assert "H = F = 0" in s[k]["undefined"]["sedi_p99"]
        assert s[k]["scores"]["sedi_p99_calibrated"]["value"] is None
    assert _v(s["perfect"], "sedi_p99") == 1.0
    assert _v(s["perfect"], "sedi_p99_calibrated") == pytest.approx(1.0, abs=1e-9)
    # a forecast with the right distribution but no information (scenes shuffled) scores ~0
    d = world
    perm = np.random.default_rng(3).permutation(d["ref"].shape[0])
    noskill = _score(d, point=d["ref"][perm], n_boot=20)
    assert abs(_v(noskill, "sedi_p99_calibrated")) < 0.15
    assert _v(s["good35"], "sedi_p99_calibrated") > 0.8 > abs(_v(noskill, "sedi_p99_calibrated"))


def test_tail_order(scored):
    s = scored
    for m in ("rl_ratio_10", "pot_rl_ratio_1000", "qratio_p999"):
        assert _v(s["perfect"], m) == pytest.approx(1.0)
        assert _v(s["clipped"], m) < 0.9, m
    assert _v(s["clipped"], "twcrps_10") > _v(s["good35"], "twcrps_10")
    gof = s["perfect"]["curves"]["return_levels"]
    assert gof["block"] == "region-year" and "ks_p_ref" in gof["gof"]


def test_spatial_order(scored):
    s = scored
    assert _v(s["point_perfect"], "eff_resolution") == 4.0
    for k in ("blurred", "shifted"):
        assert _v(s[k], "eff_resolution") >= 8.0, k
    assert _v(s["blurred"], "power_ratio_fine") < 0.5
    assert _v(s["point_perfect"], "power_ratio_fine") == pytest.approx(1.0)
    assert _v(s["shifted"], "fss_10") < _v(s["point_perfect"], "fss_10")


def test_trends_perfect_passes_blind_and_climatology_fail(scored):
    s = scored
    for st in ("mean", "p99", "p999"):
        assert s["point_perfect"]["scores"][f"scaling_error_{st}"]["value"] == 0.0
        assert _v(s["point_perfect"], f"scaling_consistent_{st}") is True
    # warming-blind: a clear negative error of about -5 %/K, flagged inconsistent
    for st in ("mean", "p99"):
        err = s["blind"]["scores"][f"scaling_error_{st}"]
        assert -6.5 < err["value"] < -4.5  # 100 e^b (e^-0.05 - 1) with the true rate b
        assert err["ci_high"] < -1.0
        assert _v(s["blind"], f"scaling_consistent_{st}") is False
    # climatology is constant per regime: fixed effects give ~0 %/K (not a spurious rate)
    for st in ("mean", "p99", "p999"):
        assert abs(_v(s["climatology"], f"scaling_{st}")) < 0.5
        assert _v(s["climatology"], f"scaling_consistent_{st}") is False
    # annual series of the perfect retrieval: the reference's own Theil-Sen slope
    assert _v(s["point_perfect"], "trend_ts_mean") == _v(s["point_perfect"], "trend_ts_mean_ref")


def test_paired_difference_separates_close_forecasts(world, scored):
    """Two forecasts that differ a little but consistently: the paired CI excludes 0 and is far
    narrower than the combination of the two marginal CIs."""
    d = world
    good = _lognormal_q(d["centre"], MID35)
    clim = _climatology_q(d, MID35)
    blend = _score(d, MID35, quantiles=np.sort(0.8 * good + 0.2 * clim, axis=1))
    a, b = scored["good35"], blend
    diff = paired_difference(a, b, "crps")
    assert diff["ci_low"] > 0 or diff["ci_high"] < 0  # significantly different
    ma, mb = a["scores"]["crps"], b["scores"]["crps"]
    independent = np.hypot(ma["ci_high"] - ma["ci_low"], mb["ci_high"] - mb["ci_low"])
    assert diff["ci_high"] - diff["ci_low"] < independent / 1.3
    assert ma["ci_low"] < mb["ci_high"] and mb["ci_low"] < ma["ci_high"]  # marginals overlap


# --- attacks found by the audit of protocol 2 ---------------------------------------------------


def test_chosen_ensemble_members_do_not_game_the_crps(world, scored):
    """Two members {0, 1000} around every observation scored 0 under the fair estimator. The
    ranked CRPS is that of the ensemble's empirical distribution: L/4 for {0, L}; and such an
    ensemble is not admissible anyway (fewer than 20 members)."""
    d = world
    n = d["ref"].shape[0]
    two = np.zeros((n, 2) + d["ref"].shape[1:], np.float32)
    two[:, 1] = 1000.0
    res = _score(d, samples=two, n_boot=10)
    # E|X - y| - |0 - 1000| / 4 = 500 - 250 for every 0 <= y <= 1000
    assert res["scores"]["crps"]["value"] == pytest.approx(250.0, rel=1e-6)
    assert res["scores"]["crps_fair"]["value"] < 1e-3  # the exploited diagnostic
    assert res["forecast"]["admissible"] is False and "members" in res["forecast"]["reason"]
    assert res["scores"]["coverage_90"]["value"] is None
    three = np.concatenate([two, d["centre"][:, None].astype(np.float32)], axis=1)
    r3 = _score(d, samples=three, n_boot=10)
    assert r3["scores"]["crps"]["value"] > 10 * _v(scored["good35"], "crps")


def test_calibrated_sedi_does_not_reward_a_quantised_retrieval(world):
    """Setting the top 2 % of a retrieval to one value (a tie at a bin edge) must not raise its
    calibrated SEDI; the rank-based reading matches a direct computation with random
    tie-breaking."""
    d = world
    honest = d["centre"]
    t = np.quantile(honest, 0.98)
    tied = np.where(honest >= t, 10.0, np.minimum(honest, 9.99)).astype(np.float32)
    h = _v(_score(d, point=honest, n_boot=5), "sedi_p99_calibrated")
    q = _v(_score(d, point=tied, n_boot=5), "sedi_p99_calibrated")
    assert q < h - 0.05
    assert q == pytest.approx(_direct_calibrated_sedi(d["ref"], tied, 0.99), abs=0.02)
    assert h == pytest.approx(_direct_calibrated_sedi(d["ref"], honest, 0.99), abs=0.02)


def _direct_calibrated_sedi(ref, ret, p):
    """Each field's top (1 - p) n pixels, ties broken at random: SEDI from the pixels."""
    from tailshift.metrics.kernels import sedi

    rng = np.random.default_rng(0)
    r, f = ref.ravel().astype(float), ret.ravel().astype(float)
    n = r.size
    k = int(round((1 - p) * n))
    eo = np.zeros(n, bool)
    ef = np.zeros(n, bool)
    eo[np.lexsort((rng.random(n), r))[::-1][:k]] = True
    ef[np.lexsort((rng.random(n), f))[::-1][:k]] = True
    a = int((eo & ef).sum())
    b, c = int((~eo & ef).sum()), int((eo & ~ef).sum())
    return float(sedi(a, b, c, n - a - b - c))


def test_one_planted_pixel_does_not_set_the_return_level():
    """A retrieval with no tail plus one planted extreme pixel: the peaks-over-threshold level
    falls back to the empirical quantile capped at the threshold, not to the planted value."""
    rng = np.random.default_rng(0)
    n = 3000
    ref = rng.lognormal(1.0, 0.6, (n, 2, 2)).astype(np.float32)
    mx = ref.reshape(n, -1).max(1)
    cap = np.float32(0.98 * np.quantile(mx, 0.9))
    ret = np.minimum(ref, cap)
    ret[17, 0, 0] = 10 * mx.max()
    cfg = CardConfig(n_boot=30, group_dims=(), metrics=("pot_rl_ratio_1000",))
    res = ScoreCard(cfg).update(ref, point=ret, scene=np.arange(n)).finalize()
    s = res["scores"]["pot_rl_ratio_1000"]
    assert s["value"] < 0.6 and s["ci_high"] < 0.6


def test_trend_flag_is_an_equivalence_test(world):
    """A noisy, biased trend is inconclusive (None), not "consistent"; a constant multiplicative
    bias does not change any scaling rate by more than 0.2 %/K."""
    d = world
    rng = np.random.default_rng(4)
    noise = np.exp(0.6 * rng.standard_normal(d["ref"].shape[0]))[:, None, None]
    noisy = (d["ref"] * np.exp(-0.03 * d["warming"])[:, None, None] * noise).astype(np.float32)
    res = _score(d, point=noisy, n_boot=40)
    for st in ("mean", "p99", "p999"):
        assert _v(res, f"scaling_consistent_{st}") is not True
        if _v(res, f"scaling_consistent_{st}") is None:
            assert "inconclusive" in res["undefined"][f"scaling_consistent_{st}"]
    base = _score(d, point=d["ref"], n_boot=0)
    for c in (0.5, 0.9, 2.0):
        r = _score(d, point=(c * d["ref"]).astype(np.float32), n_boot=0)
        for st in ("mean", "p99", "p999"):
            assert abs(_v(r, f"scaling_{st}") - _v(base, f"scaling_{st}")) < 0.2, (c, st)
