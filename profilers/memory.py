"""Peak memory of one forward pass: CUDA allocator peaks on GPU, resident-set growth of the process on CPU.

On CPU there is no allocator counter to ask, so we read the kernel's resident-set high-water mark (VmHWM),
after resetting it through /proc/self/clear_refs where the kernel allows; otherwise a thread samples VmRSS
every millisecond during the forward (which can miss a short peak; `method` says which was used).

Those two are not the same quantity (process pages against allocator bytes), so every result also has
`tensor_peak_mb`, which is: the peak of tensor bytes allocated during the forward above what was allocated
before it. On CUDA that is the caching allocator's max_memory_allocated minus memory_allocated before; on
CPU a dispatch mode adds up the storage of every tensor the forward creates while it is alive. A search
compares devices by that figure (`peak_memory_mb` in a trial). The forward runs with the same cuDNN
autotuner setting as the latency path, after one warm forward in that setting (autotuning allocates
workspaces of its own).
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Unpack

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from profilers.backend import Availability, Backend, cuda_availability, device_type
from profilers.fingerprint import fingerprint
from profilers.models import PrepareOptions, prepared_with_threads
from profilers.timing import cudnn_benchmark_set

MB = 1024.0 * 1024.0
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class MemoryResult:
    """Peak memory (MB) around one forward; `growth_mb` is the part above the level before the forward."""

    peak_mb: float
    growth_mb: float
    baseline_mb: float
    weights_mb: float
    method: str
    backend: str
    batch_size: int
    label: str = ""
    reserved_mb: float | None = None  # CUDA caching-allocator peak (what other processes cannot use)
    tensor_peak_mb: float = float("nan")  # peak tensor bytes above the level before the forward, any device
    tensor_method: str = ""
    unit: str = "MB"
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_kb(field_name: str, status: Path = _STATUS) -> float:
    for line in status.read_text().splitlines():
        if line.startswith(field_name + ":"):
            return float(line.split()[1])
    raise OSError(f"{field_name} not in {status}")


def rss_mb() -> float:
    """Current resident set of this process, MB."""
    return _status_kb("VmRSS") / 1024.0


def _reset_hwm() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS (Linux >= 4.0); False where refused."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def cpu_peak_growth(run: Callable[[], Any]) -> tuple[float, float, str]:
    """(baseline MB, peak MB, method) of the resident set while `run()` executes."""
    gc.collect()
    baseline = rss_mb()
    if _reset_hwm():
        run()
        return baseline, max(_status_kb("VmHWM") / 1024.0, baseline), "rss-hwm"
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb())
            stop.wait(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run()
    finally:
        stop.set()
        sampler.join()
    return baseline, max(peak[0], rss_mb()), "rss-sampled-1ms"


class _LiveTensorBytes(TorchDispatchMode):
    """Adds up the storage bytes of the tensors created under it while they live; keeps the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._sizes: dict[int, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if not key or key in self._sizes:  # a view of a storage already counted, or an empty one
            return
        self._sizes[key] = storage.nbytes()
        self.live += storage.nbytes()
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.live -= self._sizes.pop(key, 0)


def cpu_tensor_peak_mb(run: Callable[[], Any]) -> float:
    """Peak MB of tensors alive during `run()` among those it created (inputs and weights excluded)."""
    mode = _LiveTensorBytes()
    with mode:
        run()
    return mode.peak / MB


def measure_peak_memory(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cpu",
    *,
    threads: int | None = None,
    cudnn_benchmark: bool = True,
    **options: Unpack[PrepareOptions],
) -> MemoryResult:
    """Peak memory of one inference forward of a warmed model, with cuDNN's autotuner set as for latency.

    `options` are `prepare`'s (batch_size, dtype, channels_last, deploy, compile, seed).
    """
    kind = device_type(device)
    backend = MEMORY_BACKENDS[kind]
    backend.require(device)
    with prepared_with_threads(model_or_spec, input_shape, device, threads, **options) as (prepared, used_threads):
        weights_mb = sum(t.numel() * t.element_size() for t in prepared.model.state_dict().values()) / MB
        with torch.inference_mode(), cudnn_benchmark_set(cudnn_benchmark):
            prepared.forward()  # warm in this cuDNN setting: autotuning's own workspaces stay out of the peak
            if kind == "cuda":
                dev = torch.device(device)
                torch.cuda.synchronize(dev)
                torch.cuda.reset_peak_memory_stats(dev)
                baseline = torch.cuda.memory_allocated(dev) / MB
                prepared.forward()
                torch.cuda.synchronize(dev)
                peak = torch.cuda.max_memory_allocated(dev) / MB
                reserved = torch.cuda.max_memory_reserved(dev) / MB
                method = "cuda-max-allocated"
                tensor_peak, tensor_method = peak - baseline, "cuda-max-allocated minus allocated before"
            else:
                baseline, peak, method = cpu_peak_growth(prepared.forward)
                reserved = None
                tensor_peak, tensor_method = cpu_tensor_peak_mb(prepared.forward), "tensor storage alive (dispatch)"
    return MemoryResult(
        peak_mb=peak,
        growth_mb=peak - baseline,
        baseline_mb=baseline,
        weights_mb=weights_mb,
        reserved_mb=reserved,
        tensor_peak_mb=tensor_peak,
        tensor_method=tensor_method,
        method=method,
        backend=backend.name,
        batch_size=prepared.batch_size,
        label=prepared.label,
        options=dict(prepared.options) | {"cudnn_benchmark": cudnn_benchmark},
        fingerprint=fingerprint(device, threads=used_threads),
    )


class CpuMemoryBackend(Backend):
    """Resident-set growth of this process during a forward (Linux /proc)."""

    name = "memory-cpu-rss"
    kind = "memory"
    devices = ("cpu",)
    _measure = staticmethod(measure_peak_memory)

    def _probe(self, device: str) -> Availability:
        try:
            rss_mb()
        except OSError as err:
            return Availability(False, f"cannot read the resident set from {_STATUS}: {err}")
        return Availability(True, "VmHWM via clear_refs" if _CLEAR_REFS.exists() else "VmRSS sampling")


class CudaMemoryBackend(Backend):
    """CUDA caching-allocator peaks (max allocated and max reserved) during a forward."""

    name = "memory-cuda"
    kind = "memory"
    devices = ("cuda",)
    _measure = staticmethod(measure_peak_memory)

    def _probe(self, device: str) -> Availability:
        avail = cuda_availability(device)
        return Availability(True, "torch.cuda.max_memory_allocated") if avail else avail


MEMORY_BACKENDS: dict[str, Backend] = {"cpu": CpuMemoryBackend(), "cuda": CudaMemoryBackend()}
