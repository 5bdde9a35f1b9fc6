"""CUDA and NVML paths on a real GPU; each test skips itself where there is none."""

from __future__ import annotations

import pytest
import torch

from profilers.energy import measure_energy, power_available
from profilers.latency import measure_latency
from profilers.memory import measure_peak_memory

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_cuda_latency(tiny, cuda_graph):
    res = measure_latency(tiny, (3, 64, 64), "cuda", batch_size=8, cuda_graph=cuda_graph, time_budget_s=1.0)
    assert res.backend == ("latency-cuda-graph" if cuda_graph else "latency-cuda")
    assert 0 < res.median_ms < 100 and res.fingerprint["device_name"]


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_cuda_half_precision(tiny, dtype):
    res = measure_latency(tiny, (3, 64, 64), "cuda", dtype=dtype, channels_last=True, time_budget_s=0.5)
    assert res.options["dtype"] == dtype


def test_cuda_peak_memory_grows_with_batch(tiny):
    small = measure_peak_memory(tiny, (3, 128, 128), "cuda", batch_size=1)
    big = measure_peak_memory(tiny, (3, 128, 128), "cuda", batch_size=64)
    assert big.growth_mb > small.growth_mb and big.reserved_mb >= big.peak_mb


def test_nvml_energy_is_positive_and_consistent(tiny):
    avail = power_available("cuda")
    if not avail:
        pytest.skip(avail.reason)
    res = measure_energy("espnetv2-1.0", None, "cuda", batch_size=32, window_s=2.0, repeats=2)
    assert res.energy_mj_per_image > 0 and res.avg_power_w > res.idle_power_w > 0
    assert res.energy_mj_per_image_net <= res.energy_mj_per_image
    assert res.power_limit_w is None or res.avg_power_w <= res.power_limit_w * 1.2
    assert res.fingerprint.get("uuid")
