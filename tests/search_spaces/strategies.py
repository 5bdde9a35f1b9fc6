"""Hypothesis strategies for valid EESP configs (small, so that building and running them is fast)."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from search_spaces import EESPConfig


@st.composite
def valid_configs(draw: st.DrawFn, max_side: int = 72) -> EESPConfig:
    k = draw(st.integers(1, 4))
    reduce_groups = draw(st.sampled_from([1, 2]))
    expand_groups = draw(st.sampled_from([1, 2, 4]))
    # Every channel count a multiple of u satisfies all divisibility rules of every EESP unit.
    u = math.lcm(k * reduce_groups, expand_groups)
    c1 = u * draw(st.integers(1, 2))
    channels = [c1]
    for _ in range(4):
        channels.append(channels[-1] + u * draw(st.integers(1, 2)))
    return EESPConfig(
        channels=tuple(channels),
        depths=tuple(draw(st.lists(st.integers(0, 2), min_size=4, max_size=4))),
        branches=k,
        reduce_groups=reduce_groups,
        expand_groups=expand_groups,
        dilation_caps=tuple(draw(st.lists(st.integers(3, 13), min_size=5, max_size=5))),
        hff=draw(st.booleans()),
        input_shortcut=draw(st.booleans()),
        head_channels=k * draw(st.integers(1, 8)),
        num_classes=draw(st.integers(1, 12)),
        dropout=draw(st.sampled_from([0.0, 0.1, 0.2])),
        input_size=(draw(st.integers(32, max_side)), draw(st.integers(32, max_side))),
        in_channels=draw(st.sampled_from([1, 3])),
    )
