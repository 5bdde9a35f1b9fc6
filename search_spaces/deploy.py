"""The deploy form of a model: batch-norm folded into the preceding convs, the image pyramid pooled once."""

from __future__ import annotations

import copy

import torch
from torch import nn

from search_spaces.eesp import EESP
from search_spaces.layers import BR, CB
from search_spaces.network import EESPNet


def deploy(model: EESPNet) -> EESPNet:
    """An eval-mode copy of `model` for inference; outputs equal the eval-mode model's (to rounding).

    Every conv -> BN pair becomes one conv with a bias. The BN after an EESP unit's concatenation is folded into
    the branch convs when the unit has no HFF; with HFF each branch output is a running sum of earlier branches,
    so that BN (a per-channel affine) stays.
    """
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in folded.modules():
            if isinstance(module, CB):
                module.conv = _fold(module.conv, module.bn)
                module.bn = nn.Identity()
            elif isinstance(module, EESP) and not module.hff:
                _fold_concat_bn(module)
    folded.pool_pyramid_once = True
    return folded


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
    )
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


def _fold_concat_bn(unit: EESP) -> None:
    """Without HFF, channel block i of the concatenation is exactly branch i's output: fold the BN slice into it."""
    assert isinstance(unit.fuse, BR)
    bn = unit.fuse.bn
    n = unit.branches[0].out_channels
    for i, branch in enumerate(unit.branches):
        part = nn.BatchNorm2d(n, eps=bn.eps)
        block = slice(i * n, (i + 1) * n)
        for name in ("weight", "bias"):
            getattr(part, name).copy_(getattr(bn, name)[block])
        for name in ("running_mean", "running_var"):
            getattr(part, name).copy_(getattr(bn, name)[block])
        unit.branches[i] = _fold(branch, part)
    unit.fuse.bn = nn.Identity()
