"""The shipped "stages" space (per-stage widths, depths, dilation caps, K and groups) and its bridge."""

from __future__ import annotations

import random

import pytest

from nas.search.space import SpaceError, load_space, parse_space, sample_to_config, shipped_spaces
from profilers.counting import count
from search_spaces import EESPConfig
from search_spaces.errors import ConfigError

STAGES = load_space("stages")

STAGES_SAMPLE = {
    "c1": 32,
    "c2": 64,
    "c3": 128,
    "c4": 256,
    "c5": 512,
    "depth_L2": 0,
    "depth_L3": 3,
    "depth_L4": 7,
    "depth_L5": 3,
    "branches": 4,
    "reduce_groups": "K",
    "dilation_cap_1": 13,
    "dilation_cap_2": 11,
    "dilation_cap_3": 9,
    "dilation_cap_4": 7,
    "dilation_cap_5": 5,
    "hff": True,
    "input_shortcut": True,
    "head_channels": 1024,
}


def test_shipped_spaces_load_by_name() -> None:
    assert {"paper", "stages"} <= set(shipped_spaces())
    assert load_space("paper").name == "paper" and STAGES.name == "stages"


def test_stages_varies_every_knob_the_generator_has() -> None:
    searched = {k.name for k in STAGES.searched}
    assert {"c1", "c2", "c3", "c4", "c5", "depth_L2", "depth_L3", "depth_L4", "depth_L5"} <= searched
    assert {"branches", "reduce_groups", "hff", "input_shortcut", "head_channels"} <= searched
    assert {f"dilation_cap_{i}" for i in range(1, 6)} <= searched


def test_the_paper_model_is_a_point_of_the_stages_space() -> None:
    cfg = sample_to_config(STAGES_SAMPLE, STAGES)
    assert cfg == EESPConfig.from_scale(1.0)


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.25, 1.5, 1.75, 2.0])
def test_every_paper_preset_is_a_point_of_the_stages_space(scale: float) -> None:
    # A space that cannot express the paper's models cannot be compared with them (or reach the band's 28M end).
    preset = EESPConfig.from_scale(scale)
    sample = {
        **STAGES_SAMPLE,
        **{f"c{i + 1}": c for i, c in enumerate(preset.channels)},
        **{f"depth_L{i + 2}": d for i, d in enumerate(preset.depths)},
        "head_channels": preset.head_channels,
    }
    for knob in STAGES.searched:
        value = sample[knob.name]
        if knob.kind == "categorical":
            allowed = value in knob.choices
        else:  # an integer range with a step
            allowed = knob.low <= value <= knob.high and (value - knob.low) % (knob.step or 1) == 0
        assert allowed, f"{knob.name}={value} is outside the stages space"
    assert sample_to_config(sample, STAGES) == preset


def test_per_level_caps_reach_the_config_in_order() -> None:
    cfg = sample_to_config({**STAGES_SAMPLE, "dilation_cap_1": 3, "dilation_cap_4": 9}, STAGES)
    assert cfg.dilation_caps == (3, 11, 9, 9, 5)


def test_a_good_share_of_random_samples_are_networks_in_the_default_band() -> None:
    # The space is meant for the search's band (28M..285M conv MACs at 224x224): over these 400 samples 151 are
    # networks and 102 of them in the band (since c3..c5 reach down to the s = 0.5 preset's widths, more
    # combinations fail to widen from stage to stage: 213 and 145 before).
    rng = random.Random(1)
    valid = in_band = 0
    for _ in range(400):
        try:
            macs = count(sample_to_config(STAGES.sample(rng), STAGES)).conv_macs
        except ConfigError:
            continue
        valid += 1
        in_band += 28e6 <= macs <= 285e6
    assert valid >= 140 and in_band >= 90


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"dilation_cap_1": 5}, "need all of dilation_cap_1..5; missing dilation_cap_2"),
        (
            {**{f"dilation_cap_{i}": 5 for i in range(1, 6)}, "dilation_caps": "5,5,5,5,5"},
            "either 'dilation_caps' or dilation_cap_1..5",
        ),
        ({**{f"dilation_cap_{i}": 5 for i in range(1, 6)}, "dilation_cap_3": 2}, "dilation cap of at least 3"),
    ],
)
def test_cap_knob_mistakes_are_one_line_errors(knobs: dict, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        parse_space({"name": "x", "knobs": knobs})
