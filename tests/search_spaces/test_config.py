from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces import PRESETS, ConfigError, EESPConfig, resolve
from tests.search_spaces.strategies import valid_configs

PAPER_WIDTHS = {  # ../shared/ESPNETV2.md, "Widths for the paper's width scale s"
    0.5: ((16, 32, 64, 128, 256), 1024),
    1.0: ((32, 64, 128, 256, 512), 1024),
    1.25: ((32, 80, 160, 320, 640), 1024),
    1.5: ((32, 96, 192, 384, 768), 1024),
    1.75: ((32, 112, 224, 448, 896), 1280),
    2.0: ((32, 128, 256, 512, 1024), 1280),
}


@pytest.mark.parametrize("scale", PAPER_WIDTHS)
def test_width_rule_matches_the_paper_table(scale):
    cfg = EESPConfig.from_scale(scale)
    assert (cfg.channels, cfg.head_channels) == PAPER_WIDTHS[scale]
    assert cfg.depths == (0, 3, 7, 3)
    assert cfg.dilation_caps == (13, 11, 9, 7, 5)


def test_presets_have_the_ablation_settings():
    assert not PRESETS["espnetv2-1.0-r1"].hff and not PRESETS["espnetv2-1.0-r1"].input_shortcut
    assert PRESETS["espnetv2-1.0-r2"].hff and not PRESETS["espnetv2-1.0-r2"].input_shortcut
    for name in ("espnetv2-0.5-pw", "espnetv2-1.0-pw"):
        assert PRESETS[name].reduce_groups == 1 and PRESETS[name].expand_groups == 4


@pytest.mark.parametrize("name", PRESETS)
def test_round_trips(name):
    cfg = PRESETS[name]
    assert EESPConfig.from_json(cfg.to_json()) == cfg
    assert EESPConfig.from_compact(cfg.to_compact()) == cfg
    assert EESPConfig.from_dict(cfg.to_dict()) == cfg
    assert resolve(cfg.to_compact()) == cfg
    assert resolve(cfg.to_json()) == cfg


def test_canonical_json_is_sorted_versioned_and_stable():
    cfg = PRESETS["espnetv2-1.0"]
    data = json.loads(cfg.to_json())
    assert list(data) == sorted(data)
    assert data["schema"] == 1
    # Pinned: a change here silently renames every stored architecture.
    assert cfg.arch_id == "bf1f5bd5fc32"
    assert len({c.arch_id for c in PRESETS.values()}) == len(PRESETS)


@given(valid_configs())
@settings(max_examples=60, deadline=None)
def test_any_valid_config_round_trips(cfg):
    assert EESPConfig.from_json(cfg.to_json()) == cfg
    assert EESPConfig.from_compact(cfg.to_compact()) == cfg
    assert EESPConfig.from_json(cfg.to_json()).arch_id == cfg.arch_id


def test_json_file_spec(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(PRESETS["espnetv2-0.5"].to_json(indent=2))
    assert resolve(str(path)) == PRESETS["espnetv2-0.5"]
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="malformed config JSON"):
        resolve(str(bad))


def test_unknown_spec_names_the_presets():
    with pytest.raises(ConfigError, match="espnetv2-0.5"):
        resolve("espnetv2-3.0")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"width": 3}, "unknown config key"),
        ({"schema": 2}, "schema=2 is not supported"),
        ({"branches": "4"}, "branches='4' is invalid"),
        ({"branches": True}, "branches=True is invalid"),
        ({"hff": 1}, "hff=1 is invalid"),
        ({"channels": [32, 64, 128, 256]}, "channels=.* 5 integers"),
        ({"channels": [32, 64, 128.0, 256, 512]}, "5 integers"),
        ({"dropout": "x"}, "dropout='x'"),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        EESPConfig.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channels": (32, 64, 130, 256, 512)}, r"channels\[2\] - channels\[1\]=66 .* not divisible by branches K=4"),
        ({"channels": (32, 64, 64, 256, 512)}, r"channels\[2\]=64 \(stage L3\) must exceed channels\[1\]=64"),
        ({"channels": (32, 64, 128, 256, 0)}, r"channels\[4\]=0 is invalid; valid: a positive integer"),
        ({"reduce_groups": 3}, "reduce_groups=3 does not divide"),
        ({"expand_groups": 3}, "expand_groups=3 does not divide"),
        ({"branches": 0}, "branches=0 is invalid"),
        ({"branches": 3}, "not divisible by branches K=3"),
        ({"head_channels": 1022}, "head_channels=1022 .* multiple of branches K=4"),
        ({"head_channels": -4}, "head_channels=-4 is invalid"),
        ({"num_classes": 0}, "num_classes=0 is invalid"),
        ({"dilation_caps": (13, 11, 2, 7, 5)}, r"dilation_caps\[2\]=2 is invalid; valid: 3 or more"),
        ({"depths": (0, -1, 7, 3)}, r"depths\[1\]=-1 \(stage L3\)"),
        ({"input_size": (31, 224)}, "input_size=31x224 is too small for 5 down-samplings"),
        ({"input_size": (224, 16)}, "each side >= 32"),
        ({"dropout": 1.0}, r"dropout=1.0 is invalid; valid: a number in \[0, 1\)"),
        ({"in_channels": 0}, "in_channels=0 is invalid"),
        ({"width": 1}, "unknown config field"),
    ],
)
def test_each_invalid_rule_names_field_value_and_what_is_valid(changes, message):
    with pytest.raises(ConfigError, match=message):
        PRESETS["espnetv2-1.0"].replace(**changes)


def test_units_rule_only_applies_where_units_exist():
    # c1 = 24, c2 = 40: the L2 down-sampler's EESP (16 channels, n = 4) is valid, but L2 units (n = 10) are not.
    with pytest.raises(ConfigError, match="units of L2"):
        EESPConfig(channels=(24, 40, 104, 232, 488), depths=(1, 3, 7, 3))
    with pytest.raises(ConfigError, match="units of L3"):  # with no L2 units, the first broken rule is L3's
        EESPConfig(channels=(24, 40, 104, 232, 488), depths=(0, 3, 7, 3))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c=32/64/128/256/512", "must start with 'eesp:'"),
        ("eesp:c=32/64", "channels=32/64 is invalid"),
        ("eesp:zz=1", "compact config item 'zz=1' is invalid"),
        ("eesp:k=four", "k='four' is invalid; valid: an integer"),
        ("eesp:hff=yes", "0 or 1"),
        ("eesp:in=224by224", "HxW"),
        ("eesp:k=4,k=4", "given twice"),
    ],
)
def test_malformed_compact_strings(text, message):
    with pytest.raises(ConfigError, match=message):
        EESPConfig.from_compact(text)


def test_compact_defaults_fill_missing_keys():
    assert EESPConfig.from_compact("eesp:c=16/32/64/128/256") == EESPConfig(channels=(16, 32, 64, 128, 256))


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "channels": st.lists(st.integers(-8, 80), min_size=5, max_size=5),
            "depths": st.lists(st.integers(-1, 2), min_size=4, max_size=4),
            "branches": st.integers(-1, 6),
            "reduce_groups": st.integers(0, 5),
            "expand_groups": st.integers(0, 5),
            "dilation_caps": st.lists(st.integers(0, 14), min_size=5, max_size=5),
            "head_channels": st.integers(-2, 40),
            "input_size": st.lists(st.integers(8, 48), min_size=2, max_size=2),
        },
    )
)
@settings(max_examples=80, deadline=None)
def test_a_config_is_either_refused_clearly_or_runs(data):
    """No assertion or shape error deep inside forward(): invalid configs fail at construction."""
    import torch

    from search_spaces import EESPNet

    try:
        cfg = EESPConfig.from_dict({**data, "num_classes": 3})
    except ConfigError:
        return
    model = EESPNet(cfg).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *cfg.input_size)).shape == (1, 3)
