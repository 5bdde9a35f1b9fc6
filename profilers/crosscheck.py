"""The analytic counts of a config next to the counts of the built model: hook-based (same conventions, must be
equal), fvcore and ptflops (their own conventions; see profilers.third_party)."""

from __future__ import annotations

from typing import Any

from profilers.counting import Counts, count
from profilers.hooks import count_model
from profilers.third_party import fvcore_counts, ptflops_counts
from search_spaces.network import EESPNet
from search_spaces.spec import Spec, resolve


def cross_check(spec: Spec, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Build the model once and count it four ways. `agrees` is True when hooks equal the analytic counts."""
    cfg = resolve(spec)
    if input_size is not None:
        cfg = cfg.replace(input_size=tuple(input_size))
    analytic: Counts = count(cfg)
    model = EESPNet(cfg).eval()
    hooked = count_model(model)
    size = (cfg.input_size[0], cfg.input_size[1])
    fields = ("params", "conv_macs", "linear_macs", "macs", "elementwise_ops")
    return {
        "analytic": {f: getattr(analytic, f) for f in fields},
        "hooks": {f: getattr(hooked, f) for f in fields},
        "agrees": all(getattr(analytic, f) == getattr(hooked, f) for f in fields),
        "fvcore": fvcore_counts(model, size),
        "ptflops": ptflops_counts(model, size, "pytorch"),
        "ptflops_aten": ptflops_counts(model, size, "aten"),
    }
