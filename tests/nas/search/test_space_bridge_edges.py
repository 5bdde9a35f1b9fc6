"""The search space's knobs and bridge at their edges, with values by hand: what a knob asks an Optuna trial for,
which values a stepped range samples, the bounds of each knob's values, a space as a dict, and the bridge's
head-channel and per-stage-width paths."""

from __future__ import annotations

import random

import pytest

from nas.search.space import Knob, SpaceError, _check_value, parse_space, sample_to_config


class RecordingTrial:
    """Stands in for an Optuna trial: records each suggest_* call and answers the low bound."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def suggest_int(self, name, low, high, step=1, log=False):
        self.calls.append(("int", name, low, high, step, log))
        return low

    def suggest_float(self, name, low, high, step=None, log=False):
        self.calls.append(("float", name, low, high, step, log))
        return low

    def suggest_categorical(self, name, choices):
        self.calls.append(("categorical", name, choices))
        return choices[0]


@pytest.mark.parametrize(
    ("knob", "call"),
    [
        (Knob("depth_L3", low=1, high=5), ("int", "depth_L3", 1, 5, 1, False)),
        (Knob("depth_L4", low=2, high=8, step=3), ("int", "depth_L4", 2, 8, 3, False)),
        (Knob("c1", low=16, high=64, log=True), ("int", "c1", 16, 64, 1, True)),
        (Knob("scale", low=0.5, high=2.0, step=0.25), ("float", "scale", 0.5, 2.0, 0.25, False)),
        (Knob("scale", low=0.5, high=2.0, log=True), ("float", "scale", 0.5, 2.0, None, True)),
        (Knob("branches", choices=(2, 4)), ("categorical", "branches", [2, 4])),
    ],
)
def test_what_a_knob_asks_the_trial_for(knob, call):
    trial = RecordingTrial()
    knob.suggest(trial)
    assert trial.calls == [call]


@pytest.mark.parametrize(
    ("knob", "values"),
    [
        (Knob("depth_L3", low=2, high=4), {2, 3, 4}),
        (Knob("depth_L3", low=1, high=7, step=3), {1, 4, 7}),
        (Knob("scale", low=0.5, high=1.0, step=0.25), {0.5, 0.75, 1.0}),
    ],
)
def test_a_range_samples_every_step_and_nothing_else(knob, values):
    rng = random.Random(0)
    assert {knob.sample(rng) for _ in range(200)} == values


def test_an_unstepped_float_range_samples_inside_its_bounds():
    rng = random.Random(0)
    got = [Knob("scale", low=0.5, high=2.0).sample(rng) for _ in range(200)]
    assert all(0.5 <= x <= 2.0 for x in got) and min(got) < 0.6 and max(got) > 1.9


@pytest.mark.parametrize(
    ("key", "good", "bad", "valid"),
    [
        ("scale", [8, 0.01], [8.5, 0, True, "1"], "a width scale in (0, 8], the paper uses 0.5..2.0"),
        ("depth_L3", [0, 64], [65, -1, 1.0], "an integer number of units 0..64"),
        ("dilation_cap_2", [3], [2, 3.0], "an integer dilation cap of at least 3"),
        ("branches", [1], [0, 1.0], "a positive integer"),
        ("c3", [1], [0], "a positive integer"),
        ("expand_groups", ["K", 1], [0, "k"], 'a positive integer or "K" (= branches)'),
        ("head_channels", ["rule", 1], [0, 1.5], 'a positive integer or "rule" (the paper\'s)'),
        ("input_shortcut", [True, False], [1], "true or false"),
    ],
)
def test_the_bounds_of_each_knob(key, good, bad, valid):
    for v in good:
        _check_value("knobs." + key, key, v)
    for v in bad:
        with pytest.raises(SpaceError) as err:
            _check_value("knobs." + key, key, v)
        assert str(err.value) == f"knobs.{key}: {v!r} is invalid; valid: {valid}"


def test_a_space_as_a_dict():
    data = {"name": "s", "description": "d", "knobs": {"scale": {"low": 0.5, "high": 2.0, "step": 0.25}}}
    data["knobs"]["depth_L3"] = [2, 3]
    assert parse_space(data, source="x.toml").to_dict() == {
        "name": "s",
        "description": "d",
        "source": "x.toml",
        "knobs": {
            "scale": {"low": 0.5, "high": 2.0, "step": 0.25, "log": False},
            "depth_L2": 0,
            "depth_L3": [2, 3],
            "depth_L4": 7,
            "depth_L5": 3,
            "branches": 4,
            "reduce_groups": "K",
            "expand_groups": "K",
            "dilation_caps": "13,11,9,7,5",
            "hff": True,
            "input_shortcut": True,
            "head_channels": "rule",
        },
    }


WIDTHS = {"c1": 32, "c2": 128, "c3": 256, "c4": 512, "c5": 1024}  # espnetv2-1.0's channels


def test_per_stage_widths_reach_the_config_with_the_paper_head():
    cfg = sample_to_config({}, parse_space({"knobs": WIDTHS}))
    assert cfg.channels == (32, 128, 256, 512, 1024)
    assert cfg.head_channels == 1024


def test_an_explicit_head_reaches_the_config():
    assert sample_to_config({}, parse_space({"knobs": {**WIDTHS, "head_channels": 2048}})).head_channels == 2048
    assert sample_to_config({}, parse_space({"knobs": {"scale": 1.0, "head_channels": 1280}})).head_channels == 1280


def test_the_caps_string_reaches_the_config():
    space = parse_space({"knobs": {"dilation_caps": "9,7,5,3,3"}})
    assert sample_to_config({}, space).dilation_caps == (9, 7, 5, 3, 3)
    with pytest.raises(SpaceError, match=r"^dilation_caps: '9,7' is invalid; valid: a string of five caps"):
        sample_to_config({"dilation_caps": "9,7"}, space)


def test_an_unknown_knob_in_a_sample_lists_the_valid_ones():
    with pytest.raises(SpaceError) as err:
        sample_to_config({"scal": 1.0}, parse_space({"knobs": {}}))
    assert str(err.value).startswith("unknown knob 'scal' in the sample; valid knobs: scale, depth_L2, depth_L3, ")
