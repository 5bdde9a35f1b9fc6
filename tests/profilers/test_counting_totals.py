"""How counts add up: totals, per stage, per kind and as a dict, from a hand-built listing of layer calls whose
numbers are chosen by hand (a module called twice has its parameters once); counts are whole numbers."""

from __future__ import annotations

import pytest

from profilers.counting import Counts, LayerCount, count, preset_rows
from search_spaces import PAPER_FIGURES, PRESETS, EESPConfig

CONFIG = EESPConfig.from_scale(0.5)
LAYERS = (
    LayerCount("stem.conv", "L1", "conv", 10, 100, 0, (4, 8, 8)),
    LayerCount("stem.bn", "L1", "bn", 4, 0, 20, (4, 8, 8)),
    LayerCount("shared.conv", "L2", "conv", 6, 50, 0, (2, 4, 4)),
    LayerCount("stages.0:add", "L2", "add", 0, 0, 7, (2, 4, 4)),
    LayerCount("shared.conv", "L3", "conv", 6, 30, 0, (2, 2, 2)),  # the same module again: params once
    LayerCount("classifier", "classifier", "linear", 11, 10, 0, (1, 1, 1)),
)


@pytest.fixture
def counts() -> Counts:
    return Counts.from_layers(CONFIG, (64, 48), LAYERS)


def test_totals_of_a_listing(counts):
    assert counts.params == 10 + 4 + 6 + 11  # shared.conv's 6 once
    assert (counts.conv_macs, counts.linear_macs, counts.macs) == (180, 10, 190)
    assert counts.elementwise_ops == 27
    assert counts.layers == LAYERS and counts.config is CONFIG and counts.input_size == (64, 48)


def test_by_stage_adds_every_kind_of_a_stage(counts):
    assert counts.by_stage() == {
        "L1": {"params": 14, "conv_macs": 100, "linear_macs": 0, "elementwise_ops": 20},
        "L2": {"params": 6, "conv_macs": 50, "linear_macs": 0, "elementwise_ops": 7},
        "L3": {"params": 0, "conv_macs": 30, "linear_macs": 0, "elementwise_ops": 0},
        "classifier": {"params": 11, "conv_macs": 0, "linear_macs": 10, "elementwise_ops": 0},
    }


def test_by_kind_lists_every_kind(counts):
    assert counts.by_kind() == {"conv": 180, "linear": 10, "bn": 20, "prelu": 0, "pool": 0, "add": 7}


def test_as_a_dict(counts):
    out = counts.to_dict(by_layer=True)
    assert out["arch_id"] == CONFIG.arch_id and out["config"] == CONFIG.to_dict()
    assert {k: v for k, v in out.items() if k not in ("arch_id", "config", "by_stage", "layers")} == {
        "input_size": [64, 48],
        "params": 31,
        "macs": 190,
        "conv_macs": 180,
        "linear_macs": 10,
        "flops": 380,  # 2 x MACs
        "elementwise_ops": 27,
        "elementwise_ops_by_kind": {"bn": 20, "prelu": 0, "pool": 0, "add": 7},
    }
    assert out["by_stage"]["L1"] == {"params": 14, "conv_macs": 100, "linear_macs": 0, "elementwise_ops": 20}
    assert out["layers"][0] == {
        "name": "stem.conv",
        "stage": "L1",
        "kind": "conv",
        "params": 10,
        "macs": 100,
        "elementwise_ops": 0,
        "output_shape": (4, 8, 8),
    }
    assert "layers" not in counts.to_dict()


def test_counts_are_whole_numbers():
    c = count("espnetv2-0.5")
    assert all(type(x) is int for x in (c.params, c.conv_macs, c.linear_macs, c.elementwise_ops))
    assert all(type(x) is int for layer in c.layers for x in (layer.params, layer.macs, layer.elementwise_ops))


def test_preset_rows_put_the_paper_next_to_the_count():
    rows = {r["preset"]: r for r in preset_rows()}
    for name, row in rows.items():
        paper = PAPER_FIGURES[name]
        assert row["arch_id"] == PRESETS[name].arch_id
        assert (row["paper_params"], row["paper_macs"], row["source"]) == (
            int(paper.params),
            int(paper.macs),
            paper.source,
        )
        assert row["params_rel_diff"] == pytest.approx(row["params"] / paper.params - 1)
        assert row["macs_rel_diff"] == pytest.approx(row["conv_macs"] / paper.macs - 1)
        assert abs(row["params_rel_diff"]) <= 0.005 and abs(row["macs_rel_diff"]) <= 0.015
