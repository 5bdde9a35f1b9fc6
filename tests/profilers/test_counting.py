from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from torch.utils.flop_counter import FlopCounterMode

from profilers.counting import count, preset_rows
from profilers.crosscheck import cross_check
from profilers.hooks import count_model
from search_spaces import PAPER_FIGURES, PRESETS, EESPConfig, EESPNet, build
from tests.search_spaces.strategies import valid_configs


def _calls(counts) -> Counter:
    return Counter(
        (l.name, l.stage, l.kind, l.params, l.macs, l.elementwise_ops, l.output_shape) for l in counts.layers
    )


@pytest.mark.parametrize("name", PRESETS)
def test_presets_match_the_paper(name):
    c, paper = count(name), PAPER_FIGURES[name]
    assert abs(c.conv_macs / paper.macs - 1) <= 0.015
    assert abs(c.params / paper.params - 1) <= 0.005


@pytest.mark.parametrize("name", PRESETS)
def test_analytic_equals_the_built_model(name):
    model = build(name)
    analytic, hooked = count(name), count_model(model)
    assert _calls(analytic) == _calls(hooked)
    assert analytic.totals == hooked.totals  # the fast totals (identical units walked once) included
    assert analytic.params == sum(p.numel() for p in model.parameters())


@given(valid_configs(max_side=56))
@settings(max_examples=25, deadline=None)
def test_analytic_equals_the_built_model_for_random_configs(cfg):
    model = EESPNet(cfg)
    analytic, hooked = count(cfg), count_model(model)
    assert _calls(analytic) == _calls(hooked)
    assert analytic.totals == hooked.totals
    assert analytic.by_stage() == hooked.by_stage()
    assert analytic.params == sum(p.numel() for p in model.parameters())
    # An independent counter for the multiply-adds: torch's own (FLOPs = 2 x MACs).
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, cfg.in_channels, *cfg.input_size))
    assert counter.get_total_flops() == 2 * analytic.macs


def test_hand_derived_layers():
    c = count("espnetv2-1.0")
    layers = {l.name: l for l in c.layers}
    stem = layers["stem.conv"]  # 3 -> 32, 3x3, stride 2: 224 -> 112
    assert stem.macs == 32 * 112 * 112 * 3 * 9 and stem.params == 32 * 3 * 9
    reduce = layers["stages.1.units.0.reduce.conv"]  # 128 -> 32, 1x1, 4 groups, 28x28
    assert reduce.macs == 32 * 28 * 28 * (128 // 4) and reduce.params == 32 * 32
    branch = layers["stages.1.units.0.branches.0"]  # depth-wise 3x3 on 32 channels
    assert branch.macs == 32 * 28 * 28 * 9
    assert layers["classifier"].macs == 1024 * 1000 and layers["classifier"].params == 1024 * 1000 + 1000
    assert layers["stem.bn"].params == 64 and layers["stem.bn"].elementwise_ops == 32 * 112 * 112
    assert c.macs == c.conv_macs + c.linear_macs
    assert sum(r["conv_macs"] for r in c.by_stage().values()) == c.conv_macs


def test_input_size_and_non_square():
    c = count("espnetv2-1.0", (97, 61))
    assert c.input_size == (97, 61)
    assert _calls(c) == _calls(count_model(build("espnetv2-1.0"), (97, 61)))


def test_counting_needs_no_model(monkeypatch):
    import search_spaces.network as network

    monkeypatch.setattr(network.EESPNet, "__init__", lambda *a, **k: pytest.fail("built a model"))
    assert count("espnetv2-2.0").conv_macs > 0


def test_preset_rows_cover_every_preset():
    assert [r["preset"] for r in preset_rows()] == list(PRESETS)


def test_third_party_conventions_are_as_documented():
    """fvcore and ptflops differ from the analytic count in exactly the documented ways."""
    cfg = EESPConfig.from_scale(0.5, input_size=(64, 64))
    model = build(cfg).eval()
    cc = cross_check(cfg)
    analytic = count(cfg)
    kinds = analytic.by_kind()
    gap_input = next(l.elementwise_ops for l in analytic.layers if l.name == "pool")
    pool_inputs: list[int] = []
    handles = [
        m.register_forward_hook(lambda m, i, o: pool_inputs.append(i[0][0].numel()))
        for m in model.modules()
        if isinstance(m, (torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d))
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for h in handles:
        h.remove()
    bias = cfg.num_classes
    assert cc["agrees"]
    assert cc["fvcore"]["total"] == analytic.macs + 2 * kinds["bn"] + gap_input
    assert {"aten::prelu", "aten::avg_pool2d", "aten::add"} <= set(cc["fvcore"]["skipped_ops"])
    assert cc["ptflops"]["macs"] == analytic.macs + bias + 2 * kinds["bn"] + 2 * kinds["prelu"] + 2 * sum(pool_inputs)
    assert cc["ptflops_aten"]["macs"] == analytic.macs + bias
    assert cc["ptflops"]["params"] == analytic.params
