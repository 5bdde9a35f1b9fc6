"""The strided EESP down-sampler (paper Fig. 2) with the optional long-range shortcut to the input image."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.eesp import EESP
from search_spaces.layers import CB, CBR


class DownSampler(nn.Module):
    """c_in -> c_out at half resolution: concat[avg-pool(x), strided EESP(x) with c_out - c_in channels],
    plus (optionally) CB(CBR(image pooled to this resolution)), then PReLU."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        branches: int,
        cap: int,
        reduce_groups: int,
        expand_groups: int,
        hff: bool,
        shortcut_channels: int | None,
    ) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.eesp = EESP(
            c_in,
            c_out - c_in,
            stride=2,
            branches=branches,
            cap=cap,
            reduce_groups=reduce_groups,
            expand_groups=expand_groups,
            hff=hff,
        )
        self.shortcut = (
            nn.Sequential(CBR(shortcut_channels, shortcut_channels, 3), CB(shortcut_channels, c_out, 1))
            if shortcut_channels is not None
            else None
        )
        self.act = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """`image` is the input image already pooled to this output's resolution (needed iff shortcut)."""
        y = torch.cat([self.pool(x), self.eesp(x)], 1)
        if self.shortcut is not None:
            y = y + self.shortcut(image)
        return self.act(y)
