"""``tailshift quickstart`` end to end on the tiny world with the fastest baseline."""

from __future__ import annotations

import json

import pytest

from tailshift.app.cli import main


@pytest.mark.slow
def test_quickstart_runs_end_to_end_and_reuses_the_world(tmp_path, capsys):
    data, work = tmp_path / "data", tmp_path / "work"
    args = ["--data", str(data), "quickstart", "--work-dir", str(work), "--preset", "tiny",
            "--baseline", "climatology", "--split", "temporal"]
    assert main(args) == 0
    out = capsys.readouterr().out
    index = work / "site" / "index.html"
    assert index.is_file() and str(index.resolve()) in out.replace("\n", "")
    assert "Quickstart results" in out and "climatology" in out
    result = json.loads((work / "results" / "temporal" / "climatology-quick.json").read_text())
    assert set(result["roles"]) == {"id_test", "ood_test", "all_test"}
    assert (data / "card").is_dir()
    # second run reuses the dataset instead of regenerating it
    checksum = json.loads((data / "manifest.json").read_text())["dataset_checksum"]
    assert main(args) == 0
    assert "reusing the existing dataset" in capsys.readouterr().out
    assert json.loads((data / "manifest.json").read_text())["dataset_checksum"] == checksum


def test_quickstart_refuses_a_foreign_directory_and_unknown_names(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["--data", str(foreign), "quickstart", "--preset", "tiny"]) == 2
    assert "not a TailShift dataset" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"
    assert main(["--data", str(tmp_path / "d"), "quickstart", "--split", "nope"]) == 2
    assert main(["--data", str(tmp_path / "d"), "quickstart", "--baseline", "nope"]) == 2
    assert not (tmp_path / "d").exists()
