"""CUDA and NVML paths on a real GPU; each test skips itself where there is none.

Each expectation comes from a second, independent measurement or from hand arithmetic on the windows, never
from the code under test alone. The same paths run on CPU against the GPU simulator in test_gpusim.py.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from torch import nn

from profilers.energy import measure_energy, power_available
from profilers.latency import measure_latency
from profilers.memory import measure_peak_memory
from profilers.models import prepare

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _wall_ms_per_forward(model: str, shape: tuple[int, ...], n: int = 50) -> float:
    """Back-to-back forwards between two synchronisations, by the host clock: device time once queued."""
    p = prepare(model, shape, "cuda")
    with torch.inference_mode():
        for _ in range(10):
            p.forward()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            p.forward()
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000.0 / n


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_cuda_latency_is_device_time(cuda_graph):
    # At batch 64 the device, not the launches, sets the pace, so the wall clock over queued forwards is an
    # independent figure for device time.
    shape = (64, 3, 224, 224)
    res = measure_latency("espnetv2-1.0", shape, "cuda", cuda_graph=cuda_graph, time_budget_s=2.0)
    wall = _wall_ms_per_forward("espnetv2-1.0", shape)
    assert res.backend == ("latency-cuda-graph" if cuda_graph else "latency-cuda")
    assert res.median_ms == pytest.approx(wall, rel=0.10)
    assert res.options["execution"] == ("cuda-graph" if cuda_graph else "eager")


class _Spy(nn.Module):
    """Records the dtype and layout of what it is given (the measured forward's real input)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.seen: list[tuple[torch.dtype, torch.dtype, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        self.seen.append((x.dtype, self.conv.weight.dtype, channels_last))
        return self.conv(x)

    def __deepcopy__(self, memo: dict) -> _Spy:
        new = _Spy()
        new.load_state_dict(self.state_dict())
        new.seen = self.seen  # the copy `prepare` makes logs where the test looks
        return new


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_cuda_half_precision_runs_the_model_in_that_dtype(dtype):
    want = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    spy = _Spy()
    measure_latency(spy, (3, 64, 64), "cuda", dtype=dtype, channels_last=True, time_budget_s=0.5)
    assert spy.seen and set(spy.seen) == {(want, want, True)}
    assert spy.conv.weight.dtype == torch.float32  # the caller's model is untouched


def test_cuda_memory_is_activations_and_scales_with_batch(tiny):
    small = measure_peak_memory(tiny, (3, 128, 128), "cuda", batch_size=1)
    big = measure_peak_memory(tiny, (3, 128, 128), "cuda", batch_size=64)
    assert big.reserved_mb >= big.peak_mb
    # TinyNet's largest activations are 8 x 128 x 128 fp32 per image (two alive at once): 64x the batch
    # is 64x the bytes, give or take the allocator's 512-byte blocks and cuDNN workspace.
    assert 32 < big.tensor_peak_mb / small.tensor_peak_mb < 80
    assert small.tensor_peak_mb * 1024**2 >= 2 * 8 * 128 * 128 * 4


def test_nvml_energy_windows_add_up_and_net_is_positive_after_settling():
    avail = power_available("cuda")
    if not avail:
        pytest.skip(avail.reason)
    res = measure_energy("espnetv2-1.0", None, "cuda", batch_size=32, window_s=2.0, repeats=3)
    busy = [w for w in res.windows if w["kind"] == "busy"]
    # By hand from the windows: gross = energy / images; net subtracts idle power over the window.
    gross = [w["energy_mj"] / w["images"] for w in busy]
    net = [(w["energy_mj"] - res.idle_power_w * 1000 * w["duration_s"]) / w["images"] for w in busy]
    assert res.energy_mj_per_image == pytest.approx(statistics.median(gross))
    assert res.energy_mj_per_image_net == pytest.approx(statistics.median(net))
    assert min(net) > 0 and res.avg_power_w > res.idle_power_w > 0
    assert "converged" in res.protocol["idle"] and all(w["aligned"] for w in busy)
    assert res.power_limit_w is None or res.avg_power_w <= res.power_limit_w * 1.05
    assert res.fingerprint.get("nvml_match") == "uuid" and res.fingerprint.get("uuid")
