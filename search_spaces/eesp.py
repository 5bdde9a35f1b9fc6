"""The EESP unit (paper Fig. 1c): reduce, K depth-wise dilated branches, HFF, concatenate, expand."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.config import branch_dilations
from search_spaces.layers import BR, CB, CBR


class EESP(nn.Module):
    """EESP unit c_in -> c_out. With stride 1 it adds the input and applies PReLU; with stride 2 (inside a
    down-sampler) it returns the expanded features, with no residual and no activation."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        stride: int,
        branches: int,
        cap: int,
        reduce_groups: int,
        expand_groups: int,
        hff: bool,
    ) -> None:
        super().__init__()
        n = c_out // branches
        self.stride = stride
        self.hff = hff
        self.reduce = CBR(c_in, n, 1, groups=reduce_groups)
        self.branches = nn.ModuleList(
            nn.Conv2d(n, n, 3, stride=stride, padding=d, dilation=d, groups=n, bias=False)
            for d in branch_dilations(branches, cap)
        )
        self.fuse = BR(c_out)
        self.expand = CB(c_out, c_out, 1, groups=expand_groups)
        self.act = nn.PReLU(c_out) if stride == 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outputs = [self.branches[0](reduced)]
        for branch in self.branches[1:]:
            out = branch(reduced)
            if self.hff:
                out = out + outputs[-1]
            outputs.append(out)
        y = self.expand(self.fuse(torch.cat(outputs, 1)))
        if self.act is None:
            return y
        return self.act(y + x)
