"""A network as a sum of units: the shapes the latency predictor measures once and adds up.

The unit of prediction follows what runtimes fuse (nn-Meter's idea): an EESP unit (reduce, K branches, HFF,
concatenation, BN/PReLU, expand, residual) is one block that onnxruntime and the deploy form each fuse
internally, while across units only a tensor is handed on. So a config decomposes into the stem, four
down-samplers (each with the image-pyramid pooling it needs), `depth` identical EESP units per stage, and
the head; identical units within a stage share one table entry.

The pyramid differs by form: the eval-form network re-pools the image from full resolution at every
shortcut stage (as the paper's code does); the deploy form pools it once, level by level. A down-sampler unit
therefore carries `pools` (how many 3x3/2 poolings it runs) and the resolution of the image it starts from.

Only the torch-free `decompose` is needed to predict; `build_unit` (which imports torch) to measure.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from search_spaces.config import EESPConfig, branch_dilations

#: Runtimes whose network pools the image pyramid once (the deploy form and what is built from it).
PYRAMID_ONCE = frozenset({"deploy", "compile"})


@dataclass(frozen=True)
class Unit:
    """One measurable block: `kind` (stem, down, unit, head), its parameters, and its input shape (N, C, H, W)."""

    kind: str
    params: tuple[tuple[str, Any], ...]
    shape: tuple[int, int, int, int]

    @property
    def key(self) -> str:
        """The table key, e.g. `unit:c=128,dil=1/2/3/4,ge=4,gr=4,hff=1,k=4@1x128x28x28`."""
        text = ",".join(f"{k}={_show(v)}" for k, v in self.params)
        return f"{self.kind}:{text}@{'x'.join(map(str, self.shape))}"

    def param(self, name: str) -> Any:
        return dict(self.params)[name]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, tuple):
        return "/".join(map(str, value))
    return str(value)


def _half(side: int) -> int:
    """Output side of a 3x3 stride-2 conv or pool with padding 1."""
    return (side - 1) // 2 + 1


def decompose(config: EESPConfig, batch: int = 1, runtime: str = "eager") -> list[tuple[Unit, int]]:
    """(unit, how many times it runs) for one forward of `config` at its input size and `batch`."""
    b, cin = batch, config.in_channels
    h, w = config.input_size
    c, k = config.channels, config.branches
    once = runtime in PYRAMID_ONCE
    out: list[tuple[Unit, int]] = [(Unit("stem", (("cin", cin), ("cout", c[0])), (b, cin, h, w)), 1)]
    sides = [(h, w)]
    for _ in range(5):
        sides.append((_half(sides[-1][0]), _half(sides[-1][1])))
    shortcut = config.shortcut_stages()
    for i in range(4):
        down_cap, unit_cap = config.stage_caps(i)
        hi, wi = sides[i + 1]  # input resolution of stage i's down-sampler (stem output for i = 0)
        common = (("ge", config.expand_groups), ("gr", config.reduce_groups), ("hff", config.hff), ("k", k))
        down: tuple[tuple[str, Any], ...] = (
            ("cout", c[i + 1]),
            ("dil", branch_dilations(k, down_cap)),
            *common,
        )
        if i in shortcut:
            # Stage i's output is the image pooled i + 2 times; the deploy form starts from the previous level.
            start = 0 if (not once or i == 0) else i + 1
            src = sides[start]
            down = (*down, ("img", f"{cin}x{src[0]}x{src[1]}"), ("pools", i + 2 - start))
        out.append((Unit("down", down, (b, c[i], hi, wi)), 1))
        if config.depths[i]:
            ho, wo = sides[i + 2]
            unit = (("c", c[i + 1]), ("dil", branch_dilations(k, unit_cap)), *common)
            out.append((Unit("unit", unit, (b, c[i + 1], ho, wo)), config.depths[i]))
    ho, wo = sides[5]
    head = (("classes", config.num_classes), ("head", config.head_channels), ("k", k))
    out.append((Unit("head", head, (b, c[4], ho, wo)), 1))
    return out


@functools.cache
def _dilations(k: int, cap: int) -> str:
    return _show(branch_dilations(k, cap))


def unit_keys(config: EESPConfig, batch: int = 1, runtime: str = "eager") -> list[tuple[str, int]]:
    """The same as `[(u.key, n) for u, n in decompose(...)]`, written out for speed: the predictor's hot path
    (a few microseconds per config, where building `Unit` objects costs tens)."""
    b, cin = batch, config.in_channels
    h, w = config.input_size
    c, k, caps = config.channels, config.branches, config.dilation_caps
    ge, gr, hff = config.expand_groups, config.reduce_groups, int(config.hff)
    once = runtime in PYRAMID_ONCE
    sides = [(h, w)]
    for _ in range(5):
        hh, ww = sides[-1]
        sides.append(((hh - 1) // 2 + 1, (ww - 1) // 2 + 1))
    out = [(f"stem:cin={cin},cout={c[0]}@{b}x{cin}x{h}x{w}", 1)]
    shortcut = config.shortcut_stages()
    tail = f"ge={ge},gr={gr},hff={hff},k={k}"
    for i in range(4):
        hi, wi = sides[i + 1]
        down_dil = _dilations(k, caps[i])
        key = f"down:cout={c[i + 1]},dil={down_dil},{tail}"
        if i in shortcut:
            start = 0 if (not once or i == 0) else i + 1
            key += f",img={cin}x{sides[start][0]}x{sides[start][1]},pools={i + 2 - start}"
        out.append((f"{key}@{b}x{c[i]}x{hi}x{wi}", 1))
        if config.depths[i]:
            ho, wo = sides[i + 2]
            unit_dil = _dilations(k, caps[i + 1])
            out.append((f"unit:c={c[i + 1]},dil={unit_dil},{tail}@{b}x{c[i + 1]}x{ho}x{wo}", config.depths[i]))
    ho, wo = sides[5]
    out.append((f"head:classes={config.num_classes},head={config.head_channels},k={k}@{b}x{c[4]}x{ho}x{wo}", 1))
    return out


def distinct_units(configs: Iterable[EESPConfig], batch: int, runtime: str) -> list[Unit]:
    """Every distinct unit the configs use, in first-seen order."""
    seen: dict[str, Unit] = {}
    for cfg in configs:
        for unit, _ in decompose(cfg, batch, runtime):
            seen.setdefault(unit.key, unit)
    return list(seen.values())


def build_unit(unit: Unit, seed: int = 0) -> tuple[Any, tuple[Any, ...]]:
    """The unit as an eval-mode module with seeded random inputs of its shape (imports torch)."""
    import torch
    from torch import nn

    from search_spaces.downsampler import DownSampler
    from search_spaces.eesp import EESP
    from search_spaces.layers import CBR

    gen = torch.Generator().manual_seed(seed)
    n, c = unit.shape[:2]
    x = torch.randn(unit.shape, generator=gen)
    p = dict(unit.params)
    if unit.kind == "stem":
        return CBR(p["cin"], p["cout"], 3, stride=2).eval(), (x,)
    if unit.kind == "head":
        k = p["k"]
        module = nn.Sequential(
            CBR(c, c, 3, groups=c),
            CBR(c, p["head"], 1, groups=k),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Linear(p["head"], p["classes"]),
        )
        return module.eval(), (x,)
    cap = max(2 * d + 1 for d in p["dil"])  # the smallest cap that gives these dilations
    common = {"branches": p["k"], "cap": cap, "reduce_groups": p["gr"], "expand_groups": p["ge"], "hff": p["hff"]}
    if unit.kind == "unit":
        return EESP(c, p["c"], stride=1, **common).eval(), (x,)
    if unit.kind == "down":
        if "img" not in p:
            return _Down(DownSampler(c, p["cout"], shortcut_channels=None, **common), 0).eval(), (x,)
        ci, hi, wi = (int(v) for v in p["img"].split("x"))
        image = torch.randn((n, ci, hi, wi), generator=gen)
        module = _Down(DownSampler(c, p["cout"], shortcut_channels=ci, **common), p["pools"])
        return module.eval(), (x, image)
    raise ValueError(f"unknown unit kind {unit.kind!r}")


def _down_class() -> type:
    from torch import nn

    class Down(nn.Module):
        """A down-sampler with the image poolings its stage needs in front of its shortcut."""

        def __init__(self, down: nn.Module, pools: int) -> None:
            super().__init__()
            self.down, self.pools = down, pools
            self.image_pool = nn.AvgPool2d(3, stride=2, padding=1)

        def forward(self, x, image=None):  # type: ignore[no-untyped-def]
            for _ in range(self.pools):
                image = self.image_pool(image)
            return self.down(x, image)

    return Down


def _Down(down: Any, pools: int) -> Any:
    """A `Down` module; the class is made on first use, so that importing this module needs no torch."""
    global _DOWN
    if _DOWN is None:
        _DOWN = _down_class()
    return _DOWN(down, pools)


_DOWN: type | None = None
