"""``tailshift splits list | show``: output, exit codes, one-line errors."""

from __future__ import annotations

import shutil

import pytest

from tailshift import schema
from tailshift.app.cli import main
from tailshift.benchmark.dataset import role_sizes


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list(capsys):
    rc, out, err = run(capsys, "splits", "list")
    assert rc == 0, err
    for name in ("iid", "temporal", "regime", "extremes", "sensor"):
        assert name in out


def test_show_with_data(capsys, fake_data):
    rc, out, err = run(capsys, "--data", str(fake_data), "splits", "show", "temporal")
    assert rc == 0, err
    assert "sha256" in out and "train sources: obs, sim" in out
    assert "obs years 2051-2100" in out
    sizes = role_sizes(fake_data, "temporal")
    for role in schema.ROLES:
        n = sizes[role]["n_scenes"]
        assert f"{role:<8} {n:>6} scenes" in out
    assert f"years {sizes['ood_test']['years'][0]}-{sizes['ood_test']['years'][1]}" in out
    assert "warming" in out and "regimes:" in out


def test_show_sensor_channels(capsys, fake_data):
    rc, out, _ = run(capsys, "--data", str(fake_data), "splits", "show", "sensor")
    assert rc == 0
    assert "channels: no_high_freq, 9" in out and "channels: all, 13" in out


def test_show_without_data_prints_the_definition(capsys, tmp_path):
    rc, out, err = run(capsys, "--data", str(tmp_path / "none"), "splits", "show", "extremes")
    assert rc == 0, err
    assert "record-breaking" in out
    assert "definition only" in out and "scenes (" not in out


def test_show_a_split_file(capsys, tmp_path):
    from tailshift.splits import SPLITS_DIR

    path = tmp_path / "mine.toml"
    path.write_text((SPLITS_DIR / "iid.toml").read_text().replace('name = "iid"', 'name = "mine"'))
    rc, out, _ = run(capsys, "--data", str(tmp_path / "none"), "splits", "show", str(path))
    assert rc == 0 and out.startswith("mine:")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["splits", "show", "nope"], ["unknown split 'nope'", "splits list"]),
        (["splits", "show", "/no/such/split.toml"], ["does not exist"]),
    ],
)
def test_show_bad_split(capsys, argv, words):
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    line = err.strip()
    assert line.startswith("error:") and "\n" not in line
    for w in words:
        assert w in line


def test_show_bad_split_file(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'train_sources = ["obs"]\n[roles.train]\n[[roles.train.select]]\nsource = "obs"\n'
        + '[roles.ood_test]\n[[roles.ood_test.select]]\nsource = "obs"\nyears = [2051, 2100]\n'
    )
    rc, _, err = run(capsys, "splits", "show", str(path))
    assert rc == 2 and "held-back" in err and err.count("\n") == 1


def test_show_corrupt_data_is_bad_input(capsys, fake_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(fake_data, data)
    (data / "sim.zarr" / "tb" / "1.0.0.0").unlink()
    rc, out, err = run(capsys, "--data", str(data), "splits", "show", "temporal")
    assert rc == 2
    assert "truncated" in err and "regenerate" in err and err.count("\n") == 1
    assert not (data / "cache").exists()  # nothing written
