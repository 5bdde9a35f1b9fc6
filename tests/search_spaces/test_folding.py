"""The deploy form against the eval-mode model: equal outputs (relative error < 1e-5 of the largest logit;
measured 2-3e-7 in fp32) on the six paper presets at 224x224 and on any config of the stages space."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from search_spaces import EESPConfig, build, deploy
from search_spaces.presets import PRESETS
from tests.search_spaces.strategies import valid_configs

#: max |deploy - eval| / max |eval|: fp32 reordering of sums and BN folding give ~3e-7 here.
RTOL = 1e-5
PAPER_PRESETS = [f"espnetv2-{s}" for s in ("0.5", "1.0", "1.25", "1.5", "1.75", "2.0")]


def _randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine terms (scales of both signs), so that folding is really tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            sign = torch.where(torch.rand(m.num_features, generator=g) < 0.2, -1.0, 1.0)
            m.weight.data.copy_((torch.rand(m.num_features, generator=g) + 0.5) * sign)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        elif isinstance(m, nn.PReLU):
            m.weight.data.uniform_(-0.5, 0.5, generator=g)
    return model.eval()


def _rel_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).abs().max() / expected.abs().max()).item()


def _check(model: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        expected, got = model(x), deploy(model)(x)
    assert got.shape == expected.shape
    return _rel_error(got, expected)


def test_the_six_paper_presets_exist():
    assert set(PAPER_PRESETS) <= set(PRESETS)


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_paper_presets_deploy_equals_eval_at_224(name):
    torch.manual_seed(1)
    assert _check(_randomised(build(name)), torch.randn(1, 3, 224, 224)) < RTOL


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=valid_configs(max_side=56), batch=st.integers(1, 3))
def test_any_config_deploys_to_an_equal_model(cfg: EESPConfig, batch: int):
    torch.manual_seed(0)
    model = _randomised(build(cfg))
    x = torch.randn(batch, cfg.in_channels, *cfg.input_size)
    assert _check(model, x) < RTOL
