"""The deploy form of a model: batch-norm folded away, the image pyramid pooled once, channels-last layout.

Every transformation is exact algebra (outputs equal the eval-mode model's to float rounding):
- conv -> BN becomes one conv with a bias;
- the BN after an EESP unit's concatenation is folded into the K branch convs. Without HFF, channel block i is
  branch i's output. With HFF block i is the running sum o_i = o_{i-1} + c_i, and with the BN's per-channel
  scale a and shift b, a_i o_i + b_i = (a_i c_i + b_i - r_i b_{i-1}) + r_i (a_{i-1} o_{i-1} + b_{i-1}) where
  r_i = a_i / a_{i-1}: the folded branch i plus r_i times the folded block i-1, one `addcmul` in place of the
  addition. (Where some |a| is tiny that division is unsafe, and the BN stays.)
- the activations use the channels-last memory format, in which oneDNN's CPU kernels for the depth-wise convs
  are markedly faster at batch 1, and every 1x1 conv becomes one (batched) matrix product over the pixels of
  that layout (`Pointwise`), faster than torch's 1x1 conv kernels at batch 1;
- the 3x3 stride-2 average pool of each down-sampler becomes a depth-wise conv with weights 1/9 (zero padding
  counted, as in AvgPool2d's default), which torch's CPU conv kernels run about 4x faster than avg_pool2d;
- the image pyramid for the input shortcuts is pooled once rather than from full resolution at every stage,
  with the same depth-wise conv in place of avg_pool2d (on a 3-channel channels-last image avg_pool2d was
  slower still: 4 pools took a fifth of the whole forward at batch 1);
- a grouped 1x1 conv with few outputs per group (the reducing convs: c/K^2 per group) becomes one dense matrix
  product with a block-diagonal weight: g times the multiply-adds (of exact zeros), but one GEMM that is
  2.7-3.6x faster here than g tiny ones (per-group outputs <= 8; measured for the thresholds below).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from search_spaces.downsampler import DownSampler
from search_spaces.eesp import EESP
from search_spaces.layers import CB
from search_spaces.network import EESPNet

_MIN_SCALE = 1e-4  # below this a BN scale is treated as zero: dividing by it would amplify rounding errors
#: A grouped 1x1 conv with at most this many outputs per group runs as one block-diagonal matrix product
#: (0 turns it off). On one CPU thread: 64->16 (g=4) 3.6x and 128->32 2.7x faster; 256->64 (16 per group)
#: 2.6x slower, so grouped products stay for wider groups.
BLOCK_DIAGONAL_MAX_GROUP_OUT = 8


def deploy(model: EESPNet) -> EESPNet:
    """An eval-mode copy of `model` for inference, equal in output, keeping `.config`."""
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in folded.modules():
            if isinstance(module, DownSampler):
                module.pool = _mean_pool_conv(module.eesp.reduce.conv.in_channels)
        _replace(folded, lambda m: isinstance(m, EESP), FoldedEESP)
        for module in folded.modules():
            if isinstance(module, CB):
                module.conv = _fold(module.conv, module.bn)
                del module.bn
        _replace(folded, _is_mean_pool, lambda m: MeanPool())  # the image pyramid's pools
        _replace(folded, _is_pointwise, Pointwise)
    folded.to(memory_format=torch.channels_last)
    folded.fast_inference = True
    return folded


class Pointwise(nn.Module):
    """A 1x1, stride-1 conv with g groups on a channels-last input, as one (batched) matrix product over the
    pixels: (HW, g, C_in/g) x (g, C_in/g, C_out/g). At batch 1 on CPU this beats torch's conv kernels, which take
    a slow path for 1x1 convs with one thread. The batch size is never read, so traced graphs keep it dynamic."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        g, c_out, c_in = conv.groups, conv.out_channels, conv.in_channels
        self.groups, self.c_in, self.c_out = g, c_in, c_out
        weight = conv.weight.detach().reshape(g, c_out // g, c_in // g).transpose(1, 2)  # (g, in/g, out/g)
        bias = (conv.bias.detach() if conv.bias is not None else torch.zeros(c_out)).reshape(g, 1, c_out // g)
        if g > 1 and c_out // g <= BLOCK_DIAGONAL_MAX_GROUP_OUT:  # one dense product, zeros off the blocks
            weight, bias, g = torch.block_diag(*weight)[None], bias.reshape(1, 1, c_out), 1
            self.groups = 1
        if g == 1:  # plain matrix product: no batch of groups to index
            weight, bias = weight[0], bias[0, 0]
        self.weight = nn.Parameter(weight.contiguous())
        self.bias = nn.Parameter(bias.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.groups == 1:
            y = torch.addmm(self.bias, x.permute(0, 2, 3, 1).reshape(-1, self.c_in), self.weight)
        else:
            rows = x.permute(0, 2, 3, 1).reshape(-1, self.groups, self.c_in // self.groups)  # a view when NHWC
            y = torch.baddbmm(self.bias, rows.transpose(0, 1), self.weight).transpose(0, 1)
        return y.reshape(-1, h, w, self.c_out).permute(0, 3, 1, 2)


class FoldedEESP(nn.Module):
    """An EESP unit whose post-concatenation BN is folded into its branches (see the module docstring)."""

    def __init__(self, unit: EESP) -> None:
        super().__init__()
        self.reduce, self.expand, self.act, self.hff = unit.reduce, unit.expand, unit.act, unit.hff
        self.fuse_act = unit.fuse.act
        bn = unit.fuse.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        k = len(unit.branches)
        n = unit.branches[0].out_channels
        a, b = scale.reshape(k, n), shift.reshape(k, n)
        self.fuse_bn: nn.Module | None = None
        self.register_buffer("ratios", None)
        if self.hff and k > 1 and bool((a[:-1].abs() < _MIN_SCALE).any()):
            self.branches, self.fuse_bn = unit.branches, bn  # unsafe to fold: keep the BN
            return
        ratios = a[1:] / a[:-1] if self.hff else torch.zeros(k - 1, n)
        folded = nn.ModuleList()
        for i, branch in enumerate(unit.branches):
            conv = _with_bias(branch)
            conv.weight.mul_(a[i].reshape(-1, 1, 1, 1))
            conv.bias.copy_(b[i] - (ratios[i - 1] * b[i - 1] if self.hff and i > 0 else 0))
            folded.append(conv)
        self.branches = folded
        if self.hff:
            self.ratios = ratios.reshape(k - 1, n, 1, 1).clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outputs = [self.branches[0](reduced)]
        for i, branch in enumerate(self.branches[1:]):
            out = branch(reduced)
            if self.ratios is not None:
                out = torch.addcmul(out, self.ratios[i], outputs[-1])
            elif self.hff:
                out = out + outputs[-1]
            outputs.append(out)
        y = torch.cat(outputs, 1)
        if self.fuse_bn is not None:
            y = self.fuse_bn(y)
        y = self.expand(self.fuse_act(y))
        if self.act is None:
            return y
        return self.act(y + x)


class MeanPool(nn.Module):
    """AvgPool2d(3, stride=2, padding=1) as a depth-wise conv with weights 1/9, for any channel count."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.full((1, 1, 3, 3), 1 / 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return nn.functional.conv2d(x, self.weight.expand(c, 1, 3, 3), stride=2, padding=1, groups=c)


def _is_mean_pool(m: nn.Module) -> bool:
    return (
        isinstance(m, nn.AvgPool2d)
        and m.kernel_size in (3, (3, 3))
        and m.stride in (2, (2, 2))
        and m.padding in (1, (1, 1))
        and m.count_include_pad
        and not m.ceil_mode
        and m.divisor_override is None
    )


def _mean_pool_conv(channels: int) -> nn.Conv2d:
    """AvgPool2d(3, stride=2, padding=1) on `channels` channels as a depth-wise conv."""
    conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1, groups=channels, bias=False)
    conv.weight.fill_(1 / 9)
    return conv


def _with_bias(conv: nn.Conv2d) -> nn.Conv2d:
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
    fused.weight.copy_(conv.weight)
    fused.bias.copy_(conv.bias if conv.bias is not None else torch.zeros(conv.out_channels))
    return fused


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = _with_bias(conv)
    fused.weight.mul_(scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_((fused.bias - bn.running_mean) * scale + bn.bias)
    return fused


def _is_pointwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride == (1, 1) and m.padding == (0, 0)


def _replace(root: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace every sub-module that matches (outermost first) by `make(module)`."""
    for name, child in list(root.named_children()):
        if match(child):
            setattr(root, name, make(child))
        else:
            _replace(child, match, make)
