"""Unit tests of the static leaderboard builder (issue 5)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

import tailshift.leaderboard.build as lb
from tailshift.app.cli import main
from tailshift.errors import BadInputError
from tailshift.leaderboard import plots
from tailshift.leaderboard.build import SITE_MARKER, build_site
from tailshift.leaderboard.columns import GROUPS, HEADLINE
from tailshift.leaderboard.display import fmt
from tailshift.leaderboard.exports import csv_text
from tailshift.leaderboard.ranking import rank_with_ties
from tailshift.leaderboard.reader import normalise
from tailshift.leaderboard.testing import fake_result, slugify, write_fake_results

XSS = "<script>alert(1)</script>"
NAMES = ("quantile-unet", "hybrid-unet", XSS)


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def _bad_files(results: Path) -> dict[str, str]:
    """Malformed and foreign files, by relative path -> a word the skip reason must contain."""
    _write(results / "temporal" / "broken.json", '{"schema_version": 2, "submission": ')
    _write(results / "temporal" / "old.json",
                {**fake_result("old protocol", "temporal"), "schema_version": 1})
    _write(results / "temporal" / "foreign.json", {"model": "resnet", "accuracy": 0.9})
    _write(
        results / "temporal" / "v2.json", {**fake_result("future", "temporal"), "schema_version": 3}
    )
    _write(results / "temporal" / "list.json", [1, 2, 3])
    bad_score = fake_result("bad-score", "temporal")
    bad_score["roles"]["ood_test"]["scores"]["crps"]["value"] = "0.3"
    _write(results / "temporal" / "bad-score.json", bad_score)
    no_name = fake_result("x", "temporal")
    no_name["submission"]["name"] = ""
    _write(results / "temporal" / "no-name.json", no_name)
    (results / "temporal" / "latin1.json").write_bytes(b'{"name": "\xe9"}')
    return {
        "temporal/broken.json": "JSON",
        "temporal/foreign.json": "schema_version",
        "temporal/v2.json": "schema_version",
        "temporal/old.json": "protocol 1",
        "temporal/list.json": "object",
        "temporal/bad-score.json": "crps",
        "temporal/no-name.json": "name",
        "temporal/latin1.json": "read",
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One site built from 3 submissions x 2 splits (one named like an XSS), plus bad files."""
    root = tmp_path_factory.mktemp("lb")
    results = root / "results"
    write_fake_results(results, names=NAMES, splits=("temporal",), size=10)
    write_fake_results(results, names=NAMES, splits=("regime",), curves=False)  # fewer plots
    bad = _bad_files(results)
    # a valid file with a malformed optional part: kept, with a warning
    odd = fake_result("odd-curves", "regime", seed=7, size=10)
    odd["roles"]["ood_test"]["curves"]["qq"]["p"] = [0.9]
    odd["roles"]["id_test"]["examples"][0]["median"] = [[1.0, 2.0], [3.0]]  # ragged
    odd["roles"]["id_test"]["examples"][1]["q99"] = "nope"
    _write(results / "regime" / "odd-curves.json", odd)
    # a valid file with only the ID role and no curves: unranked, no plots
    minimal = fake_result("id-only", "regime", seed=8, roles=("id_test",), size=10)
    for block in minimal["roles"].values():
        block.pop("curves")
        block.pop("examples")
        block.pop("groups")
        block.pop("worst_group")
    _write(results / "regime" / "id-only.json", minimal)
    # a duplicate of a valid submission: skipped, the first (path order) kept
    _write(results / "regime" / "zz-duplicate.json", fake_result("hybrid-unet", "regime", seed=9))
    (results / "README.md").write_text("not a result", encoding="utf-8")
    (results / "regime" / ".hidden.json").write_text("{", encoding="utf-8")
    out = root / "site"
    report = build_site(results, out, jobs=2)
    return {"root": root, "results": results, "out": out, "report": report, "bad": bad}


def _read(site, rel: str) -> str:
    return (site["out"] / rel).read_text(encoding="utf-8")


def test_bad_files_are_reported_and_skipped_not_fatal(site):
    report = site["report"]
    reasons = {s.path: s.reason for s in report.skipped}
    for rel, word in site["bad"].items():
        assert rel in reasons, f"{rel} not reported"
        assert word.lower() in reasons[rel].lower(), reasons[rel]
    assert (
        "regime/zz-duplicate.json" in reasons and "duplicate" in reasons["regime/zz-duplicate.json"]
    )
    assert not any(".hidden" in p or "README" in p for p in reasons)
    # every valid file is used: 3 x 2 fakes + odd-curves + id-only
    assert report.n_results == 8
    assert report.splits == ("regime", "temporal")
    index = _read(site, "index.html")
    assert "Skipped files" in index and "temporal/broken.json" in index


def test_index_has_one_section_per_split_with_hash_checksum_and_rows(site):
    index = _read(site, "index.html")
    data = json.loads(_read(site, "leaderboard.json"))
    for sp in data["splits"]:
        assert f'id="{sp["name"]}"' in index
        for h in sp["hashes"]:
            assert h in index
        for c in sp["dataset_checksums"]:
            assert c in index
    assert index.count('<section class="split"') == 2
    assert "quantile-unet" in index and "hybrid-unet" in index and "id-only" in index
    # every headline metric is a column of each role group and of the gap
    tbl = index.split('id="tbl-temporal"')[1].split("</table>")[0]
    assert tbl.count('<th class="sort num') == len(GROUPS) * len(HEADLINE)
    # training sources shown
    assert '<span class="src src-sim">sim</span>' in index
    # the hybrid trained on both sources; filter options offered
    assert '<option value="obs+sim">obs+sim</option>' in index


def test_xss_name_is_escaped_everywhere(site):
    slug_page = site["out"] / "s" / "temporal" / "script-alert-1-script.html"
    assert slug_page.exists()
    for rel in ("index.html", "compare.html", "s/temporal/script-alert-1-script.html"):
        text = _read(site, rel)
        assert "<script>alert(1)" not in text, rel
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _read(site, "index.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _read(
        site, "s/temporal/script-alert-1-script.html"
    )
    compare = _read(site, "compare.html")
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in compare
    # scripts are only the site's own files (plus the non-executed JSON block)
    for rel in ("index.html", "compare.html"):
        tags = re.findall(r"<script[^>]*>", _read(site, rel))
        assert all('src="' in t or 'type="application/json"' in t for t in tags), tags


def test_ranks_follow_ood_crps_with_ties(site):
    data = json.loads(_read(site, "leaderboard.json"))
    for sp in data["splits"]:
        ranked = [s for s in sp["submissions"] if s["rank"] is not None]
        crps = [s["scores"]["ood_test"]["crps"] for s in ranked]
        for a, b, sa, sb in zip(crps, crps[1:], ranked, ranked[1:], strict=False):
            assert sa["rank"] <= sb["rank"]
            if a["ci_high"] < b["ci_low"]:
                assert sa["rank"] < sb["rank"]
            else:
                assert sa["rank"] <= sb["rank"]
    regime = next(sp for sp in data["splits"] if sp["name"] == "regime")
    id_only = next(s for s in regime["submissions"] if s["name"] == "id-only")
    assert id_only["rank"] is None and id_only["rank_text"] == "—"
    assert regime["submissions"][-1]["name"] == "id-only"  # unranked last


def test_rank_with_ties_unit():
    lower = {"higher_is_better": False, "target": None}
    s = [
        {"value": 1.0, "ci_low": 0.9, "ci_high": 1.1},
        {"value": 1.05, "ci_low": 1.0, "ci_high": 1.2},  # overlaps the first: shares rank 1
        {"value": 2.0, "ci_low": 1.9, "ci_high": 2.1},  # both better: rank 3
        None,
        {"value": 3.0, "ci_low": None, "ci_high": None},
    ]  # no CI: the point value
    assert rank_with_ties(s, lower) == [1, 1, 3, None, 4]
    higher = {"higher_is_better": True, "target": None}
    assert rank_with_ties(s, higher) == [3, 3, 2, None, 1]
    target = {"higher_is_better": None, "target": 1.0}
    t = [
        {"value": 1.02, "ci_low": 0.98, "ci_high": 1.05},
        {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8},
        {"value": 1.3, "ci_low": 1.25, "ci_high": 1.35},
    ]
    assert rank_with_ties(t, target) == [1, 2, 2]  # |0.7-1| and |1.3-1| CIs overlap

    # paired replicates (metrics/paired.py): the paired CI of the difference decides
    def role(score, reps, seed=0, n_scenes=50):
        return {"n_scenes": n_scenes, "scores": {"crps": score},
                "replicates": {"scene": {"seed": seed, "n": len(reps), "metrics": {"crps": reps}}}}

    base = [1.0 + 0.1 * ((7 * k) % 11 - 5) for k in range(40)]  # wide common component
    pa = {"value": 1.0, "ci_low": 0.5, "ci_high": 1.5}
    pb = {"value": 1.02, "ci_low": 0.52, "ci_high": 1.52}  # CIs overlap: tie under the old rule
    ra = role(pa, base)
    rb = role(pb, [v + 0.02 + 0.001 * (k % 3) for k, v in enumerate(base)])
    assert rank_with_ties([pa, pb], lower) == [1, 1]
    assert rank_with_ties([pa, pb], lower, roles=[ra, rb]) == [1, 2]
    assert rank_with_ties([pa, pb], higher, roles=[ra, rb]) == [2, 1]
    assert rank_with_ties([pa, pb], lower, roles=[ra, None]) == [1, 1]  # no replicates: fallback
    assert rank_with_ties([pa, pb], lower, roles=[ra, role(pb, rb["replicates"]["scene"]
                                                           ["metrics"]["crps"], seed=1)]) == [1, 1]
    assert rank_with_ties([pa, pb], lower, roles=[ra, rb], identities=["x", "y"]) == [1, 1]
    assert rank_with_ties([pa, None], lower, roles=[ra, rb]) == [1, None]
    # target metric: the paired CI of |v - t| decides
    pt = {"value": 0.99, "ci_low": 0.5, "ci_high": 1.5}
    rt = role(pt, [v - 0.01 for v in base])
    ru = role(pb, [v + 0.2 for v in base])
    assert rank_with_ties([pt, pb], target, roles=[rt, ru]) == [1, 1]  # |v - 1| straddles
    near = [1.0 + 0.01 * ((7 * k) % 11 - 5) for k in range(40)]
    rt, ru = role(pt, [v - 0.01 for v in near]), role(pb, [v + 0.2 for v in near])
    assert rank_with_ties([pt, {**pb, "value": 1.2}], target, roles=[rt, ru]) == [1, 2]
    # significance is closed transitively: X > A and A > B (paired) give B rank 3 even though
    # the paired CI of X - B includes 0 (each difference has 2 bad replicates, not the same)
    e1 = [-10.0 if k in (0, 1) else 1.0 for k in range(100)]
    e2 = [-10.0 if k in (2, 3) else 1.0 for k in range(100)]
    zero = [0.0] * 100
    a_rep = [-0.001 * y for y in e2]
    x_rep = [u - 0.001 * y for u, y in zip(a_rep, e1, strict=True)]
    wide = [{"value": v, "ci_low": v - 1, "ci_high": v + 1} for v in (-0.002, -0.001, 0.0)]
    roles3 = [role(wide[0], x_rep), role(wide[1], a_rep), role(wide[2], zero)]
    assert rank_with_ties(wide, lower, roles=roles3) == [1, 2, 3]
    assert rank_with_ties(wide[::2], lower, roles=roles3[::2]) == [1, 1]  # X vs B alone: tie


def test_shared_rank_is_displayed_with_equals(tmp_path):
    results = tmp_path / "r"
    for i, name in enumerate(("a", "b")):
        res = fake_result(name, "iid", seed=i, curves=False)
        res["roles"]["ood_test"]["scores"]["crps"] = {
            "value": 0.3 + 0.01 * i,
            "ci_low": 0.25,
            "ci_high": 0.35,
        }
        _write(results / "iid" / f"{name}.json", res)
    report = build_site(results, tmp_path / "site", jobs=1)
    index = report.index.read_text(encoding="utf-8")
    assert index.count('<td class="rank" data-v="1">=1</td>') == 2


def test_submission_page_lists_every_metric_group_and_worst(site):
    page = _read(site, "s/temporal/quantile-unet.html")
    res = json.loads((site["results"] / "temporal" / "quantile-unet.json").read_text())
    for m in res["metrics"]:
        assert f"<code>{m}</code>" in page
    for dim in ("regime", "surface_type", "intensity_bin"):
        assert f"by {dim}" in page
    assert page.count('class="num worst"') >= 2 * len(res["roles"]["id_test"]["worst_group"]) - 2
    assert res["split"]["hash"] in page and res["dataset"]["checksum"] in page
    for key in (
        "qq",
        "return_levels",
        "calibration",
        "scaling",
        "by_regime",
        "examples_id_test",
        "examples_ood_test",
    ):
        svg = site["out"] / "s" / "temporal" / "quantile-unet" / f"{key}.svg"
        assert svg.exists(), key
        assert f'src="quantile-unet/{key}.svg"' in page
        assert svg.stat().st_size < 150_000
        head = svg.read_bytes()[:400]
        assert b"<svg" in svg.read_bytes()[:2000] and b"Date" not in head


def test_role_names_from_files_cannot_escape_the_site(tmp_path):
    res = fake_result("weird roles", "iid", seed=1, size=6)
    res["roles"] = {"../../../evil": res["roles"]["id_test"], "<b>x</b>": res["roles"]["ood_test"]}
    _write(tmp_path / "r" / "iid" / "weird.json", res)
    report = build_site(tmp_path / "r", tmp_path / "site", jobs=1)
    assert report.n_results == 1 and not report.skipped
    files = [p for p in tmp_path.rglob("*.svg")]
    assert files and all((tmp_path / "site") in p.parents for p in files)
    assert {p.name for p in files} >= {"examples_evil.svg", "examples_b-x-b.svg"}
    page = (tmp_path / "site" / "s" / "iid" / "weird-roles.html").read_text()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_malformed_optional_part_is_dropped_with_warning(site):
    report = site["report"]
    assert any("odd-curves.json" in w and "qq" in w for w in report.warnings)
    assert any("odd-curves.json" in w and "examples" in w for w in report.warnings)
    page = _read(site, "s/regime/odd-curves.html")
    assert "could not be shown" in page
    folder = site["out"] / "s" / "regime" / "odd-curves"
    assert (folder / "qq.svg").exists()  # the ID role still has a QQ curve
    assert not (folder / "examples_id_test.svg").exists()  # both scenes malformed: no figure
    assert (folder / "examples_ood_test.svg").exists()
    minimal = _read(site, "s/regime/id-only.html")
    assert "<img" not in minimal and "id_test" not in minimal.split("<h2>Plots")[0][-1:]


def test_json_and_csv_exports_agree(site):
    data = json.loads(_read(site, "leaderboard.json"))
    rows = list(csv.DictReader(io.StringIO(_read(site, "leaderboard.csv"))))
    n = sum(
        len(scores)
        for sp in data["splits"]
        for sub in sp["submissions"]
        for scores in sub["scores"].values()
    )
    assert len(rows) == n
    row = next(
        r
        for r in rows
        if r["submission"] == "quantile-unet"
        and r["split"] == "temporal"
        and r["role"] == "ood_test"
        and r["metric"] == "crps"
    )
    sub = next(
        s
        for sp in data["splits"]
        if sp["name"] == "temporal"
        for s in sp["submissions"]
        if s["name"] == "quantile-unet"
    )
    assert float(row["value"]) == sub["scores"]["ood_test"]["crps"]["value"]
    assert (
        row["split_hash"] == sub["split_hash"]
        and row["result_file"] == "temporal/quantile-unet.json"
    )
    assert {s["file"] for s in data["skipped"]} >= set(site["bad"])
    flag = next(r for r in rows if r["metric"] == "scaling_in_cmip_range_p999")
    assert flag["value"] in ("true", "false")
    assert row["rank"] == str(sub["rank"])
    assert row["rank_tied"] == str(sub["rank_text"].startswith("=")).lower()


def test_csv_cells_cannot_start_a_formula():
    sub = {"name": "=HYPERLINK(\"http://x\")", "model": "@SUM(A1)", "split_hash": "h", "rank": 2,
           "rank_text": "=2", "dataset_checksum": "c", "training_sources": ["obs"],
           "result_file": "-x.json",
           "scores": {"ood_test": {"crps": {"value": -0.5, "ci_low": None, "ci_high": None}}}}
    text = csv_text({"splits": [{"name": "+s", "submissions": [sub]}]})
    rows = list(csv.DictReader(io.StringIO(text)))
    (row,) = rows
    assert row["submission"] == "'=HYPERLINK(\"http://x\")" and row["model"] == "'@SUM(A1)"
    assert row["split"] == "'+s" and row["result_file"] == "'-x.json"
    assert row["value"] == "-0.5"  # numbers stay numbers
    assert row["rank"] == "2" and row["rank_tied"] == "true"


def test_compare_page_embeds_all_submissions(site):
    text = _read(site, "compare.html")
    blob = text.split('<script type="application/json" id="lb-data">')[1].split("</script>")[0]
    data = json.loads(blob)
    assert [sp["name"] for sp in data["splits"]] == ["regime", "temporal"]
    temporal = data["splits"][1]
    assert XSS in [s["name"] for s in temporal["submissions"]]
    assert set(temporal["submissions"][0]["scores"]) == {"id_test", "ood_test", "gap"}
    assert "normal approximation" in text


def test_rebuild_is_deterministic_and_idempotent(tmp_path):
    results = tmp_path / "r"
    write_fake_results(results, names=("a",), splits=("iid",), size=8)
    _write(results / "iid" / "b.json", fake_result("b", "iid", seed=3, curves=False))
    out = tmp_path / "site"
    build_site(results, out, jobs=1)
    first = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    build_site(results, out, jobs=2)  # a TailShift site: replaced without --force
    second = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]  # no temp left


def test_failed_build_leaves_the_previous_site(tmp_path, monkeypatch):
    results = tmp_path / "r"
    write_fake_results(results, names=("a",), splits=("iid",), curves=False)
    out = tmp_path / "site"
    build_site(results, out, jobs=1)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _write(results / "iid" / "b.json", fake_result("b", "iid", seed=2, curves=False))

    def boom(machine):
        raise RuntimeError("disk full")

    monkeypatch.setattr(lb, "csv_text", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        build_site(results, out, jobs=1)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "site"]


def test_refuses_foreign_output_and_missing_results(tmp_path):
    results = tmp_path / "r"
    write_fake_results(results, names=("a",), splits=("iid",), curves=False)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(BadInputError, match="--force"):
        build_site(results, foreign, jobs=1)
    assert (foreign / "notes.txt").read_text() == "keep me"
    report = build_site(results, foreign, force=True, jobs=1)
    assert (foreign / SITE_MARKER).exists() and report.index.exists()
    with pytest.raises(BadInputError, match="results"):
        build_site(results, results, force=True)
    with pytest.raises(BadInputError, match="does not exist"):
        build_site(tmp_path / "nothing", tmp_path / "s2")


def test_site_inside_the_results_folder_is_not_read_back(tmp_path):
    results = tmp_path / "r"
    write_fake_results(results, names=("a",), splits=("iid",), curves=False)
    build_site(results, results / "site", jobs=1)
    report = build_site(results, results / "site", jobs=1)
    assert report.n_results == 1 and report.skipped == ()


def test_empty_results_dir_builds_an_empty_site(tmp_path):
    (tmp_path / "r").mkdir()
    report = build_site(tmp_path / "r", tmp_path / "site", jobs=1)
    assert report.n_results == 0 and "No result files yet" in report.index.read_text()


def test_plot_helpers():
    rising = [2.0 * 1.07 ** w for w in range(4)]
    assert plots.fitted_rate([0, 1, 2, 3], rising) == pytest.approx(7.0)
    assert plots.fitted_rate([1, 1], [1.0, 2.0]) is None
    assert (plots.CC_RATE, plots.MEAN_BAND, plots.EXTREME_BAND) == (7.0, (2.1, 3.1), (7.0, 14.0))
    bare = normalise(fake_result("bare", "iid", curves=False))[0]
    assert plots.plot_qq(bare) is None and plots.plot_scaling(bare) is None
    assert plots.plot_examples(bare, "id_test") is None
    assert [p["key"] for p in plots.all_plots(bare)] == ["by_regime"]
    data, warn = normalise(fake_result("full", "iid", size=6))
    assert warn == []
    svg = plots.plot_scaling(data).decode()
    assert "CC 7 %/K" in svg and "CMIP6 mean 2.1–3.1 %/K" in svg and "Date" not in svg[:600]
    assert plots.plot_scaling(data) == plots.plot_scaling(data)  # byte-identical


def test_fmt_and_slug():
    assert fmt(None) == "—" and fmt(True) == "yes" and fmt(0.123456) == "0.123"
    assert fmt(12345.6) == "12346" and fmt(1.5e-5) == "1.50e-05" and fmt(0) == "0"
    assert slugify(XSS) == "script-alert-1-script"


def test_cli_build_prints_index_and_skipped(tmp_path, capsys):
    results = tmp_path / "r"
    write_fake_results(results, names=("a",), splits=("iid",), curves=False)
    _write(results / "iid" / "junk.json", "{nope")
    out = tmp_path / "site"
    assert main(["leaderboard", "build", "--results", str(results), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "index.html") in printed and "junk.json" in printed
    assert (
        main(["leaderboard", "build", "--results", str(tmp_path / "none"), "--out", str(out)]) == 2
    )


def test_point_only_examples_without_q99_are_drawn(tmp_path):
    """A point-only submission's examples carry ``"q99": null`` (results.py); they still render."""
    res = fake_result("point-only", "temporal")
    for ex in res["roles"]["ood_test"]["examples"]:
        ex["q99"] = None
    _write(tmp_path / "results" / "temporal" / "point-only.json", res)
    report = build_site(tmp_path / "results", tmp_path / "site")
    assert not any("examples" in w for w in report.warnings)
    folder = tmp_path / "site" / "s" / "temporal" / "point-only"
    assert (folder / "examples_ood_test.svg").exists()


def test_split_without_ood_role_is_ranked_by_id_crps(tmp_path):
    for name, skill in (("good", 1.0), ("bad", 0.2)):
        res = fake_result(name, "iid", roles=("id_test",), skill=skill)
        _write(tmp_path / "results" / "iid" / f"{name}.json", res)
    build_site(tmp_path / "results", tmp_path / "site")
    data = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    rows = {r["name"]: r for r in data["splits"][0]["submissions"]}
    assert rows["good"]["rank"] == 1 and rows["bad"]["rank"] == 2


def test_every_local_link_of_the_site_resolves(site):
    """Every href/src of every page that points into the site names a file the build wrote."""
    import re

    out = site["out"]
    for page in out.rglob("*.html"):
        for target in re.findall(r'(?:href|src)="([^"#:?]+)', page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.relative_to(out)}: broken link {target}"
