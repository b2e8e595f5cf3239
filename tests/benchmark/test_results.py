"""Result files: path, slug, atomic write, role merge, --force, gap, validation on read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tailshift.benchmark import results as R
from tailshift.errors import BadInputError


def role_block(mae: float, n: int = 10) -> dict:
    score = {"value": mae, "ci_low": mae - 0.1, "ci_high": mae + 0.1}
    return {
        "n_scenes": n,
        "n_pixels": n * 64,
        "channels": ["89.0V"],
        "scores": {"mae": score, "record_ok": {"value": True, "ci_low": None, "ci_high": None}},
        "groups": {"regime": {"tropical_ocean": {"mae": dict(score)}}},
        "worst_group": {"mae": {"dim": "regime", "label": "tropical_ocean", "value": mae}},
        "curves": {"pit": {"edges": [0.0, 0.5, 1.0], "density": [1.0, np.float32(1.0)]}},
        "examples": [
            {"scene": 3, "reference": [[0.0, 1.23]], "median": [[0.0, 1.0]], "q99": [[0.1, 2.0]]}
        ],
    }


def make(role="id_test", mae=1.0, name="My U-Net!", split_hash="abc", checksum="sum") -> dict:
    return R.build_result(
        name=name,
        model="baselines/unet",
        split_name="temporal",
        split_hash=split_hash,
        dataset={"checksum": checksum, "preset": "fake", "generator_version": "fake-1"},
        roles={role: role_block(mae)},
        training_sources=["obs"],
    )


@pytest.mark.parametrize(
    ("name", "slug"),
    [("My U-Net!", "my-u-net"), ("unet_v2 (tail loss)", "unet-v2-tail-loss"), ("ABC", "abc")],
)
def test_slugify(name, slug):
    assert R.slugify(name) == slug


def test_slugify_refuses_empty():
    with pytest.raises(BadInputError, match="no letter or digit"):
        R.slugify("!!!")


def test_result_path(tmp_path):
    assert R.result_path(tmp_path, "temporal", "My U-Net!") == tmp_path / "temporal/my-u-net.json"


def test_write_and_read_round_trip(tmp_path):
    path = R.write_result(make(), tmp_path)
    assert path == tmp_path / "temporal" / "my-u-net.json"
    back = R.read_result(path)
    assert back["schema_version"] == 2
    assert back["roles"]["id_test"]["scores"]["mae"]["value"] == 1.0
    assert back["roles"]["id_test"]["scores"]["record_ok"]["value"] is True
    assert "gap" not in back
    # no temp file left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["my-u-net.json"]


def test_nan_becomes_null_and_file_is_strict_json(tmp_path):
    result = make()
    result["roles"]["id_test"]["scores"]["mae"]["ci_low"] = float("nan")
    path = R.write_result(result, tmp_path)
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text)["roles"]["id_test"]["scores"]["mae"]["ci_low"] is None


def test_second_role_is_merged_and_gap_computed(tmp_path):
    R.write_result(make("id_test", 1.0), tmp_path)
    path = R.write_result(make("ood_test", 1.5), tmp_path)
    back = R.read_result(path)
    assert list(back["roles"]) == ["id_test", "ood_test"]
    assert back["gap"]["mae"]["value"] == pytest.approx(0.5)
    assert back["gap"]["mae"]["ci_low"] < 0.5 < back["gap"]["mae"]["ci_high"]


def test_existing_role_needs_force(tmp_path):
    path = R.write_result(make("id_test", 1.0), tmp_path)
    before = path.read_bytes()
    with pytest.raises(BadInputError, match="--force"):
        R.write_result(make("id_test", 2.0), tmp_path)
    assert path.read_bytes() == before
    R.write_result(make("id_test", 2.0), tmp_path, force=True)
    assert R.read_result(path)["roles"]["id_test"]["scores"]["mae"]["value"] == 2.0


def test_check_writable_fails_before_scoring(tmp_path):
    path = R.write_result(make("id_test"), tmp_path)
    with pytest.raises(BadInputError, match="--force"):
        R.check_writable(path, "abc", "sum", "id_test", force=False)
    R.check_writable(path, "abc", "sum", "ood_test", force=False)  # a new role is fine
    R.check_writable(path, "abc", "sum", "id_test", force=True)


def test_other_split_hash_needs_force_and_then_replaces(tmp_path):
    R.write_result(make("id_test"), tmp_path)
    with pytest.raises(BadInputError, match="another version of split"):
        R.write_result(make("ood_test", split_hash="zzz"), tmp_path)
    path = R.write_result(make("ood_test", split_hash="zzz"), tmp_path, force=True)
    assert list(R.read_result(path)["roles"]) == ["ood_test"]


def test_other_dataset_needs_force(tmp_path):
    R.write_result(make("id_test"), tmp_path)
    with pytest.raises(BadInputError, match="another dataset"):
        R.write_result(make("ood_test", checksum="other"), tmp_path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"schema_version": 7}', "schema_version is 7"),
        ('{"schema_version": 2, "submission": {}}', "'split' is missing"),
        ('{"schema_version": 1, "submission": {}}', "protocol 1"),
    ],
)
def test_read_rejects_malformed_files(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(R.ResultFormatError, match=match):
        R.read_result(path)


def test_read_rejects_bad_score_entry(tmp_path):
    result = make()
    result["roles"]["id_test"]["scores"]["mae"] = {"value": "high"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(result))
    with pytest.raises(R.ResultFormatError, match=r"scores\.mae\.value"):
        R.read_result(path)


def test_malformed_existing_file_needs_force(tmp_path):
    path = R.result_path(tmp_path, "temporal", "My U-Net!")
    path.parent.mkdir(parents=True)
    path.write_text("garbage")
    with pytest.raises(BadInputError, match="--force"):
        R.write_result(make(), tmp_path)
    assert path.read_text() == "garbage"
    R.write_result(make(), tmp_path, force=True)
    assert R.read_result(path)["submission"]["name"] == "My U-Net!"


def test_number_lists_stay_on_one_line():
    text = R.dumps(make())
    assert '"reference": [[0,1.23]]' in text
    assert json.loads(text)["roles"]["id_test"]["curves"]["pit"]["density"] == [1.0, 1.0]


def test_result_file_is_world_readable(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        path = R.write_result(make(), tmp_path)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_other_submission_with_same_slug_needs_force(tmp_path):
    R.write_result(make("id_test", name="My U-Net"), tmp_path)
    with pytest.raises(BadInputError, match="belongs to submission 'My U-Net'"):
        R.write_result(make("ood_test", name="my u net"), tmp_path)
    path = R.result_path(tmp_path, "temporal", "my u net")
    with pytest.raises(BadInputError, match="choose another --name"):
        R.check_writable(path, "abc", "sum", "ood_test", force=False, name="my u net")
    R.write_result(make("ood_test", name="my u net"), tmp_path, force=True)
    assert R.read_result(path)["submission"]["name"] == "my u net"


def test_concurrent_writers_of_different_roles_keep_both(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    roles = ["id_test", "ood_test", "id_val", "ood_val"]
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda r: R.write_result(make(r), tmp_path), roles))
    assert len(set(paths)) == 1
    assert set(R.read_result(paths[0])["roles"]) == set(roles)
