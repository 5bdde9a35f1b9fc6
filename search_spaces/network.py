"""The ESPNetv2 classifier built from an `EESPConfig`."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.config import MIN_INPUT_SIDE, EESPConfig
from search_spaces.downsampler import DownSampler
from search_spaces.eesp import EESP
from search_spaces.errors import ConfigError
from search_spaces.layers import CBR


class Stage(nn.Module):
    """One level L2..L5: a down-sampler followed by `depth` EESP units at the new resolution."""

    def __init__(self, cfg: EESPConfig, index: int) -> None:
        super().__init__()
        c_in, c_out = cfg.channels[index], cfg.channels[index + 1]
        down_cap, unit_cap = cfg.stage_caps(index)
        common = {
            "branches": cfg.branches,
            "reduce_groups": cfg.reduce_groups,
            "expand_groups": cfg.expand_groups,
            "hff": cfg.hff,
        }
        shortcut = cfg.in_channels if index in cfg.shortcut_stages() else None
        self.down = DownSampler(c_in, c_out, cap=down_cap, shortcut_channels=shortcut, **common)
        self.units = nn.ModuleList(
            EESP(c_out, c_out, stride=1, cap=unit_cap, **common) for _ in range(cfg.depths[index])
        )

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        x = self.down(x, image)
        for unit in self.units:
            x = unit(x)
        return x


class EESPNet(nn.Module):
    """Stem (L1), four stages (L2..L5), head (depth-wise CBR, grouped 1x1 CBR), global pool, dropout, Linear.

    The long-range shortcut feeds the input image, average-pooled to each stage's resolution, to the
    down-samplers of L2..L4. As in the paper's code, the eval/training model re-pools the image from full
    resolution at every down-sampler; the deploy form (`search_spaces.deploy`) pools the pyramid once.
    """

    def __init__(self, config: EESPConfig) -> None:
        super().__init__()
        self.config = config
        c, k = config.channels, config.branches
        self.stem = CBR(config.in_channels, c[0], 3, stride=2)
        self.stages = nn.ModuleList(Stage(config, i) for i in range(4))
        self.image_pool = nn.AvgPool2d(3, stride=2, padding=1) if config.input_shortcut else None
        self.head = nn.Sequential(CBR(c[4], c[4], 3, groups=c[4]), CBR(c[4], config.head_channels, 1, groups=k))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.head_channels, config.num_classes)
        self.fast_inference = False  # set by search_spaces.deploy: pool the pyramid once, channels-last input
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.001)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.config.in_channels)
        if self.fast_inference:
            x = x.contiguous(memory_format=torch.channels_last)
        image = x
        x = self.stem(x)
        pooled, times = image, 0
        for i, stage in enumerate(self.stages):
            shortcut_image = None
            if self.image_pool is not None and i in self.config.shortcut_stages():
                # Stage i's output is the image pooled i + 2 times (stem, i down-samplers, this one).
                if not self.fast_inference:
                    pooled, times = image, 0  # as the paper's code: re-pool from full resolution
                while times < i + 2:
                    pooled, times = self.image_pool(pooled), times + 1
                shortcut_image = pooled
            x = stage(x, shortcut_image)
        x = self.head(x)
        x = self.dropout(torch.flatten(self.pool(x), 1))
        return self.classifier(x)


def _check_input(x: torch.Tensor, channels: int) -> None:
    if x.dim() != 4 or x.shape[1] != channels or x.shape[-2] < MIN_INPUT_SIDE or x.shape[-1] < MIN_INPUT_SIDE:
        raise ConfigError(
            f"input of shape {tuple(x.shape)} is invalid; valid: (batch, {channels}, H, W) with "
            f"H, W >= {MIN_INPUT_SIDE}"
        )
