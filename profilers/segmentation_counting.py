"""Exact counts of the ESPNetv2 segmentation network from its config alone, at any input size and class count.

The conventions are `profilers.counting`'s (one multiply-add per conv weight use; element-wise ops apart).
Stages: L1..L4 are the encoder (as in the classifier), `decoder` is everything after L4. The bilinear resizes
of the decoder are not counted, like concatenation and dropout: the paper's FLOPs count convolutions only, and
`profilers.hooks` (the cross-check) sees modules and additions, not functional resizes.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from profilers.counting import Counts, LayerCount, _out, _Walker
from search_spaces.segmentation import PYRAMID_LEVELS, SegmentationConfig, resolve_segmentation


class SegmentationCounts(Counts):
    """`Counts` of a segmentation config; `layers` is walked on demand like the classifier's."""

    @cached_property
    def layers(self) -> tuple[LayerCount, ...]:  # type: ignore[override]
        if self.given_layers is not None:
            return self.given_layers
        walker = _SegmentationWalker(record=True)
        walker.segmentation(self.config)  # type: ignore[arg-type]
        return tuple(walker.layers)

    def to_dict(self, by_layer: bool = False) -> dict[str, Any]:
        out = super().to_dict(by_layer)
        out["task"] = "segmentation"
        out["num_classes"] = self.config.num_classes  # type: ignore[attr-defined]
        return out


def count_segmentation(spec: Any, input_size: tuple[int, int] | None = None, num_classes: int | None = None):
    """Analytic counts of a segmentation `spec` (config, preset, `seg:...`, JSON) at `input_size` ((H, W);
    default: the config's) and `num_classes` (default: the config's)."""
    cfg: SegmentationConfig = resolve_segmentation(spec)
    changes: dict[str, Any] = {}
    if input_size is not None:
        changes["input_size"] = tuple(input_size)
    if num_classes is not None:
        changes["num_classes"] = num_classes
    if changes:
        cfg = cfg.replace(**changes)
    walker = _SegmentationWalker(record=False)
    walker.segmentation(cfg)
    totals = {key: tuple(row) for key, row in walker.totals.items()}
    return SegmentationCounts(cfg, (cfg.input_size[0], cfg.input_size[1]), totals)  # type: ignore[arg-type]


class _SegmentationWalker(_Walker):
    """Mirrors `search_spaces.segmentation_net.SegmentationNet` in eval mode (names are its module paths)."""

    def encoder(self, cfg: SegmentationConfig) -> list[tuple[int, int, int]]:
        enc = cfg.encoder
        c = enc.channels
        h, w = cfg.input_size
        image_h, image_w = h, w
        self.stage = "L1"
        h, w = self.cbr("stem", enc.in_channels, c[0], 3, h, w, stride=2)
        shapes = [(c[0], h, w)]
        for i in range(3):
            self.stage = f"L{i + 2}"
            down_cap, unit_cap = enc.stage_caps(i)
            name = f"stages.{i}"
            if enc.input_shortcut:  # the model pools the image just before the down-sampler runs
                sh, sw = image_h, image_w
                for _ in range(i + 2):
                    sh, sw = self.avg_pool("image_pool", enc.in_channels, sh, sw)
            ph, pw = self.avg_pool(f"{name}.down.pool", c[i], h, w)
            self.eesp(f"{name}.down.eesp", enc, c[i], c[i + 1] - c[i], h, w, stride=2, cap=down_cap)
            h, w = ph, pw
            if enc.input_shortcut:
                self.cbr(f"{name}.down.shortcut.0", enc.in_channels, enc.in_channels, 3, sh, sw)
                self.cbr(f"{name}.down.shortcut.1", enc.in_channels, c[i + 1], 1, sh, sw, act=False)
                self.add(f"{name}.down", c[i + 1], h, w)
            self.prelu(f"{name}.down.act", c[i + 1], h, w)
            if self.record:
                for u in range(enc.depths[i]):
                    self.eesp(f"{name}.units.{u}", enc, c[i + 1], c[i + 1], h, w, stride=1, cap=unit_cap)
            elif enc.depths[i]:
                self.times = enc.depths[i]
                self.eesp(f"{name}.units.*", enc, c[i + 1], c[i + 1], h, w, stride=1, cap=unit_cap)
                self.times = 1
            shapes.append((c[i + 1], h, w))
        return shapes

    def merge_eesp(self, cfg: SegmentationConfig, c_in: int, c_out: int, h: int, w: int) -> None:
        """The decoder's EESP unit: like a stride-1 unit, but no residual; its PReLU is `merge_act`."""
        enc = cfg.encoder
        k = enc.branches
        n = c_out // k
        self.cbr("merge.reduce", c_in, n, 1, h, w, groups=enc.reduce_groups)
        for i in range(k):
            self.conv(f"merge.branches.{i}", n, n, 3, h, w, groups=n)
        if enc.hff:
            self.add("merge", n, h, w, times=k - 1)
        self.bn("merge.fuse.bn", c_out, h, w)
        self.prelu("merge.fuse.act", c_out, h, w)
        self.cbr("merge.expand", c_out, c_out, 1, h, w, groups=enc.expand_groups, act=False)
        self.prelu("merge_act", c_out, h, w)

    def segmentation(self, cfg: SegmentationConfig) -> None:
        (c1, h1, w1), (c2, h2, w2), (c3, h3, w3), (c4, h4, w4) = self.encoder(cfg)
        classes = cfg.num_classes
        self.stage = "decoder"
        self.cbr("project_l4", c4, c3, 1, h4, w4)
        self.merge_eesp(cfg, 2 * c3, c3, h3, w3)
        ph, pw = h3, w3
        for i in range(PYRAMID_LEVELS):
            ph, pw = _out(ph, 2), _out(pw, 2)
            self._add("pyramid.pool", "pool", 0, 0, 9 * c3 * ph * pw, (c3, ph, pw))
            self.conv(f"pyramid.stages.{i}", c3, c3, 3, ph, pw, groups=c3)
        self.cbr("pyramid.project", (PYRAMID_LEVELS + 1) * c3, c3, 1, h3, w3)
        self.conv("classify_l3", c3, classes, 1, h3, w3)
        self.bn("act_l3.bn", classes, h3, w3)
        self.prelu("act_l3.act", classes, h3, w3)
        self.cbr("project_l2", c2 + classes, classes, 1, h2, w2)
        self.conv("classify_l1", c1 + classes, classes, 1, h1, w1)


def count_segmentation_model(model: Any, input_size: tuple[int, int] | None = None) -> SegmentationCounts:
    """Counts of a built `SegmentationNet`, taken by running it with hooks (`profilers.hooks.count_model`);
    everything after L4 is the `decoder` stage."""
    from profilers.hooks import count_model

    counted = count_model(model, input_size)
    layers = [layer._replace(stage="decoder") if layer.stage == "head" else layer for layer in counted.layers]
    return SegmentationCounts.from_layers(counted.config, counted.input_size, layers)  # type: ignore[return-value]


def cross_check_segmentation(spec: Any, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Analytic counts next to the hook counts of the built model; `agrees` when they are equal."""
    from search_spaces.segmentation_net import SegmentationNet

    analytic = count_segmentation(spec, input_size)
    hooked = count_segmentation_model(SegmentationNet(analytic.config).eval())  # type: ignore[arg-type]
    fields = ("params", "conv_macs", "linear_macs", "macs", "elementwise_ops")
    return {
        "analytic": {f: getattr(analytic, f) for f in fields},
        "hooks": {f: getattr(hooked, f) for f in fields},
        "agrees": analytic.totals == hooked.totals,
    }


def segmentation_preset_rows() -> list[dict[str, Any]]:
    """Every segmentation preset's counts at 224x224 with 20 classes, next to the documented figures.

    The documented parameter counts are of the authors' code, which also builds a PReLU in every strided EESP
    that never runs (c4 - c1 slopes in all); `never_run_params` is that number, so that
    `params + never_run_params == paper_params` exactly.
    """
    from search_spaces.segmentation import (
        SEGMENTATION_PAPER_MACS,
        SEGMENTATION_PAPER_PARAMS,
        SEGMENTATION_PRESETS,
    )

    rows = []
    for name, cfg in SEGMENTATION_PRESETS.items():
        c = count_segmentation(cfg)
        c1, c4 = cfg.encoder.channels[0], cfg.encoder.channels[3]
        paper_macs = SEGMENTATION_PAPER_MACS.get(name)
        rows.append(
            {
                "preset": name,
                "arch_id": cfg.arch_id,
                "params": c.params,
                "never_run_params": c4 - c1,
                "paper_params": SEGMENTATION_PAPER_PARAMS[name],
                "conv_macs": c.conv_macs,
                "paper_macs": int(paper_macs) if paper_macs else None,
                "macs_rel_diff": c.conv_macs / paper_macs - 1 if paper_macs else None,
            }
        )
    return rows
