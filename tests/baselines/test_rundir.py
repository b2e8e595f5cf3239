"""Run directories: atomic, no pickle, validated on reading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tailshift.baselines import rundir
from tailshift.errors import BadInputError


def _meta():
    return {"baseline": "climatology", "config": {}, "split": {"name": "iid", "hash": "x"},
            "training_sources": ["obs"], "quantile_levels": [0.5], "channels": []}


def test_finish_renames_staging_and_validates(tmp_path):
    out = tmp_path / "run"
    stage = rundir.start_run(out)
    assert stage.name == ".run.partial" and not out.exists()
    (stage / rundir.CHECKPOINT).write_text("x")
    run = rundir.finish_run(stage, out, _meta())
    assert run.baseline == "climatology" and run.split_name == "iid"
    assert not stage.exists() and not (out / rundir.CHECKPOINT).exists()
    assert json.loads((out / rundir.RUN_JSON).read_text())["run_schema_version"] == 1
    with pytest.raises(BadInputError, match="already exists"):
        rundir.start_run(out)
    rundir.start_run(out, force=True)


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(BadInputError, match="nothing to resume"):
        rundir.start_run(tmp_path / "run", resume=True)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(BadInputError, match="not a run directory"):
        rundir.RunDir(tmp_path)
    (tmp_path / rundir.RUN_JSON).write_text(json.dumps({"baseline": "gbm"}))
    with pytest.raises(BadInputError, match="lacks"):
        rundir.RunDir(tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_weights_are_never_unpickled(tmp_path):
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    rundir.save_state_dict(good, {"w": torch.ones(2)})
    assert float(rundir.load_state_dict(good)["w"].sum()) == 2.0
    bad = tmp_path / "bad.pt"
    torch.save({"w": _Evil()}, bad)
    with pytest.raises(BadInputError, match="safely"):
        rundir.load_state_dict(bad)


def test_arrays_refuse_object_dtype(tmp_path):
    with pytest.raises(TypeError):
        rundir.save_arrays(tmp_path / "a.npz", a=np.array([{}, 1], dtype=object))
    rundir.save_arrays(tmp_path / "a.npz", a=np.arange(3), s=np.array(["x", "yy"]))
    back = rundir.load_arrays(tmp_path / "a.npz")
    assert back["s"].tolist() == ["x", "yy"]
