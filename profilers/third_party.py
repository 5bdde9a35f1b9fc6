"""fvcore's and ptflops' own counts of a built model, for side-by-side comparison with the analytic counts.

Why the three differ (measured on every preset; tests/profilers/test_counting.py checks these identities):
- analytic (espnas): conv and linear multiply-adds kept apart from element-wise ops (see profilers.counting).
- fvcore FlopCountAnalysis (one fused multiply-add = one "flop"): conv + linear MACs, plus 2 per BatchNorm
  element and 1 per input element of adaptive (global) average pooling. It skips PReLU, avg_pool2d and tensor
  additions (reported as unsupported ops).
- ptflops, default "pytorch" backend ("MACs"): conv + linear MACs + the Linear bias, plus 2 per BatchNorm
  element (affine), and PReLU and pooling counted twice, once by the module hook and once by the patched
  functional: 2 per PReLU element and 2 per pooling *input* element. Additions are not counted.
- ptflops "aten" backend: conv + linear MACs + the Linear bias only.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import torch
from torch import nn


def fvcore_counts(model: nn.Module, input_size: tuple[int, int]) -> dict[str, Any]:
    """fvcore's total, its per-operator split and the operators it skipped (with call counts)."""
    from fvcore.nn import FlopCountAnalysis

    channels = model.config.in_channels if hasattr(model, "config") else 3
    x = torch.zeros(1, channels, *input_size)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model.eval(), x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with torch.no_grad():
        total = int(analysis.total())
    return {
        "total": total,
        "by_operator": {k: int(v) for k, v in analysis.by_operator().items()},
        "skipped_ops": dict(analysis.unsupported_ops()),
    }


def ptflops_counts(model: nn.Module, input_size: tuple[int, int], backend: str = "pytorch") -> dict[str, Any]:
    """ptflops' MACs and params with the given backend ("pytorch", its default, or "aten")."""
    import ptflops

    channels = model.config.in_channels if hasattr(model, "config") else 3
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        torch.no_grad(),
    ):
        macs, params = ptflops.get_model_complexity_info(
            model.eval(),
            (channels, *input_size),
            as_strings=False,
            print_per_layer_stat=False,
            backend=backend,
        )
    return {"macs": int(macs), "params": int(params), "backend": backend}
