"""Exact parameter and operation counts from a config alone, without building a model.

Conventions (per image, i.e. batch 1; the unit is in every name):
- macs: multiply-adds of convolutions (`conv_macs`, the paper's "FLOPs") and of the final Linear
  (`linear_macs`). A conv producing C_out x H x W with kernel kh x kw and g groups costs
  C_out * H * W * (C_in / g) * kh * kw. Tools that say "FLOPs" for 2 x MACs are off by exactly 2.
- elementwise_ops, kept apart from MACs: BatchNorm 1 per output element (inference: one fused scale-and-shift),
  PReLU 1 per element, 3x3 average pooling 9 per output element (the window sum), global average pooling 1 per
  input element, tensor additions (HFF, residual, input shortcut) 1 per output element. Concatenation, dropout
  and reshapes are free.
- params: every learnable parameter (conv weights, BN weight and bias, PReLU slopes, Linear weight and bias);
  BN running statistics are buffers, not parameters.

Layer names are the module paths of the built model (`stages.1.units.0.reduce.conv`); additions are named
`<module path>:add`. `profilers.hooks.count_model` counts a built model with the same conventions and names, so
the two can be compared exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from search_spaces.config import EESPConfig, branch_dilations
from search_spaces.spec import Spec, resolve

KINDS = ("conv", "linear", "bn", "prelu", "pool", "add")


class LayerCount(NamedTuple):
    """One layer call: its module path, stage, kind, parameters, multiply-adds and element-wise ops.
    (A NamedTuple rather than a dataclass: a config has hundreds of layers and counting must stay instant.)"""

    name: str
    stage: str
    kind: str
    params: int
    macs: int
    elementwise_ops: int
    output_shape: tuple[int, int, int]


@dataclass(frozen=True)
class Counts:
    """Counts of one config at one input size.

    `totals` maps (stage, kind) to (params, macs, elementwise_ops); every total is a sum over it. `layers`, the
    per-call listing, is built on first use: `count()` computes totals without it, walking each stage's
    identical units once, which is what keeps counting instant.
    """

    config: EESPConfig
    input_size: tuple[int, int]
    totals: Mapping[tuple[str, str], tuple[int, int, int]] = field(repr=False)
    given_layers: tuple[LayerCount, ...] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_layers(cls, config: EESPConfig, input_size: tuple[int, int], layers: Sequence[LayerCount]) -> Counts:
        """Totals of a listing; a module called several times (the shared image pool) has its parameters once."""
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        seen: set[str] = set()
        for layer in layers:
            row = totals[(layer.stage, layer.kind)]
            if layer.name not in seen:
                seen.add(layer.name)
                row[0] += layer.params
            row[1] += layer.macs
            row[2] += layer.elementwise_ops
        return cls(config, input_size, {k: tuple(v) for k, v in totals.items()}, tuple(layers))

    @cached_property
    def layers(self) -> tuple[LayerCount, ...]:
        if self.given_layers is not None:
            return self.given_layers
        walker = _Walker(record=True)
        walker.network(self.config)
        return tuple(walker.layers)

    def _sum(self, index: int, kinds: tuple[str, ...] = KINDS) -> int:
        return sum(row[index] for (_, kind), row in self.totals.items() if kind in kinds)

    @property
    def params(self) -> int:
        return self._sum(0)

    @property
    def conv_macs(self) -> int:
        return self._sum(1, ("conv",))

    @property
    def linear_macs(self) -> int:
        return self._sum(1, ("linear",))

    @property
    def macs(self) -> int:
        """Conv + Linear multiply-adds."""
        return self.conv_macs + self.linear_macs

    @property
    def elementwise_ops(self) -> int:
        return self._sum(2)

    def by_stage(self) -> dict[str, dict[str, int]]:
        """Per stage (L1..L5, head, classifier): params, conv_macs, linear_macs, elementwise_ops."""
        table: dict[str, dict[str, int]] = {}
        for (stage, kind), (params, macs, ops) in self.totals.items():
            row = table.setdefault(stage, {"params": 0, "conv_macs": 0, "linear_macs": 0, "elementwise_ops": 0})
            row["params"] += params
            row["elementwise_ops"] += ops
            if kind in ("conv", "linear"):
                row[f"{kind}_macs"] += macs
        return table

    def by_kind(self) -> dict[str, int]:
        """Element-wise ops (or MACs, for conv and linear) per kind of layer."""
        out = dict.fromkeys(KINDS, 0)
        for (_, kind), (_, macs, ops) in self.totals.items():
            out[kind] += macs + ops
        return out

    def to_dict(self, by_layer: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "arch_id": self.config.arch_id,
            "input_size": list(self.input_size),
            "params": self.params,
            "macs": self.macs,
            "conv_macs": self.conv_macs,
            "linear_macs": self.linear_macs,
            "flops": 2 * self.macs,
            "elementwise_ops": self.elementwise_ops,
            "elementwise_ops_by_kind": {k: v for k, v in self.by_kind().items() if k not in ("conv", "linear")},
            "by_stage": self.by_stage(),
            "config": self.config.to_dict(),
        }
        if by_layer:
            out["layers"] = [layer._asdict() for layer in self.layers]
        return out


def count(spec: Spec, input_size: tuple[int, int] | None = None) -> Counts:
    """Analytic counts of `spec` (a config, preset name, JSON path or compact string) at `input_size`
    ((H, W); default: the config's own)."""
    cfg = resolve(spec)
    if input_size is not None:
        cfg = cfg.replace(input_size=tuple(input_size))
    walker = _Walker(record=False)
    walker.network(cfg)
    totals = {key: tuple(row) for key, row in walker.totals.items()}
    return Counts(cfg, (cfg.input_size[0], cfg.input_size[1]), totals)


def _out(side: int, stride: int) -> int:
    """Output side of a 3x3 conv or pool with 'same' padding (or any 1x1 conv) at this stride."""
    return (side - 1) // stride + 1


class _Walker:
    """Mirrors the module tree of `search_spaces.network.EESPNet`, adding every layer call to the totals and,
    with `record`, listing it. Without `record` the identical units of a stage are walked once, `times` over."""

    def __init__(self, record: bool) -> None:
        self.record = record
        self.layers: list[LayerCount] = []
        self.totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        self.stage = "L1"
        self.times = 1

    def _add(self, name: str, kind: str, params: int, macs: int, ops: int, shape: tuple[int, int, int]) -> None:
        row = self.totals[(self.stage, kind)]
        row[0] += params * self.times
        row[1] += macs * self.times
        row[2] += ops * self.times
        if self.record:
            self.layers.append(LayerCount(name, self.stage, kind, params, macs, ops, shape))

    # leaf layers -----------------------------------------------------------------------------------------
    def conv(self, name: str, c_in: int, c_out: int, k: int, h: int, w: int, stride: int = 1, groups: int = 1):
        h, w = _out(h, stride), _out(w, stride)
        per_out = (c_in // groups) * k * k
        self._add(name, "conv", c_out * per_out, c_out * h * w * per_out, 0, (c_out, h, w))
        return h, w

    def bn(self, name: str, c: int, h: int, w: int) -> None:
        self._add(name, "bn", 2 * c, 0, c * h * w, (c, h, w))

    def prelu(self, name: str, c: int, h: int, w: int) -> None:
        self._add(name, "prelu", c, 0, c * h * w, (c, h, w))

    def add(self, name: str, c: int, h: int, w: int, times: int = 1) -> None:
        for _ in range(times):
            self._add(f"{name}:add", "add", 0, 0, c * h * w, (c, h, w))

    def avg_pool(self, name: str, c: int, h: int, w: int):
        h, w = _out(h, 2), _out(w, 2)
        self._add(name, "pool", 0, 0, 9 * c * h * w, (c, h, w))
        return h, w

    # blocks ----------------------------------------------------------------------------------------------
    def cbr(self, name: str, c_in: int, c_out: int, k: int, h: int, w: int, stride=1, groups=1, act=True):
        h, w = self.conv(f"{name}.conv", c_in, c_out, k, h, w, stride, groups)
        self.bn(f"{name}.bn", c_out, h, w)
        if act:
            self.prelu(f"{name}.act", c_out, h, w)
        return h, w

    def eesp(self, name: str, cfg: EESPConfig, c_in: int, c_out: int, h: int, w: int, stride: int, cap: int):
        k = cfg.branches
        n = c_out // k
        self.cbr(f"{name}.reduce", c_in, n, 1, h, w, groups=cfg.reduce_groups)
        for i, _ in enumerate(branch_dilations(k, cap)):
            ho, wo = self.conv(f"{name}.branches.{i}", n, n, 3, h, w, stride, groups=n)
        if cfg.hff:
            self.add(name, n, ho, wo, times=k - 1)
        self.bn(f"{name}.fuse.bn", c_out, ho, wo)
        self.prelu(f"{name}.fuse.act", c_out, ho, wo)
        self.cbr(f"{name}.expand", c_out, c_out, 1, ho, wo, groups=cfg.expand_groups, act=False)
        if stride == 1:
            self.add(name, c_out, ho, wo)
            self.prelu(f"{name}.act", c_out, ho, wo)
        return ho, wo

    def network(self, cfg: EESPConfig) -> None:
        c = cfg.channels
        h, w = cfg.input_size
        image_h, image_w = h, w
        self.stage = "L1"
        h, w = self.cbr("stem", cfg.in_channels, c[0], 3, h, w, stride=2)
        for i in range(4):
            self.stage = f"L{i + 2}"
            down_cap, unit_cap = cfg.stage_caps(i)
            name = f"stages.{i}"
            ph, pw = self.avg_pool(f"{name}.down.pool", c[i], h, w)
            self.eesp(f"{name}.down.eesp", cfg, c[i], c[i + 1] - c[i], h, w, stride=2, cap=down_cap)
            h, w = ph, pw
            if i in cfg.shortcut_stages():
                sh, sw = image_h, image_w
                for _ in range(i + 2):  # the eval-mode model re-pools the image from full resolution
                    sh, sw = self.avg_pool("image_pool", cfg.in_channels, sh, sw)
                self.cbr(f"{name}.down.shortcut.0", cfg.in_channels, cfg.in_channels, 3, sh, sw)
                self.cbr(f"{name}.down.shortcut.1", cfg.in_channels, c[i + 1], 1, sh, sw, act=False)
                self.add(f"{name}.down", c[i + 1], h, w)
            self.prelu(f"{name}.down.act", c[i + 1], h, w)
            if self.record:
                for u in range(cfg.depths[i]):
                    self.eesp(f"{name}.units.{u}", cfg, c[i + 1], c[i + 1], h, w, stride=1, cap=unit_cap)
            elif cfg.depths[i]:
                self.times = cfg.depths[i]
                self.eesp(f"{name}.units.*", cfg, c[i + 1], c[i + 1], h, w, stride=1, cap=unit_cap)
                self.times = 1
        self.stage = "head"
        self.cbr("head.0", c[4], c[4], 3, h, w, groups=c[4])
        self.cbr("head.1", c[4], cfg.head_channels, 1, h, w, groups=cfg.branches)
        self._add("pool", "pool", 0, 0, cfg.head_channels * h * w, (cfg.head_channels, 1, 1))
        self.stage = "classifier"
        ch, nc = cfg.head_channels, cfg.num_classes
        self._add("classifier", "linear", ch * nc + nc, ch * nc, 0, (nc, 1, 1))


def preset_rows() -> list[dict[str, Any]]:
    """Every preset's analytic counts at 224x224 next to the paper's figures."""
    from search_spaces.presets import PAPER_FIGURES, PRESETS

    rows = []
    for name, cfg in PRESETS.items():
        c = count(cfg)
        paper = PAPER_FIGURES[name]
        rows.append(
            {
                "preset": name,
                "arch_id": cfg.arch_id,
                "params": c.params,
                "paper_params": int(paper.params),
                "params_rel_diff": c.params / paper.params - 1,
                "conv_macs": c.conv_macs,
                "paper_macs": int(paper.macs),
                "macs_rel_diff": c.conv_macs / paper.macs - 1,
                "source": paper.source,
            }
        )
    return rows
