"""The committed reference results (leaderboard/results) are complete, valid and consistent."""

from __future__ import annotations

from pathlib import Path

from tailshift.leaderboard.reader import collect
from tailshift.splits import load_split

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "leaderboard" / "results"
BASELINES = {"climatology", "bayesian", "gbm", "unet"}


def test_every_split_has_every_baseline_and_one_world():
    loaded, skipped = collect(RESULTS)
    assert skipped == [], skipped
    assert all(not r.warnings for r in loaded), [(r.path, r.warnings) for r in loaded if r.warnings]
    by_split: dict[str, set[str]] = {}
    for r in loaded:
        baseline = r.data["submission"].get("baseline")
        by_split.setdefault(r.data["split"]["name"], set()).add(baseline)
        # each result was scored on the split as committed now (same hash), on one world
        split = load_split(r.data["split"]["name"])
        assert r.data["split"]["hash"] == split.hash, f"{r.path}: split changed since it was scored"
    assert set(by_split) == {"temporal", "regime", "extremes", "iid", "sensor"}
    for name, baselines in by_split.items():
        assert BASELINES <= baselines, (name, baselines)
    checksums = {r.data["dataset"]["checksum"] for r in loaded}
    assert len(checksums) == 1, "reference results come from more than one world"
