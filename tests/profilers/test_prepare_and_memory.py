"""`prepare` leaves the caller's model alone; memory is one quantity on every device, in latency's cuDNN setting."""

from __future__ import annotations

import torch
from torch import nn

from profilers.memory import cpu_tensor_peak_mb, measure_peak_memory
from profilers.models import prepare

MB = 1024.0 * 1024.0


def test_prepare_does_not_touch_the_callers_model(tiny):
    tiny.train()
    prepared = prepare(tiny, (3, 8, 8), dtype="bf16")
    assert tiny.training and all(p.dtype == torch.float32 for p in tiny.parameters())
    assert not prepared.model.training and all(p.dtype == torch.bfloat16 for p in prepared.model.parameters())


class _Chain(nn.Module):
    """conv (8 channels) -> relu (not in place) -> conv (4 channels): sizes to work out by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_cpu_tensor_peak_is_the_live_activation_bytes():
    model, x = _Chain().eval(), torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        peak = cpu_tensor_peak_mb(lambda: model(x))
    # At the peak, a's output and relu's output (2*8*16*16 fp32 each) are alive together: 32 KiB.
    assert peak * MB == 2 * (2 * 8 * 16 * 16 * 4)


def test_memory_runs_in_the_latency_paths_cudnn_setting():
    seen: list[bool] = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.backends.cudnn.benchmark)
            return x * 2

    before = torch.backends.cudnn.benchmark
    res = measure_peak_memory(Spy(), (3, 4, 4), batch_size=2)
    assert seen[0] is before and set(seen[1:]) == {True}  # prepare's check forward, then the measured ones
    assert torch.backends.cudnn.benchmark == before and res.options["cudnn_benchmark"] is True
    # The comparable figure: the output of x * 2, 2*3*4*4 fp32.
    assert res.tensor_peak_mb * MB == 2 * 3 * 4 * 4 * 4 and res.tensor_method.startswith("tensor storage")
