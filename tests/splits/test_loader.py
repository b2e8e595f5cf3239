"""Split files and the loader: shipped splits, every rule, every selection field, the hash."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import tomllib

import numpy as np
import pytest

from tailshift import schema
from tailshift.errors import BadInputError
from tailshift.splits import (
    SPLITS_DIR,
    check_disjoint,
    list_splits,
    load_split,
    role_mask,
    role_masks,
    scene_fraction,
    selections_may_overlap,
)
from tailshift.splits.model import Selection

SHIPPED = ["extremes", "iid", "regime", "sensor", "temporal"]

BASE = """
name = "t"
train_sources = ["obs", "sim"]
[roles.train]
[[roles.train.select]]
source = "obs"
years = [1998, 2025]
fraction = [0.0, 0.7]
[roles.id_test]
[[roles.id_test.select]]
source = "obs"
years = [1998, 2025]
fraction = [0.7, 1.0]
"""


def write(tmp_path, text, name="t.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_splits_listed_and_load():
    assert list_splits() == SHIPPED
    for name in SHIPPED:
        sp = load_split(name)
        assert sp.name == name
        doc = tomllib.loads((SPLITS_DIR / f"{name}.toml").read_text(encoding="utf-8"))
        canon = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert sp.hash == hashlib.sha256(canon.encode("utf-8")).hexdigest()
        assert "train" in sp.roles and set(sp.roles) <= set(schema.ROLES)
        assert sp.eval_roles and set(sp.eval_roles) <= set(schema.EVAL_ROLES)
        assert set(sp.train_sources) <= set(schema.SOURCES)


def test_split_specifics():
    assert load_split("iid").eval_roles == ("id_test",)
    assert load_split("temporal").eval_roles == ("id_test", "ood_test")
    sensor = load_split("sensor")
    assert sensor.channels_for("train") == schema.CHANNEL_NAMES
    assert sensor.channels_for("id_test") == schema.CHANNEL_NAMES
    assert sensor.channels_for("ood_test") == schema.CHANNEL_SETS["no_high_freq"]
    assert not any(c.startswith(("166", "183")) for c in sensor.channels_for("ood_test"))
    assert load_split("extremes").roles["ood_test"].needs_data
    with pytest.raises(BadInputError, match="has no role 'ood_test'"):
        load_split("iid").channels_for("ood_test")


def test_load_by_path_and_hash_follows_content_not_layout(tmp_path):
    a = load_split(write(tmp_path, BASE, "a.toml"))
    b = load_split(write(tmp_path, BASE + "\n# a comment\n", "b.toml"))
    assert a.name == b.name == "t"
    assert a.hash == b.hash  # a comment is not part of what the split selects
    assert a.roles == b.roles
    c = load_split(write(tmp_path, BASE.replace("0.7", "0.6", 1), "c.toml"))
    assert c.hash != a.hash  # a changed selection is a different split
    assert load_split(a) is a


def test_unknown_split_names_the_choices():
    with pytest.raises(BadInputError) as exc:
        load_split("nope")
    msg = str(exc.value)
    assert "unknown split 'nope'" in msg and "temporal" in msg and "\n" not in msg


def test_missing_file_path():
    with pytest.raises(BadInputError, match="does not exist"):
        load_split("/nonexistent/x.toml")


BAD = {
    "unknown top-level key": (BASE + 'colour = "red"\n', "unknown key"),
    "unknown coordinate": (
        BASE.replace("fraction = [0.0, 0.7]", "fraction = [0.0, 0.7]\nmonth = [1, 2]"),
        r"unknown key\(s\) \['month'\]",
    ),
    "unknown regime": (
        BASE.replace("fraction = [0.0, 0.7]", 'fraction = [0.0, 0.7]\nregimes = ["polar"]'),
        "unknown regime",
    ),
    "unknown source": (BASE.replace('source = "obs"', 'source = "model"', 1), "source must be"),
    "unknown train source": (
        BASE.replace('["obs", "sim"]', '["obs", "reanalysis"]'),
        "unknown source",
    ),
    "unknown channel": (
        BASE.replace("[roles.id_test]", '[roles.id_test]\nchannels = ["200V"]'),
        "unknown channel",
    ),
    "unknown channel set": (
        BASE.replace("[roles.id_test]", '[roles.id_test]\nchannels = "amsr2"'),
        "unknown channel set",
    ),
    "unknown role": (BASE.replace("roles.id_test", "roles.test"), "unknown role"),
    "no train": (BASE.replace("roles.train", "roles.id_val"), "needs a train role"),
    "no eval role": (BASE.replace("roles.id_test", "roles.id_val"), "no evaluation role"),
    "train future obs": (
        BASE.replace("years = [1998, 2025]", "years = [1998, 2030]", 1),
        "held-back",
    ),
    "train obs unlimited": (BASE.replace("years = [1998, 2025]\n", "", 1), "held-back"),
    "train source not allowed": (
        BASE.replace('["obs", "sim"]', '["sim"]'),
        "train_sources does not allow",
    ),
    "record in train": (
        BASE.replace("fraction = [0.0, 0.7]", "fraction = [0.0, 0.7]\nrecord_breaking = true"),
        "evaluation roles only",
    ),
    "overlap": (
        BASE.replace("fraction = [0.7, 1.0]", "fraction = [0.6, 1.0]"),
        "roles train and id_test overlap",
    ),
    "bad toml": (BASE + "[[[", "not valid TOML"),
    "bad range": (BASE.replace("years = [1998, 2025]", "years = [2025, 1998]", 1), "is empty"),
    "range not numbers": (
        BASE.replace("years = [1998, 2025]", 'years = "1998"', 1),
        "must be a list",
    ),
    "fraction outside": (BASE.replace("fraction = [0.7, 1.0]", "fraction = [0.7, 1.5]"), "within"),
    "bad era": (
        BASE.replace("fraction = [0.7, 1.0]", 'fraction = [0.7, 1.0]\nera = "past"'),
        "era must be",
    ),
    "no selections": (
        BASE.replace("[[roles.id_test.select]]\nsource", "[roles.id_test.x]\nsource"),
        "unknown key",
    ),
    "empty select": (BASE + "[roles.ood_test]\nselect = []\n", "has no"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_split_files(tmp_path, case):
    text, pattern = BAD[case]
    with pytest.raises(BadInputError, match=pattern) as exc:
        load_split(write(tmp_path, text))
    assert "\n" not in str(exc.value)


def test_train_obs_limited_by_era_is_accepted(tmp_path):
    text = BASE.replace("years = [1998, 2025]\n", 'era = "observed"\n', 1)
    text = text.replace("fraction = [0.7, 1.0]", 'fraction = [0.7, 1.0]\nera = "observed"')
    assert load_split(write(tmp_path, text)).roles["train"].selections[0].era == "observed"


def test_static_overlap_rules():
    a = Selection("obs", years=(1998, 2010))
    assert not selections_may_overlap(a, Selection("sim", years=(1998, 2010)))
    assert not selections_may_overlap(a, Selection("obs", years=(2011, 2020)))
    assert selections_may_overlap(a, Selection("obs", years=(2010, 2020)))  # inclusive years
    assert not selections_may_overlap(
        Selection("obs", fraction=(0.0, 0.5)), Selection("obs", fraction=(0.5, 1.0))
    )  # half-open fractions
    assert not selections_may_overlap(
        Selection("obs", regimes=("midlat_land",)), Selection("obs", regimes=("snow_land",))
    )
    assert not selections_may_overlap(
        Selection("obs", era="observed"), Selection("obs", era="future")
    )
    assert not selections_may_overlap(
        Selection("obs", record_breaking=True), Selection("obs", record_breaking=False)
    )
    assert not selections_may_overlap(
        Selection("obs", warming=(0.0, 1.0)), Selection("obs", warming=(1.5, 2.0))
    )
    assert selections_may_overlap(Selection("obs"), Selection("obs", years=(2000, 2001)))


def test_scene_fraction_stable_uniform_and_not_python_hash():
    ids = np.arange(20_000, dtype=np.int64)
    u = scene_fraction(ids)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    assert abs(np.mean(u < 0.7) - 0.7) < 0.015
    expected = int.from_bytes(hashlib.blake2b(b"12345", digest_size=8).digest(), "big") / 2**64
    assert scene_fraction(np.array([12345]))[0] == expected
    # the same in another process with another hash seed
    code = "from splits import scene_fraction; import numpy as np; print(float(scene_fraction(np.array([7, 8]))[1]))"
    env = {"PYTHONHASHSEED": "123"}
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    assert float(out.stdout) == scene_fraction(np.array([8]))[0]


def synthetic_coords(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    source = np.where(rng.random(n) < 0.7, "obs", "sim")
    years = rng.integers(1980, 2101, n)
    years = np.where(source == "obs", np.clip(years, 1998, None), years)
    era = np.where((source == "obs") & (years > 2025), "future", "observed")
    return {
        schema.DIM_SCENE: np.arange(n, dtype=np.int64)
        + np.where(source == "sim", schema.SIM_ID_OFFSET, 0),
        schema.COORD_SOURCE: source,
        schema.COORD_YEAR: years,
        schema.COORD_REGIME: np.array(schema.REGIMES)[rng.integers(0, 5, n)],
        schema.COORD_WARMING: (0.02 * (years - 1980)).astype(np.float32),
        schema.COORD_ERA: era,
    }


def test_iid_and_temporal_masks_partition_as_documented():
    c = synthetic_coords()
    obs_obs = (c["source"] == "obs") & (c["year"] <= 2025)
    iid = role_masks(load_split("iid"), c)
    union = iid["train"] | iid["id_val"] | iid["id_test"]
    assert np.array_equal(union & (c["source"] == "obs"), obs_obs)
    assert np.array_equal(
        iid["train"] & (c["source"] == "sim"),
        (c["source"] == "sim") & (c["year"] >= 1998) & (c["year"] <= 2025),
    )
    frac = iid["train"][obs_obs].mean()
    assert 0.64 < frac < 0.76
    tmp = role_masks(load_split("temporal"), c)
    assert np.array_equal(tmp["ood_test"], (c["source"] == "obs") & (c["year"] >= 2051))
    assert np.array_equal(
        tmp["ood_val"], (c["source"] == "obs") & (c["year"] >= 2026) & (c["year"] <= 2050)
    )
    assert tmp["train"][c["source"] == "sim"].all()
    # same fraction partition in both splits
    assert np.array_equal(tmp["id_test"], iid["id_test"])
    reg = role_masks(load_split("regime"), c)
    assert set(c["regime"][reg["train"]]) == {"midlat_ocean", "midlat_land"}
    assert set(c["regime"][reg["ood_test"]]) == {"tropical_ocean", "tropical_land", "snow_land"}


FIELD_CASES = {
    "source": 'source = "sim"',
    "years": "years = [2030, 2040]",
    "regimes": 'regimes = ["snow_land"]',
    "warming": "warming = [1.0, 1.5]",
    "era": 'era = "future"',
    "fraction": "fraction = [0.0, 0.5]",
    "record_breaking": "record_breaking = true",
}


@pytest.mark.parametrize("field", sorted(FIELD_CASES))
def test_every_selection_field_changes_the_mask(tmp_path, field):
    """docs/design.md, Conventions: each config field has a test showing it changes the output."""
    text = textwrap.dedent(
        """
        train_sources = ["obs", "sim"]
        [roles.train]
        [[roles.train.select]]
        source = "obs"
        years = [1998, 2010]
        [roles.ood_test]
        [[roles.ood_test.select]]
        source = "obs"
        years = [2026, 2100]
        """
    )
    base = load_split(write(tmp_path, text, "base.toml"))
    line = FIELD_CASES[field]
    if field == "years":
        changed_text = text.replace("years = [2026, 2100]", line)
    elif field == "source":
        changed_text = text.replace("years = [2026, 2100]", "").replace(
            '[[roles.ood_test.select]]\nsource = "obs"', "[[roles.ood_test.select]]\n" + line
        )
    else:
        changed_text = text.rstrip() + "\n" + line + "\n"
    changed = load_split(write(tmp_path, changed_text, "changed.toml"))
    c = synthetic_coords()
    rng = np.random.default_rng(1)
    # decouple era from year a little so that the era condition is not implied by the years
    flip = rng.random(len(c["scene"])) < 0.1
    c["era"] = np.where(flip, "observed", c["era"])
    maxima = rng.random(len(c["scene"])) * 100

    def scene_max(idx):
        return maxima[idx]

    m0 = role_mask(base, c, "ood_test", scene_max)
    m1 = role_mask(changed, c, "ood_test", scene_max)
    assert m0.any() and m1.any()
    assert not np.array_equal(m0, m1)


def test_channels_and_train_sources_fields_change_the_split(tmp_path):
    a = load_split(write(tmp_path, BASE, "a.toml"))
    b = load_split(
        write(
            tmp_path,
            BASE.replace("[roles.id_test]", '[roles.id_test]\nchannels = "drain4"'),
            "b.toml",
        )
    )
    assert a.channels_for("id_test") == schema.CHANNEL_NAMES
    assert b.channels_for("id_test") == schema.DRAIN4_CHANNELS
    c = load_split(write(tmp_path, BASE.replace('["obs", "sim"]', '["obs"]'), "c.toml"))
    assert c.train_sources == ("obs",) and a.train_sources == ("obs", "sim")


def test_record_breaking_exact():
    sp = load_split("extremes")
    c = {
        schema.DIM_SCENE: np.arange(8),
        schema.COORD_SOURCE: np.array(["obs"] * 8),
        schema.COORD_YEAR: np.array([2000, 2001, 2002, 2060, 2061, 2062, 2063, 2064]),
        schema.COORD_REGIME: np.array(
            [
                "midlat_land",
                "midlat_land",
                "snow_land",
                "midlat_land",
                "midlat_land",
                "snow_land",
                "snow_land",
                "tropical_ocean",
            ]
        ),
        schema.COORD_WARMING: np.zeros(8),
        schema.COORD_ERA: np.array(["observed"] * 3 + ["future"] * 5),
    }
    u = scene_fraction(c[schema.DIM_SCENE])
    # force the three observed scenes into train: pick ids whose hash < 0.7
    ids = [i for i in range(1000) if scene_fraction(np.array([i]))[0] < 0.7][:3]
    c[schema.DIM_SCENE] = np.array(ids + list(range(2000, 2005)))
    maxima = np.array([10.0, 30.0, 5.0, 31.0, 29.0, 5.0, 6.0, 100.0])
    calls = []

    def scene_max(idx):
        calls.append(len(idx))
        return maxima[idx]

    masks = role_masks(sp, c, scene_max)
    record = masks["ood_val"] | masks["ood_test"]
    # midlat_land record 30 (31 breaks, 29 not); snow_land record 5 (5 not strictly above, 6
    # breaks); tropical_ocean has no train scene: no record, nothing breaks it
    assert record.tolist() == [False, False, False, True, False, False, True, False]
    assert sum(calls) <= 8  # each maximum read at most once
    with pytest.raises(ValueError, match="needs the data"):
        role_mask(sp, c, "ood_test")
    del u


def test_check_disjoint_on_data():
    sp = load_split("iid")
    masks = {"train": np.array([True, False, True]), "id_test": np.array([False, True, True])}
    with pytest.raises(BadInputError, match="share 1 scene") as exc:
        check_disjoint(sp, masks, np.array([5, 6, 7]))
    assert "[7]" in str(exc.value)


def test_missing_coordinate_is_bad_input():
    c = synthetic_coords()
    del c[schema.COORD_YEAR]
    with pytest.raises(BadInputError, match="'year'"):
        role_masks(load_split("temporal"), c)


def test_import_splits_is_cheap():
    code = "import sys, tailshift.splits, tailshift.app.splits_cli; print('torch' in sys.modules, 'xarray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
