"""The search space as data: the shipped paper space, the TOML checks, and the sample -> config bridge."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.search.space import (
    KNOB_NAMES,
    SpaceError,
    default_space_path,
    load_space,
    parse_space,
    sample_to_config,
)
from profilers.counting import count
from search_spaces import EESPConfig
from search_spaces.errors import ConfigError, EspnasError
from tests.nas.samples import PAPER_SAMPLE

PAPER = load_space()


def test_default_space_ships_as_package_data():
    assert default_space_path().is_file()
    assert PAPER.name == "paper"
    searched = {k.name for k in PAPER.searched}
    assert {"scale", "depth_L3", "depth_L4", "depth_L5", "reduce_groups", "hff", "input_shortcut"} <= searched


def test_paper_point_is_the_paper_model():
    cfg = sample_to_config(PAPER_SAMPLE, PAPER)
    assert cfg == EESPConfig.from_scale(1.0)
    assert cfg.input_size == (224, 224) and cfg.num_classes == 1000
    # Table 2: 86M FLOPs at s = 1.0 (conv multiply-adds).
    assert count(cfg).conv_macs == pytest.approx(86e6, rel=0.01)


def test_bridge_maps_each_knob():
    cfg = sample_to_config(
        {**PAPER_SAMPLE, "scale": 2.0, "depth_L4": 4, "reduce_groups": 1, "hff": False, "dilation_caps": "9,9,7,5,3"},
        PAPER,
    )
    assert cfg.channels == (32, 128, 256, 512, 1024)
    assert cfg.head_channels == 1280  # the paper's rule for s > 1.5
    assert cfg.depths == (0, 3, 4, 3)
    assert (cfg.reduce_groups, cfg.expand_groups, cfg.hff) == (1, 4, False)
    assert cfg.dilation_caps == (9, 9, 7, 5, 3)


def test_bridge_refuses_unknown_and_missing_knobs():
    with pytest.raises(SpaceError, match="unknown knob 'width'"):
        sample_to_config({**PAPER_SAMPLE, "width": 3}, PAPER)
    missing = dict(PAPER_SAMPLE)
    del missing["scale"]
    with pytest.raises(SpaceError, match="'scale'"):
        sample_to_config(missing, PAPER)


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_every_sample_of_the_paper_space_is_a_valid_imagenet_config(rng):
    cfg = sample_to_config(PAPER.sample(rng), PAPER)
    assert isinstance(cfg, EESPConfig)
    assert cfg.input_size == (224, 224) and cfg.num_classes == 1000
    assert EESPConfig.from_json(cfg.to_json()) == cfg


def test_optuna_define_by_run_gives_the_same_keys():
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    flat = PAPER.suggest(trial)
    assert set(flat) == {k.name for k in PAPER.knobs}
    assert set(trial.params) == {k.name for k in PAPER.searched}
    sample_to_config(flat, PAPER)


def test_per_stage_widths():
    space = parse_space({"knobs": {"c1": 32, "c2": [64, 96], "c3": 128, "c4": 256, "c5": 512, "head_channels": 1024}})
    cfg = sample_to_config(space.sample(random.Random(0)), space)
    assert cfg.channels[0] == 32 and cfg.channels[1] in (64, 96)


def test_load_space_from_file(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text('name = "small"\n[knobs]\nscale = [0.5, 1.0]\ndepth_L4 = { low = 2, high = 4, step = 2 }\n')
    space = load_space(path)
    assert space.name == "small"
    assert space.knob("depth_L4").kind == "int"
    assert space.knob("hff").value is True  # left out: the paper's value


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"knobz": {}}, "unknown key 'knobz'"),
        ({"knobs": {"width": 1.0}}, "unknown knob 'width'"),
        ({"knobs": {"depth_L3": {"low": 5, "high": 1}}}, "knobs.depth_L3: low=5 > high=1"),
        ({"knobs": {"depth_L3": {"low": 1, "high": 5, "step": 0}}}, "knobs.depth_L3: step=0"),
        ({"knobs": {"depth_L3": {"low": 1, "hi": 5}}}, "knobs.depth_L3: unknown range key 'hi'"),
        ({"knobs": {"depth_L3": {"low": 1.5, "high": 5}}}, "knobs.depth_L3: range 1.5..5"),
        ({"knobs": {"depth_L3": -1}}, "knobs.depth_L3: -1 is invalid"),
        ({"knobs": {"hff": []}}, "knobs.hff: an empty list"),
        ({"knobs": {"hff": ["yes"]}}, "knobs.hff: 'yes' is invalid"),
        ({"knobs": {"dilation_caps": ["13,11"]}}, "knobs.dilation_caps: '13,11' is invalid"),
        ({"knobs": {"reduce_groups": ["G"]}}, "knobs.reduce_groups: 'G' is invalid"),
        ({"knobs": {"scale": 1.0, "c1": 1, "c2": 2, "c3": 3, "c4": 4, "c5": 5}}, "either 'scale'"),
        ({"knobs": {"c1": 32}}, "missing c2, c3, c4, c5"),
        ({"knobs": {"scale": [0.5, 0.5]}}, "knobs.scale: repeated choices"),
        ({"knobs": {"branches": 7, "scale": 1.0}}, "no valid network"),
    ],
)
def test_space_errors_are_one_line_and_name_the_key(data, words):
    with pytest.raises(SpaceError) as err:
        parse_space(data, source="s.toml")
    text = str(err.value)
    assert words in text
    assert "\n" not in text
    assert isinstance(err.value, EspnasError)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[knobs\n")
    with pytest.raises(SpaceError, match="not valid TOML"):
        load_space(bad)


def test_an_invalid_combination_is_a_config_error():
    space = parse_space({"knobs": {"scale": [0.5, 0.75], "reduce_groups": "K"}})
    with pytest.raises(ConfigError):
        sample_to_config({"scale": 0.75}, space)


# Each knob set alone (to a value other than the paper's), and the config fields it must change, by hand.
_ONE_KNOB = [
    ({"scale": 0.5}, {"channels": (16, 32, 64, 128, 256)}),
    ({"depth_L2": 1}, {"depths": (1, 3, 7, 3)}),
    ({"depth_L3": 2}, {"depths": (0, 2, 7, 3)}),
    ({"depth_L4": 5}, {"depths": (0, 3, 5, 3)}),
    ({"depth_L5": 1}, {"depths": (0, 3, 7, 1)}),
    ({"branches": 2}, {"branches": 2, "reduce_groups": 2, "expand_groups": 2}),  # groups "K" follow K
    ({"reduce_groups": 1}, {"reduce_groups": 1}),
    ({"expand_groups": 1}, {"expand_groups": 1}),
    ({"dilation_caps": "9,9,7,5,3"}, {"dilation_caps": (9, 9, 7, 5, 3)}),
    ({"hff": False}, {"hff": False}),
    ({"input_shortcut": False}, {"input_shortcut": False}),
    ({"head_channels": 512}, {"head_channels": 512}),
    (dict(zip(("c1", "c2", "c3", "c4", "c5"), (32, 96, 192, 384, 768), strict=True)),
     {"channels": (32, 96, 192, 384, 768)}),
    (dict(zip((f"dilation_cap_{i}" for i in range(1, 6)), (11, 9, 7, 5, 3), strict=True)),
     {"dilation_caps": (11, 9, 7, 5, 3)}),
]  # fmt: skip
# Fields a search does not choose: set by the counting convention (ImageNet) or by training.
_NOT_SEARCHED = {"num_classes", "input_size", "in_channels", "dropout"}


@pytest.mark.parametrize(("knobs", "changes"), _ONE_KNOB, ids=lambda v: ",".join(v) if isinstance(v, dict) else "")
def test_each_knob_alone_changes_its_config_fields_and_nothing_else(knobs, changes):
    cfg = sample_to_config({}, parse_space({"knobs": knobs}))  # fixed knobs: the sample needs no values
    assert cfg == EESPConfig.from_scale(1.0).replace(**changes)


def test_every_knob_and_every_searched_config_field_has_a_case():
    import dataclasses

    assert {name for knobs, _ in _ONE_KNOB for name in knobs} == set(KNOB_NAMES)
    searched = {f.name for f in dataclasses.fields(EESPConfig)} - _NOT_SEARCHED
    assert {name for _, changes in _ONE_KNOB for name in changes} == searched
