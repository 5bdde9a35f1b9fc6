"""GPU runtimes on a real GPU: each skips itself without CUDA or without its package."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from profilers import runtimes as rt

SPEC = "eesp:c=16/32/64/128/256,d=0/1/1/1,k=4"

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"needs {module}")


@pytest.mark.parametrize("name", ["eager", "deploy", "compile"])
def test_torch_runtimes_on_cuda(name):
    res = rt.measure_runtime(SPEC, (64, 64), "cuda", runtime=name, batch_size=8, time_budget_s=0.5)
    assert res.backend.endswith(name) and res.fingerprint["device_name"]


@pytest.mark.parametrize("name", ["onnxruntime-cuda", "onnxruntime-trt"])
def test_onnxruntime_gpu_providers(name):
    _needs("onnxruntime")
    avail = rt.get_runtime(name).availability("cuda")
    if not avail:
        pytest.skip(avail.reason)
    res = rt.measure_runtime(SPEC, (64, 64), "cuda", runtime=name, batch_size=8, time_budget_s=0.5)
    assert res.options["runtime_settings"]["io_binding"] is True


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_tensorrt(dtype):
    _needs("torch_tensorrt")
    res = rt.measure_runtime(SPEC, (64, 64), "cuda", runtime="tensorrt", dtype=dtype, time_budget_s=0.5)
    assert res.options["runtime_settings"]["precision"] == dtype
