"""The modules of the ESPNetv2 segmentation network (see `search_spaces.segmentation` for the design)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.eesp import EESP
from search_spaces.layers import BR, CBR
from search_spaces.network import Stage, _check_input
from search_spaces.segmentation import PYRAMID_LEVELS, SegmentationConfig, resolve_segmentation


def upsample(x: torch.Tensor, like: torch.Tensor | tuple[int, int]) -> torch.Tensor:
    """Bilinear, align_corners=True (the authors' choice), to the spatial size of `like`."""
    size = tuple(like.shape[-2:]) if isinstance(like, torch.Tensor) else like
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class PyramidPooling(nn.Module):
    """Four cascaded 3x3/2 average pools, each followed by a depth-wise 3x3 conv (no BN), bilinearly upsampled
    back; concatenated with the input (5 c channels) -> CBR 1x1 -> c."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.stages = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False) for _ in range(PYRAMID_LEVELS)
        )
        self.project = CBR(channels * (PYRAMID_LEVELS + 1), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, pooled = [x], x
        for stage in self.stages:
            pooled = self.pool(pooled)
            outputs.append(upsample(stage(pooled), x))
        return self.project(torch.cat(outputs, 1))


class SegmentationNet(nn.Module):
    """Encoder (the classifier's L1..L4) and the paper's decoder. In training mode `forward` returns
    (main logits, auxiliary logits), both at the input's H x W; in eval mode the main logits only."""

    def __init__(self, config: SegmentationConfig) -> None:
        super().__init__()
        self.config = config
        enc = config.encoder
        c1, c2, c3, c4 = enc.channels[:4]
        classes = config.num_classes
        self.stem = CBR(enc.in_channels, c1, 3, stride=2)
        self.stages = nn.ModuleList(Stage(enc, i) for i in range(3))
        self.image_pool = nn.AvgPool2d(3, stride=2, padding=1) if enc.input_shortcut else None
        self.project_l4 = CBR(c4, c3, 1)
        self.merge = EESP(
            2 * c3,
            c3,
            stride=1,
            branches=enc.branches,
            cap=config.decoder_cap,
            reduce_groups=enc.reduce_groups,
            expand_groups=enc.expand_groups,
            hff=enc.hff,
        )
        # No residual here (2 c3 -> c3): the unit ends at its expanding CB and its PReLU runs separately, so
        # the deploy form's folded unit (which adds the input when `act` is set) keeps the same meaning.
        self.merge.act = None
        self.merge_act = nn.PReLU(c3)
        self.pyramid = PyramidPooling(c3)
        self.dropout_l3 = nn.Dropout2d(config.dropout)
        self.classify_l3 = nn.Conv2d(c3, classes, 1, bias=False)
        self.act_l3 = BR(classes)
        self.project_l2 = CBR(c2 + classes, classes, 1)
        self.dropout_l1 = nn.Dropout2d(config.dropout)
        self.classify_l1 = nn.Conv2d(c1 + classes, classes, 1, bias=False)
        self.fast_inference = False  # set by search_spaces.deploy: pool the pyramid once, channels-last input
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of L1, L2, L3, L4."""
        cfg = self.config.encoder
        image = x
        x = self.stem(x)
        features = [x]
        pooled, times = image, 0
        for i, stage in enumerate(self.stages):
            shortcut_image = None
            if self.image_pool is not None:
                if not self.fast_inference:
                    pooled, times = image, 0  # as the paper's code: re-pool from full resolution
                while times < i + 2:
                    pooled, times = self.image_pool(pooled), times + 1
                shortcut_image = pooled
            x = stage(x, shortcut_image)
            features.append(x)
        assert len(features) == 4 and cfg.input_shortcut == (self.image_pool is not None)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.config.in_channels)
        if self.fast_inference:
            x = x.contiguous(memory_format=torch.channels_last)
        size = x.shape[-2:]
        l1, l2, l3, l4 = self.encode(x)
        up4 = upsample(self.project_l4(l4), l3)
        merged = self.pyramid(self.merge_act(self.merge(torch.cat([l3, up4], 1))))
        aux = self.classify_l3(self.dropout_l3(merged))
        up3 = upsample(self.act_l3(aux), l2)
        merged_l2 = self.project_l2(torch.cat([l2, up3], 1))
        up2 = upsample(merged_l2, l1)
        main = upsample(self.classify_l1(self.dropout_l1(torch.cat([l1, up2], 1))), size)
        if self.training:
            return main, upsample(aux, size)
        return main


def build_segmentation(spec: Any) -> SegmentationNet:
    """The segmentation network for `spec` (a config, preset name, JSON or compact string); the module keeps its
    config as `.config`."""
    return SegmentationNet(resolve_segmentation(spec))
