"""Zero-cost proxies against values computed by hand on tiny networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nas.train.zero_cost import MEASURES, zero_cost, zero_cost_scores
from search_spaces.errors import EspnasError


def _identity_linear(n: int = 2) -> nn.Linear:
    layer = nn.Linear(n, n, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(n))
    return layer


def test_grad_norm_and_snip_of_one_linear_layer() -> None:
    # W = I, x = (1, 2), target 1: z = (1, 2), p = softmax(z), dL/dW = (p - e1) x^T.
    model = _identity_linear()
    x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([1])
    p0 = math.exp(1) / (math.exp(1) + math.exp(2))  # 0.2689
    # grad = [[p0, 2 p0], [-p0, -2 p0]]: Frobenius norm p0 * sqrt(10); |W * grad| = p0 + 2 p0.
    scores = zero_cost(model, x, y, ["grad_norm", "snip"])
    assert scores["grad_norm"] == pytest.approx(p0 * math.sqrt(10), rel=1e-5)
    assert scores["snip"] == pytest.approx(3 * p0, rel=1e-5)


def test_synflow_is_twice_the_path_sum_and_ignores_signs_and_batchnorm() -> None:
    # out = |w2| |W1| 1; dR/dW1_ij = |w2_i|, dR/dw2_i = sum_j |W1_ij|: each layer contributes R, so synflow = 2R.
    w1 = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    w2 = torch.tensor([[-0.5, 2.0]])
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(w1)
        model[2].weight.copy_(w2)
        model[1].weight.fill_(7.0)  # would scale the path sum if BN were kept
    path_sum = 0.5 * (1 + 2) + 2.0 * (3 + 0.5)  # 8.5
    score = zero_cost(model, torch.randn(4, 2), torch.zeros(4, dtype=torch.long), ["synflow"])["synflow"]
    assert score == pytest.approx(2 * path_sum)
    assert torch.equal(model[0].weight, w1)  # the model itself is untouched


def test_naswot_log_det_of_hamming_kernel() -> None:
    # Codes after an identity layer: x1 = (1, -1) -> (1, 0); x2 = (1, 1) -> (1, 1).
    # K = [[2, 1], [1, 2]] (agreements among 2 units), det 3.
    model = nn.Sequential(_identity_linear(), nn.ReLU())
    x = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    assert zero_cost(model, x, torch.tensor([0, 1]), ["naswot"])["naswot"] == pytest.approx(math.log(3))


def test_jacob_cov_of_perfectly_correlated_jacobians() -> None:
    # A linear model has the same input Jacobian for every sample: the correlation matrix of 2 samples is all
    # ones, eigenvalues (0, 2): score = -(log(k) + 1/k + log(2 + k) + 1/(2 + k)), k = 1e-5.
    model = nn.Sequential(nn.Linear(3, 2))
    k = 1e-5
    expected = -(math.log(k) + 1 / k + math.log(2 + k) + 1 / (2 + k))
    got = zero_cost(model, torch.randn(2, 3), torch.tensor([0, 1]), ["jacob_cov"])["jacob_cov"]
    assert got == pytest.approx(expected, rel=1e-4)


def test_zico_on_one_layer_with_two_chunks() -> None:
    # Two one-sample chunks through W = I: g_c = (p_c - e_yc) x_c^T. Per element |mean| / std over chunks.
    model = _identity_linear()
    x = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    y = torch.tensor([1, 0])
    grads = []
    for xc, yc in zip(x, y, strict=True):
        p = torch.softmax(xc, 0)
        grads.append(torch.outer(p - torch.nn.functional.one_hot(yc, 2).float(), xc))
    g = torch.stack(grads).double().flatten(1)
    expected = math.log(float((g.abs().mean(0) / g.std(0)).sum()))
    assert zero_cost(model, x, y, ["zico"])["zico"] == pytest.approx(expected, rel=1e-6)


def test_meco_min_eigenvalue_of_channel_correlation() -> None:
    # A 1x1 conv with two channels: out0 = x, out1 = -x are perfectly anti-correlated: eigenvalues (0, 2).
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    model = nn.Sequential(conv, nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(1, 1, 3, 3)
    model(x)  # materialise the lazy layer
    assert zero_cost(model, x, torch.tensor([0]), ["meco"])["meco"] == pytest.approx(0.0, abs=1e-9)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 1.0]).view(2, 1, 1, 1))  # identical channels: still rank 1
    assert zero_cost(model, x, torch.tensor([0]), ["meco"])["meco"] == pytest.approx(0.0, abs=1e-9)


def test_every_measure_runs_on_an_eesp_network_and_leaves_it_unchanged() -> None:
    from search_spaces import build, resolve

    torch.manual_seed(0)
    model = build(resolve("espnetv2-0.5").replace(num_classes=10, input_size=(32, 32)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = zero_cost(model, torch.randn(4, 3, 32, 32), torch.arange(4))
    assert set(scores) == set(MEASURES) and all(math.isfinite(v) for v in scores.values())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_scores_of_a_spec_are_deterministic() -> None:
    a = zero_cost_scores("espnetv2-0.5", "digits", measures=["snip"], batch_size=4, image_size=32)
    b = zero_cost_scores("espnetv2-0.5", "digits", measures=["snip"], batch_size=4, image_size=32)
    assert a == b


def test_unknown_measure_is_a_one_line_error() -> None:
    with pytest.raises(EspnasError, match="unknown zero-cost measure 'flops'; valid: grad_norm"):
        zero_cost(nn.Linear(2, 2), torch.randn(2, 2), torch.tensor([0, 1]), ["flops"])
