"""Peak memory of one forward pass: CUDA allocator peaks on GPU, resident-set growth of the process on CPU.

On CPU there is no allocator counter to ask, so we read the kernel's resident-set high-water mark (VmHWM),
after resetting it through /proc/self/clear_refs where the kernel allows; otherwise a thread samples VmRSS
every millisecond during the forward (which can miss a short peak; `method` says which was used).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Unpack

import torch

from profilers.backend import Availability, Backend, cuda_availability, device_type
from profilers.fingerprint import fingerprint
from profilers.models import PrepareOptions, prepared_with_threads

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


def measure_peak_memory(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cpu",
    *,
    threads: int | None = None,
    **options: Unpack[PrepareOptions],
) -> MemoryResult:
    """Peak memory of one inference forward of a warmed model (the trial forward in `prepare` warms it).

    `options` are `prepare`'s (batch_size, dtype, channels_last, deploy, compile, seed).
    """
    kind = device_type(device)
    backend = MEMORY_BACKENDS[kind]
    backend.require(device)
    with prepared_with_threads(model_or_spec, input_shape, device, threads, **options) as (prepared, used_threads):
        weights_mb = sum(t.numel() * t.element_size() for t in prepared.model.state_dict().values()) / MB
        with torch.inference_mode():
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
            else:
                baseline, peak, method = cpu_peak_growth(prepared.forward)
                reserved = None
    return MemoryResult(
        peak_mb=peak,
        growth_mb=peak - baseline,
        baseline_mb=baseline,
        weights_mb=weights_mb,
        reserved_mb=reserved,
        method=method,
        backend=backend.name,
        batch_size=prepared.batch_size,
        label=prepared.label,
        options=dict(prepared.options),
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
