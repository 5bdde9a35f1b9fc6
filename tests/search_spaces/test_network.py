from __future__ import annotations

import pytest
import torch
from torch import nn

from search_spaces import PRESETS, ConfigError, EESPConfig, branch_dilations, build, deploy


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        (13, (1, 2, 3, 4)),
        (11, (1, 2, 3, 4)),
        (9, (1, 2, 3, 4)),
        (7, (1, 1, 2, 3)),
        (5, (1, 1, 1, 2)),
        (3, (1, 1, 1, 1)),
    ],
)
def test_dilations_follow_the_cap_rule(cap, expected):
    assert branch_dilations(4, cap) == expected


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_runs_at_224_and_non_square(name):
    model = build(name).eval()
    assert model.config == PRESETS[name]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
        assert model(torch.randn(2, 3, 96, 161)).shape == (2, 1000)


def test_branches_use_the_stage_caps():
    model = build("espnetv2-1.0")
    down_l3 = model.stages[1].down.eesp  # down-sampler into L3 uses cap 11
    unit_l3 = model.stages[1].units[0]  # L3 units use cap 9
    unit_l5 = model.stages[3].units[0]  # L5 units use cap 5
    assert [b.dilation[0] for b in down_l3.branches] == [1, 2, 3, 4]
    assert [b.dilation[0] for b in unit_l3.branches] == [1, 2, 3, 4]
    assert [b.dilation[0] for b in unit_l5.branches] == [1, 1, 1, 2]
    assert model.stages[3].down.shortcut is None  # L5 never runs a shortcut: none is built
    assert all(model.stages[i].down.shortcut is not None for i in range(3))


def test_smallest_input_and_refusals():
    model = build("espnetv2-0.5").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
        with pytest.raises(ConfigError, match=r"input of shape \(1, 3, 31, 64\) is invalid"):
            model(torch.randn(1, 3, 31, 64))
        with pytest.raises(ConfigError, match="valid: \\(batch, 3, H, W\\)"):
            model(torch.randn(1, 1, 64, 64))


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine terms, so that folding them is actually tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("name", PRESETS)
def test_deploy_form_equals_the_eval_model(name):
    model = build(name)
    _randomise_batchnorm(model)
    model.eval()
    folded = deploy(model)
    assert folded.config == model.config
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-5


@pytest.mark.parametrize("name", ["espnetv2-1.0", "espnetv2-1.0-r1"])
def test_deploy_removes_every_batchnorm(name):
    model = build(name)
    _randomise_batchnorm(model)
    folded = deploy(model.eval())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())


def test_deploy_keeps_a_batchnorm_it_cannot_fold_safely():
    model = build("espnetv2-0.5")
    _randomise_batchnorm(model)
    unit = model.stages[1].units[0]
    unit.fuse.bn.weight.data[: unit.branches[0].out_channels] = 0.0  # a dead first branch: r_1 would divide by 0
    model.eval()
    folded = deploy(model)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 1
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-5


def test_deploy_does_not_touch_the_original():
    model = build("espnetv2-0.5").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deploy(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_one_channel_input_and_custom_classes():
    cfg = EESPConfig.from_scale(0.5, in_channels=1, num_classes=10, input_size=(32, 32))
    model = build(cfg).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 32, 48)).shape == (3, 10)
