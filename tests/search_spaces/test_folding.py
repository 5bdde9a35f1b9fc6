"""The deploy form's steps, each against the eval-mode model: equal outputs (relative error < 1e-5 of the
largest logit; measured 2-3e-7 in fp32), and each step really taken."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from search_spaces import EESPConfig, build, deploy, folding
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


def test_stride_one_units_add_the_residual_in_the_expand_write_back(monkeypatch):
    """The grouped expand's write-back to channels-last takes the residual: one `add` with `out=` per unit,
    and no other add of the unit's input."""
    model = _randomised(build("espnetv2-0.5"))
    folded = deploy(model)
    units = [m for m in folded.modules() if isinstance(m, folding.FoldedEESP) and m.act is not None]
    assert units and all(u.residual_in_expand for u in units)
    calls = {"out": 0}
    real_add = torch.add

    def counting_add(*args, **kwargs):
        calls["out"] += "out" in kwargs
        return real_add(*args, **kwargs)

    monkeypatch.setattr(torch, "add", counting_add)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        got = folded(x)
        expected = model(x)
    assert calls["out"] == len(units)  # every stride-1 unit (grouped expand) fused its residual
    assert _rel_error(got, expected) < RTOL


@pytest.mark.parametrize("expand_groups", [1, 4])
def test_the_residual_is_right_dense_or_grouped_and_under_autograd(expand_groups: int):
    """expand_groups=1 takes the addmm path, 4 the grouped one; with autograd on, the grouped write-back avoids
    `out=` (which has no gradient) and gives the same numbers."""
    cfg = EESPConfig.from_scale(0.5, expand_groups=expand_groups, input_size=(64, 64))
    model = _randomised(build(cfg))
    x = torch.randn(2, 3, 64, 64)
    folded = deploy(model)
    with torch.inference_mode():
        expected = model(x)
        assert _rel_error(folded(x), expected) < RTOL
    got = folded(x)
    assert got.requires_grad
    assert _rel_error(got.detach(), expected) < RTOL


def test_convs_call_onednn_directly_on_cpu_fp32(monkeypatch):
    """Every non-1x1 conv of the deploy form goes to `torch.mkldnn_convolution` itself (no torch dispatch), and
    falls back to torch's conv for other dtypes, with equal outputs."""
    model = _randomised(build("espnetv2-0.5"))
    folded = deploy(model)
    convs = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(type(m) is folding.Conv and m.direct for m in convs)
    real = torch.mkldnn_convolution
    calls = {"n": 0}

    def counting(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(torch, "mkldnn_convolution", counting)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        expected, got = model(x), folded(x)
        assert calls["n"] == len(convs)
        assert _rel_error(got, expected) < RTOL
        calls["n"] = 0
        as_double = folded.double()(x.double())
        assert calls["n"] == 0
        assert _rel_error(as_double.float(), expected) < RTOL


def test_the_previous_form_is_still_equal_with_the_new_steps_off(monkeypatch):
    """benchmarks/deploy_runtimes.py times the form with both steps off beside it: that form must be right too."""
    monkeypatch.setattr(folding, "RESIDUAL_IN_EXPAND", False)
    monkeypatch.setattr(folding, "DIRECT_ONEDNN", False)
    model = _randomised(build("espnetv2-1.0"))
    folded = deploy(model)
    assert not any(type(m) is folding.Conv for m in folded.modules())
    assert not any(getattr(m, "residual_in_expand", False) for m in folded.modules())
    x = torch.randn(1, 3, 96, 96)
    with torch.inference_mode():
        assert _rel_error(folded(x), model(x)) < RTOL


def test_a_traced_deploy_form_uses_the_plain_ops():
    """torch.jit.trace (as ONNX export and torch.compile) records torch's own conv and add, never the direct
    oneDNN call or the `out=` write-back, and the traced graph gives the same output."""
    model = _randomised(build("espnetv2-0.5"))
    folded = deploy(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        expected = model(x)
    with torch.no_grad():
        traced = torch.jit.trace(folded, x, check_trace=False)
        graph = str(traced.inlined_graph)
        assert "mkldnn_convolution" not in graph and "aten::_convolution" in graph
        assert _rel_error(traced(x), expected) < RTOL
