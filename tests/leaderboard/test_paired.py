"""Paired bootstrap differences (metrics/paired.py) and their use by the leaderboard.

Two synthetic submissions share the scene-bootstrap replicates' big common component (a hard
resample is hard for both): A = base + 0.013 + small noise, B = base, with base spread wide. The
paired CI of A - B then excludes 0 and is far narrower than the independent combination of the
two marginal CIs, which straddles 0.
"""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tailshift.leaderboard.build import build_site
from tailshift.leaderboard.reader import normalise
from tailshift.leaderboard.testing import fake_result
from tailshift.metrics.paired import (
    compare_results,
    data_identity,
    paired_difference,
    percentile,
    replicates_of,
)
from tests.leaderboard.test_browser import _chromium

N_REP = 200
ROLE = "ood_test"


def _r6(x: np.ndarray) -> list[float]:
    """6 significant digits, as the site embeds them: the test values survive the round trip."""
    return [float(f"{v:.6g}") for v in x]


def _attach(result: dict, metric: str, full: float, reps: list[float | None], *,
            role: str = ROLE, unit: str = "scene", seed: int = 0) -> dict:
    """Set ``metric``'s full-sample value, its percentile CI and its replicates in ``role``."""
    block = result["roles"][role]
    finite = np.array([v for v in reps if v is not None])
    lo, hi = np.percentile(finite, [2.5, 97.5])
    block["scores"][metric] = {"value": full, "ci_low": float(lo), "ci_high": float(hi)}
    r = block.setdefault("replicates", {}).setdefault(unit, {"seed": seed, "n": len(reps),
                                                             "metrics": {}})
    r["metrics"][metric] = list(reps)
    return result


def _pair(seed: int = 0) -> tuple[dict, dict]:
    """Results 'worse' (A: CRPS = base + 0.013 + noise) and 'better' (B: CRPS = base)."""
    rng = np.random.default_rng(seed)
    base = 0.04 + rng.normal(0, 0.01, N_REP)  # wide: shared by both submissions
    a_rep = _r6(base + 0.013 + rng.normal(0, 0.0005, N_REP))
    b_rep = _r6(base)
    a = fake_result("worse", "temporal", seed=1, curves=False)
    b = fake_result("better", "temporal", seed=2, curves=False)
    _attach(a, "crps", 0.053, a_rep)
    _attach(b, "crps", 0.040, b_rep)
    # a target metric (rl_ratio_10 -> 1) on block replicates: A near 1, B far below
    t = rng.normal(0, 0.01, N_REP)
    _attach(a, "rl_ratio_10", 0.99, _r6(0.99 + t + rng.normal(0, 0.005, N_REP)), unit="block",
            seed=7919)
    _attach(b, "rl_ratio_10", 0.90, _r6(0.90 + t), unit="block", seed=7919)
    return a, b


def _strip(result: dict) -> dict:
    out = copy.deepcopy(result)
    for block in out["roles"].values():
        block.pop("replicates", None)
    return out


def _independent_halfwidth(sa: dict, sb: dict) -> float:
    z = 1.959963984540054
    return z * np.hypot((sa["ci_high"] - sa["ci_low"]) / (2 * z),
                        (sb["ci_high"] - sb["ci_low"]) / (2 * z))


def test_paired_ci_excludes_zero_and_is_much_narrower():
    a, b = _pair()
    ra, rb = a["roles"][ROLE], b["roles"][ROLE]
    p = paired_difference(ra, rb, "crps", split_a=data_identity(a), split_b=data_identity(b))
    d = np.array(ra["replicates"]["scene"]["metrics"]["crps"]) - np.array(
        rb["replicates"]["scene"]["metrics"]["crps"])
    assert p["value"] == pytest.approx(0.013)
    assert (p["ci_low"], p["ci_high"]) == tuple(np.percentile(d, [2.5, 97.5]))
    assert p["n"] == N_REP and p["paired"] is True
    assert 0.011 < p["ci_low"] < 0.013 < p["ci_high"] < 0.015
    h = _independent_halfwidth(ra["scores"]["crps"], rb["scores"]["crps"])
    assert 0.013 - h < 0 < 0.013 + h  # the independent combination says "no difference"
    assert (p["ci_high"] - p["ci_low"]) < 0.1 * 2 * h
    # symmetric: B - A is the mirror image
    q = paired_difference(rb, ra, "crps")
    assert (q["value"], q["ci_low"], q["ci_high"]) == pytest.approx(
        (-p["value"], -p["ci_high"], -p["ci_low"]), abs=1e-15)


def test_target_metric_compares_the_distance_to_the_target():
    a, b = _pair()
    ra, rb = a["roles"][ROLE], b["roles"][ROLE]
    p = paired_difference(ra, rb, "rl_ratio_10", target=1.0)
    assert p["value"] == pytest.approx(abs(0.99 - 1) - abs(0.90 - 1))
    va = np.array(ra["replicates"]["block"]["metrics"]["rl_ratio_10"])
    vb = np.array(rb["replicates"]["block"]["metrics"]["rl_ratio_10"])
    assert (p["ci_low"], p["ci_high"]) == tuple(
        np.percentile(np.abs(va - 1) - np.abs(vb - 1), [2.5, 97.5]))
    assert p["ci_high"] < 0 and p["unit"] == "block" and p["seed"] == 7919


def test_null_replicates_are_dropped_and_level_is_honoured():
    a, b = _pair()
    ra, rb = a["roles"][ROLE], b["roles"][ROLE]
    ra["replicates"]["scene"]["metrics"]["crps"][3] = None
    rb["replicates"]["scene"]["metrics"]["crps"][7] = None
    p = paired_difference(ra, rb, "crps", level=0.9)
    assert p["n"] == N_REP - 2
    d = np.array([x - y for x, y in zip(ra["replicates"]["scene"]["metrics"]["crps"],
                                        rb["replicates"]["scene"]["metrics"]["crps"], strict=True)
                  if x is not None and y is not None])
    assert (p["ci_low"], p["ci_high"]) == tuple(np.percentile(d, [5, 95]))


@pytest.mark.parametrize("change, word", [
    (lambda ra, rb: ra["replicates"]["scene"].__setitem__("seed", 1), "seed"),
    (lambda ra, rb: ra["replicates"]["scene"].update(
        n=N_REP - 1, metrics={"crps": ra["replicates"]["scene"]["metrics"]["crps"][:-1]}), "n"),
    (lambda ra, rb: ra["replicates"].__setitem__("block", ra["replicates"].pop("scene")), "unit"),
    (lambda ra, rb: ra.__setitem__("n_scenes", 99), "n_scenes"),
    (lambda ra, rb: rb.pop("replicates"), "no bootstrap replicates"),
    (lambda ra, rb: rb["replicates"]["scene"]["metrics"].pop("crps"), "for B"),
])
def test_unpairable_roles_raise_value_error_naming_why(change, word):
    a, b = _pair()
    ra, rb = a["roles"][ROLE], b["roles"][ROLE]
    change(ra, rb)
    with pytest.raises(ValueError, match=word):
        paired_difference(ra, rb, "crps")


def test_different_split_or_dataset_cannot_be_paired():
    a, b = _pair()
    b["dataset"]["checksum"] = "sha256:other"
    with pytest.raises(ValueError, match="different data"):
        paired_difference(a["roles"][ROLE], b["roles"][ROLE], "crps",
                          split_a=data_identity(a), split_b=data_identity(b))
    with pytest.raises(TypeError):
        paired_difference(a["roles"][ROLE], b["roles"][ROLE], "crps", split_a=data_identity(a))
    rows = {r["metric"]: r for r in compare_results(a, b, metrics=["crps"])}
    assert rows["crps"]["rule"] == "independent" and "different data" in rows["crps"]["reason"]


def test_replicates_of():
    a, _ = _pair()
    role = a["roles"][ROLE]
    unit, seed, n, v = replicates_of(role, "crps")
    assert (unit, seed, n, v.shape) == ("scene", 0, N_REP, (N_REP,))
    assert replicates_of(role, "rl_ratio_10")[:3] == ("block", 7919, N_REP)
    assert replicates_of(role, "sedi_p99") is None
    assert replicates_of({"scores": {}}, "crps") is None and replicates_of(None, "crps") is None
    role["replicates"]["scene"]["metrics"]["crps"][0] = None
    assert np.isnan(replicates_of(role, "crps")[3][0])
    role["replicates"]["scene"]["metrics"]["crps"].pop()
    with pytest.raises(ValueError, match="n=200"):
        replicates_of(role, "crps")


def test_percentile_matches_numpy():
    x = [3.0, -1.5, 0.25, 7.0, 2.0, None, 0.0, 1e-9]
    v = np.array([t for t in x if t is not None])
    for p in (0.0, 0.025, 0.1, 0.5, 0.975, 1.0):
        assert percentile(x, p) == np.percentile(v, 100 * p)


def test_compare_results_rows_rules_and_verdicts():
    a, b = _pair()
    rows = {r["metric"]: r for r in compare_results(a, b)}
    crps = rows["crps"]
    assert crps["rule"] == "paired" and crps["verdict"] == "B better"  # CRPS: lower is better
    assert crps["difference"] == pytest.approx(0.013) and crps["ci_low"] > 0
    assert (crps["value_a"], crps["value_b"]) == (0.053, 0.040) and crps["n"] == N_REP
    rl = rows["rl_ratio_10"]
    assert rl["rule"] == "paired" and rl["verdict"] == "A better" and rl["target"] == 1.0
    sedi = rows["sedi_p99"]  # no replicates: the independent normal approximation
    assert sedi["rule"] == "independent" and "no bootstrap replicates" in sedi["reason"]
    assert "scaling_in_cmip_range_p999" not in rows  # a flag, not a number
    # without replicates the same pair is "no difference" under the independent rule
    plain = {r["metric"]: r for r in compare_results(_strip(a), _strip(b), metrics=["crps"])}
    c = plain["crps"]
    h = _independent_halfwidth(a["roles"][ROLE]["scores"]["crps"],
                               b["roles"][ROLE]["scores"]["crps"])
    assert c["rule"] == "independent" and c["verdict"] == "no difference"
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((0.013 - h, 0.013 + h))
    with pytest.raises(ValueError, match="nope"):
        compare_results(a, b, metrics=["nope"])


def test_reader_keeps_replicates_and_drops_malformed_ones():
    a, _ = _pair()
    data, warn = normalise(a)
    assert warn == []
    assert data["roles"][ROLE]["replicates"]["scene"]["metrics"]["crps"] == \
        a["roles"][ROLE]["replicates"]["scene"]["metrics"]["crps"]
    assert data["roles"]["id_test"]["replicates"] == {}
    bad = copy.deepcopy(a)
    bad["roles"][ROLE]["replicates"]["scene"]["metrics"]["crps"].pop()
    bad["roles"][ROLE]["replicates"]["block"]["seed"] = "x"
    data, warn = normalise(bad)
    assert "crps" not in data["roles"][ROLE]["replicates"]["scene"]["metrics"]
    assert "block" not in data["roles"][ROLE]["replicates"]
    assert any("crps" in w for w in warn) and any("block" in w for w in warn)


def _build(tmp_path: Path, results: list[dict]) -> dict:
    for r in results:
        path = tmp_path / "r" / r["split"]["name"] / f"{r['submission']['name']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r), encoding="utf-8")
    report = build_site(tmp_path / "r", tmp_path / "site", jobs=1)
    assert not report.skipped
    return json.loads((tmp_path / "site" / "leaderboard.json").read_text())


def test_paired_replicates_break_the_tie_and_the_page_says_so(tmp_path):
    a, b = _pair()
    data = _build(tmp_path / "paired", [a, b])
    (sp,) = data["splits"]
    ranks = {s["name"]: s["rank_text"] for s in sp["submissions"]}
    assert ranks == {"better": "1", "worse": "2"}
    assert sp["rank_by"]["paired_pairs"] == 1 and sp["rank_by"]["overlap_pairs"] == 0
    index = (tmp_path / "paired" / "site" / "index.html").read_text()
    assert "Ranked by paired bootstrap differences" in index
    # the same files without replicates: the old overlap rule, a tie
    data = _build(tmp_path / "plain", [_strip(a), _strip(b)])
    (sp,) = data["splits"]
    assert {s["name"]: s["rank_text"] for s in sp["submissions"]} == {"better": "=1", "worse": "=1"}
    assert sp["rank_by"]["paired_pairs"] == 0 and sp["rank_by"]["overlap_pairs"] == 1
    index = (tmp_path / "plain" / "site" / "index.html").read_text()
    assert "Ranked by overlapping CIs" in index
    # one submission without replicates: its pairs fall back, and the note says so
    c = _strip(fake_result("third", "temporal", seed=3, curves=False))
    c["roles"][ROLE]["scores"]["crps"] = {"value": 0.045, "ci_low": 0.03, "ci_high": 0.06}
    data = _build(tmp_path / "mixed", [a, b, c])
    (sp,) = data["splits"]
    assert {s["name"]: s["rank_text"] for s in sp["submissions"]} == {
        "better": "=1", "third": "=1", "worse": "2"}
    assert (sp["rank_by"]["paired_pairs"], sp["rank_by"]["overlap_pairs"]) == (1, 2)
    assert "for 1 of 3 pairs" in (tmp_path / "mixed" / "site" / "index.html").read_text()


def _compare_blob(site: Path) -> dict:
    text = (site / "compare.html").read_text(encoding="utf-8")
    return json.loads(text.split('<script type="application/json" id="lb-data">')[1]
                      .split("</script>")[0])


def test_compare_json_carries_only_the_replicates_it_needs(tmp_path):
    a, b = _pair()
    a["roles"]["id_test"]["replicates"] = {"scene": {"seed": 0, "n": 3, "metrics": {
        "crps": [0.1234567891, None, 0.3], "unknown_metric": [1.0, 2.0, 3.0],
        "mae": [1.0, 2.0, 3.0]}}}
    b["roles"]["id_test"]["replicates"] = {"scene": {"seed": 0, "n": 3, "metrics": {
        "crps": [0.2, 0.1, 0.3], "unknown_metric": [1.0, 2.0, 3.0]}}}
    _build(tmp_path, [a, b])
    blob = _compare_blob(tmp_path / "site")
    subs = {s["name"]: s for s in blob["splits"][0]["submissions"]}
    rep = subs["worse"]["replicates"]
    assert set(rep) == {ROLE, "id_test"}
    assert set(rep[ROLE]["m"]) == {"crps", "rl_ratio_10"}
    assert len(rep[ROLE]["keys"]) == 2  # scene and block replicates
    # not shown on the page (unknown_metric) or without a partner (mae): left out
    assert set(rep["id_test"]["m"]) == {"crps"}
    assert rep["id_test"]["m"]["crps"]["v"] == [0.123457, None, 0.3]  # 6 significant digits
    crps = rep[ROLE]["m"]["crps"]
    assert crps["v"] == a["roles"][ROLE]["replicates"]["scene"]["metrics"]["crps"]
    better = subs["better"]["replicates"][ROLE]
    assert rep[ROLE]["keys"][crps["k"]] == better["keys"][better["m"]["crps"]["k"]]
    # without partners nothing is embedded
    _build(tmp_path / "alone", [a, _strip(b)])
    blob = _compare_blob(tmp_path / "alone" / "site")
    assert all("replicates" not in s for s in blob["splits"][0]["submissions"])


# --- in a real browser (headless chromium) ---------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
browser = pytest.mark.skipif(CHROMIUM is None, reason="needs the `chromium` package")


def _dump_dom(url: str, profile: Path) -> str:
    res = _chromium(["--virtual-time-budget=10000", "--dump-dom", url], profile)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@browser
@pytest.mark.browser
@pytest.mark.slow
def test_js_percentile_equals_numpy(tmp_path):
    static = Path(__file__).resolve().parents[2] / "leaderboard" / "static"
    shutil.copy(static / "compare.js", tmp_path / "compare.js")
    rng = np.random.default_rng(5)
    vectors = [rng.normal(0, 1, 200).tolist(), rng.lognormal(0, 2, 37).tolist(), [2.0],
               [1.0, None, 3.0, -4.5, 0.1]]
    qs = [0.0, 0.025, (100 * 0.025000000000000022) / 100, 0.1, 0.5, 0.9, 0.975, 1.0]
    probe = "\n".join([
        f"var V = {json.dumps(vectors)}, Q = {json.dumps(qs)};",
        "var out = V.map(function (v) { return Q.map(function (q) {",
        "  return window.TailShiftCompare.percentile(v, q); }); });",
        "var pre = document.createElement('pre'); pre.id = 'out';",
        "pre.textContent = JSON.stringify(out); document.body.appendChild(pre);", ""])
    (tmp_path / "probe.js").write_text(probe, encoding="utf-8")
    page = "".join([
        '<!DOCTYPE html><html><body><script type="application/json" id="lb-data">',
        '{"splits": [], "groups": [], "headline": [], "metrics": {}}</script>',
        '<script src="compare.js"></script><script src="probe.js"></script></body></html>'])
    (tmp_path / "probe.html").write_text(page, encoding="utf-8")
    dom = _dump_dom((tmp_path / "probe.html").as_uri(), tmp_path / "profile")
    m = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert m, dom[-1000:]
    got = json.loads(html.unescape(m.group(1)))
    for v, row in zip(vectors, got, strict=True):
        arr = np.array([x for x in v if x is not None])
        assert row == [float(np.percentile(arr, 100 * q)) for q in qs]  # bit for bit


@browser
@pytest.mark.browser
@pytest.mark.slow
def test_compare_page_shows_the_python_paired_ci(tmp_path):
    a, b = _pair()
    _build(tmp_path, [a, b])
    page = tmp_path / "site" / "compare.html"
    dom = _dump_dom(page.as_uri() + "#selftest", tmp_path / "profile")
    assert 'data-selftest="ok"' in dom, dom[-1500:]
    # the self-test leaves A = first (rank 1: "better") and B = last ("worse"): B - A
    p = paired_difference(a["roles"][ROLE], b["roles"][ROLE], "crps")
    row = dom.split("<code>crps</code>")[1].split("</tr>")[0]
    ood = re.findall(r'<td class="num diffcell">(.*?)</td>', row)[0]
    lo = float(re.search(r'data-lo="([^"]+)"', ood).group(1))
    hi = float(re.search(r'data-hi="([^"]+)"', ood).group(1))
    assert (lo, hi) == (p["ci_low"], p["ci_high"])
    assert "paired bootstrap" in ood and "A better" in ood
    gap = re.findall(r'<td class="num diffcell">(.*?)</td>', row)[2]
    assert "independent (no paired replicates)" in gap
    sedi = re.findall(r'<td class="num diffcell">(.*?)</td>',
                      dom.split("<code>sedi_p99</code>")[1].split("</tr>")[0])[0]
    assert "independent (no paired replicates)" in sedi
    rl = re.findall(r'<td class="num diffcell">(.*?)</td>',
                    dom.split("<code>rl_ratio_10</code>")[1].split("</tr>")[0])[0]
    assert "paired bootstrap" in rl and "B closer to target" in rl  # B is 'worse' here: 0.99
