"""How a measurement talks to its device: host clock, events, synchronisation, graph capture, a queue hold.

Latency and energy code is written against `Timing`, never against torch.cuda directly, so the same code
runs on a CPU (`HostTiming`), on an NVIDIA GPU (`CudaTiming`) and on the GPU simulator in
`profilers.gpusim` (whose device runs asynchronously to a simulated host clock). Events are stamped where
the device reaches them: on CUDA on the stream, on the host at `record()` (CPU work is synchronous).

`hold(seconds)` queues device work that keeps the device busy for about `seconds` (on CUDA a spin kernel,
`torch.cuda._sleep`), so that the launches that follow are queued before the device reaches them. An event
pair around a forward queued behind a hold measures device time without the host's launch latency.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from search_spaces.errors import EspnasError


class Event(ABC):
    """A point in the device's work queue."""

    @abstractmethod
    def record(self) -> None:
        """Place the event after all work queued so far."""

    @abstractmethod
    def synchronize(self) -> None:
        """Block the host until the device has reached the event."""

    @abstractmethod
    def query(self) -> bool:
        """Whether the device has reached the event (never blocks)."""

    @abstractmethod
    def elapsed_ms(self, end: Event) -> float:
        """Device time from this event to `end`, both reached."""


class Timing(ABC):
    """The clock and device operations of one measurement; `kind` is "cpu" or "cuda"."""

    kind: str = "cpu"
    #: Whether `capture` can make a replayable graph of a step.
    supports_graphs: bool = False

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock

    @abstractmethod
    def event(self) -> Event: ...

    def synchronize(self) -> None:  # noqa: B027 - host work is synchronous
        """Wait for all queued device work."""

    def hold(self, seconds: float) -> None:  # noqa: B027 - nothing is queued on a host
        """Queue about `seconds` of device work ahead of what follows (no-op where work is synchronous)."""

    def capture(self, step: Callable[[], Any]) -> Callable[[], None]:
        raise EspnasError(f"graph capture needs a CUDA device, not {self.kind}; drop cuda_graph")

    @contextlib.contextmanager
    def scope(self, *, cudnn_benchmark: bool = True) -> Iterator[None]:
        """Make the measured device current and fix the cuDNN autotuner setting for the duration."""
        with cudnn_benchmark_set(cudnn_benchmark):
            yield


@contextlib.contextmanager
def cudnn_benchmark_set(enabled: bool) -> Iterator[None]:
    """torch.backends.cudnn.benchmark = `enabled` for the duration (restored after). Latency, energy and
    memory all run under this, so that they measure the same convolution algorithms."""
    import torch

    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


class _HostEvent(Event):
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock, self.t = clock, float("nan")

    def record(self) -> None:
        self.t = self.clock()

    def synchronize(self) -> None:
        pass

    def query(self) -> bool:
        return True

    def elapsed_ms(self, end: Event) -> float:
        assert isinstance(end, _HostEvent)
        return (end.t - self.t) * 1000.0


class HostTiming(Timing):
    """CPU: the host clock; work is done when the call returns."""

    kind = "cpu"

    def event(self) -> Event:
        return _HostEvent(self.clock)


class _CudaEvent(Event):
    def __init__(self) -> None:
        import torch

        self.ev = torch.cuda.Event(enable_timing=True)

    def record(self) -> None:
        self.ev.record()

    def synchronize(self) -> None:
        self.ev.synchronize()

    def query(self) -> bool:
        return bool(self.ev.query())

    def elapsed_ms(self, end: Event) -> float:
        assert isinstance(end, _CudaEvent)
        return float(self.ev.elapsed_time(end.ev))


class CudaTiming(Timing):
    """An NVIDIA GPU through torch.cuda: events on the current stream, graphs, a spin kernel as the hold."""

    kind = "cuda"
    supports_graphs = True

    def __init__(self, device: str, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(clock)
        self.device = device
        self._cycles_per_s: float | None = None

    def event(self) -> Event:
        return _CudaEvent()

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize(torch.device(self.device))

    def _spin_rate(self) -> float:
        """Cycles per second of torch.cuda._sleep, measured once with events (the clock varies by GPU)."""
        if self._cycles_per_s is None:
            import torch

            cycles = 2_000_000
            torch.cuda._sleep(cycles // 10)  # first call loads the kernel
            start, end = self.event(), self.event()
            start.record()
            torch.cuda._sleep(cycles)
            end.record()
            end.synchronize()
            self._cycles_per_s = cycles / max(start.elapsed_ms(end) / 1000.0, 1e-6)
        return self._cycles_per_s

    def hold(self, seconds: float) -> None:
        import torch

        if seconds > 0:
            torch.cuda._sleep(max(1, int(seconds * self._spin_rate())))

    def capture(self, step: Callable[[], Any]) -> Callable[[], None]:
        return capture_cuda_graph(step, self.device)

    @contextlib.contextmanager
    def scope(self, *, cudnn_benchmark: bool = True) -> Iterator[None]:
        import torch

        # Events, streams and graph capture use the current device: make it the measured one.
        with torch.cuda.device(torch.device(self.device)), cudnn_benchmark_set(cudnn_benchmark):
            yield


def capture_cuda_graph(step: Callable[[], Any], device: str, warmup_iters: int = 3) -> Callable[[], None]:
    """Capture `step` as a CUDA graph and return its replay; the warm-up runs on a side stream as required."""
    import torch

    dev = torch.device(device)
    stream = torch.cuda.Stream(dev)
    stream.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(stream):
        for _ in range(warmup_iters):
            step()
    torch.cuda.current_stream(dev).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    torch.cuda.synchronize(dev)
    return graph.replay


def timing_for(device: str, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """The real timing of `device` ('cpu', 'cuda', 'cuda:N')."""
    from profilers.backend import device_type

    return CudaTiming(device, clock) if device_type(device) == "cuda" else HostTiming(clock)
