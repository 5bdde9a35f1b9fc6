"""Inference latency on CPU (host clock) and CUDA (CUDA events), made the way careful benchmarks make it.

- Warm up until the timings stop drifting (allocation, lazy init and cuDNN autotuning all happen here,
  outside the timed region).
- CPU: the torch thread count is fixed for the measurement and recorded; each sample is one forward timed
  with `time.perf_counter`.
- CUDA: each sample is bracketed by CUDA events and synchronised on the end event, so the figure is device
  time, not launch time; optionally the forward is captured once as a CUDA graph and replayed, which removes
  the per-kernel launch gaps that dominate small models at batch 1.
- Every sample is kept; the result reports the median, IQR and a bootstrap 95% CI of the median; sampling
  stops when the CI is within `target_rel_ci` of the median or the time budget ends.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Unpack

import torch

from profilers.backend import Availability, Backend, cuda_availability, device_type
from profilers.fingerprint import fingerprint
from profilers.models import Prepared, PrepareOptions, prepared_with_threads
from profilers.models import thread_scope as thread_scope  # re-exported: callers import it from here
from profilers.stats import StoppingRule, is_stable, summarize
from search_spaces.errors import EspnasError

#: Share of the time budget that warm-up may use when the caller does not say.
WARMUP_SHARE = 0.25


@dataclass
class LatencyResult:
    """Latency of one forward pass of a whole batch, in milliseconds, with its spread and every sample."""

    median_ms: float
    iqr_ms: float
    ci95_ms: tuple[float, float]
    samples_ms: list[float]
    n_samples: int
    backend: str
    label: str = ""
    batch_size: int = 1
    unit: str = "ms"
    threads: int | None = None
    warmup_iters: int = 0
    stop_reason: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def per_image_ms(self) -> float:
        return self.median_ms / self.batch_size

    @property
    def throughput_ips(self) -> float:
        """Images per second at the median latency."""
        return 1000.0 * self.batch_size / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95_ms"] = list(self.ci95_ms)
        out["per_image_ms"] = self.per_image_ms
        return out


@contextlib.contextmanager
def _cudnn_benchmark(enabled: bool) -> Iterator[None]:
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def capture_cuda_graph(step: Callable[[], Any], device: str, warmup_iters: int = 3) -> Callable[[], None]:
    """Capture `step` as a CUDA graph and return its replay; the warm-up runs on a side stream as required."""
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


class LatencySession:
    """A prepared model and a timer: warm it up, then take samples in blocks (so that models can interleave).

    Use inside `thread_scope`/`torch.inference_mode` via `with session.active(): ...`, which `measure_latency`
    and `compare` do for you.
    """

    def __init__(
        self,
        prepared: Prepared,
        *,
        cuda_graph: bool = False,
        cudnn_benchmark: bool = True,
        eager_if_capture_fails: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.prepared = prepared
        self.device = prepared.device
        self.kind = device_type(self.device)
        self.cuda_graph = cuda_graph
        self.eager_if_capture_fails = eager_if_capture_fails
        self.cudnn_benchmark = cudnn_benchmark
        self.clock = clock
        self.samples_ms: list[float] = []
        self.warmup_iters = 0
        self._step: Callable[[], Any] = prepared.forward
        if cuda_graph and self.kind != "cuda":
            raise EspnasError("cuda_graph=True needs a CUDA device; drop it on cpu")

    @property
    def backend(self) -> str:
        if self.kind == "cpu":
            return "latency-cpu"
        return "latency-cuda-graph" if self.cuda_graph else "latency-cuda"

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if self.kind == "cuda":
                # Events, streams and graph capture use the current device: make it the measured one.
                stack.enter_context(torch.cuda.device(torch.device(self.device)))
                stack.enter_context(_cudnn_benchmark(self.cudnn_benchmark))
            yield

    def synchronize(self) -> None:
        if self.kind == "cuda":
            torch.cuda.synchronize(torch.device(self.device))

    def step(self) -> None:
        """One forward (or graph replay), asynchronous on CUDA."""
        self._step()

    def time_one(self) -> float:
        """One timed forward in ms: CUDA events on GPU, the host clock (synchronised) elsewhere."""
        if self.kind == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            self._step()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        t0 = self.clock()
        self._step()
        return (self.clock() - t0) * 1000.0

    def _time_until(self, done: Callable[[list[float], float], bool]) -> list[float]:
        """Timed forwards until `done(times_ms, elapsed_s)`; at least one."""
        times: list[float] = []
        t0 = self.clock()
        while True:
            times.append(self.time_one())
            if done(times, self.clock() - t0):
                return times

    def warm_up(self, budget_s: float, *, window: int = 5, tolerance: float = 0.05, min_iters: int = 3) -> int:
        """Run until the last two windows agree within `tolerance` or `budget_s` ends; then capture a graph.

        With `eager_if_capture_fails`, a graph that cannot be captured leaves the session eager
        (`cuda_graph` becomes False, and the result says so) instead of raising.
        """
        times = self._time_until(
            lambda ts, elapsed: (
                len(ts) >= min_iters and (is_stable(ts, window=window, tolerance=tolerance) or elapsed >= budget_s)
            )
        )
        self.warmup_iters = len(times)
        if self.cuda_graph:
            try:
                self._step = capture_cuda_graph(self.prepared.forward, self.device)
            except RuntimeError:
                if not self.eager_if_capture_fails:
                    raise
                self.cuda_graph = False
            else:
                self.time_one()  # first replay uploads the graph
        return self.warmup_iters

    def take(self, *, n: int | None = None, seconds: float | None = None) -> list[float]:
        """Take `n` samples, or as many as fit in `seconds` (at least one); kept in `samples_ms`."""
        if n is None and seconds is None:
            raise EspnasError("take() needs n or seconds")
        new = self._time_until(
            lambda ts, elapsed: (n is not None and len(ts) >= n) or (seconds is not None and elapsed >= seconds)
        )
        self.samples_ms.extend(new)
        return new

    def result(self, *, threads: int | None, stop_reason: str, fp: dict[str, Any] | None = None) -> LatencyResult:
        if not self.samples_ms:
            raise EspnasError(f"no latency samples were taken for {self.prepared.label}")
        summary = summarize(self.samples_ms)
        options = dict(self.prepared.options)
        options.update(cuda_graph=self.cuda_graph, cudnn_benchmark=self.cudnn_benchmark)
        return LatencyResult(
            median_ms=summary.median,
            iqr_ms=summary.iqr,
            ci95_ms=summary.ci95,
            samples_ms=list(self.samples_ms),
            n_samples=summary.n,
            backend=self.backend,
            label=self.prepared.label,
            batch_size=self.prepared.batch_size,
            threads=threads,
            warmup_iters=self.warmup_iters,
            stop_reason=stop_reason,
            options=options,
            fingerprint=fp if fp is not None else fingerprint(self.device, threads=threads),
        )


def measure_latency(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cpu",
    *,
    cuda_graph: bool = False,
    cudnn_benchmark: bool = True,
    threads: int | None = None,
    time_budget_s: float = 2.0,
    target_rel_ci: float = 0.02,
    min_samples: int = 10,
    max_samples: int = 100_000,
    warmup_budget_s: float | None = None,
    **options: Unpack[PrepareOptions],
) -> LatencyResult:
    """Median latency (ms per batch) of `model_or_spec` on `device`, with IQR, bootstrap CI and every sample.

    `input_shape` is (C, H, W) or (N, C, H, W), or None for the model config's input size; `options` are
    `prepare`'s (batch_size sets N; dtype, channels_last, deploy, compile, seed).
    `time_budget_s` bounds warm-up plus sampling (model building and torch.compile are not counted); about a
    quarter goes to warm-up unless `warmup_budget_s` says otherwise. Sampling stops earlier once the 95% CI
    of the median is within `target_rel_ci` of it. `threads` fixes torch's CPU thread count (default: the
    current count), which is recorded in the result.
    """
    backend = LATENCY_BACKENDS[device_type(device)]
    backend.require(device)
    rule = StoppingRule(
        target_rel_ci=target_rel_ci,
        time_budget_s=time_budget_s,
        min_samples=min_samples,
        max_samples=max_samples,
    )
    warm_s = time_budget_s * WARMUP_SHARE if warmup_budget_s is None else warmup_budget_s
    with prepared_with_threads(model_or_spec, input_shape, device, threads, **options) as (prepared, used_threads):
        session = LatencySession(prepared, cuda_graph=cuda_graph, cudnn_benchmark=cudnn_benchmark)
        with session.active():
            t0 = time.perf_counter()
            session.warm_up(warm_s)
            while True:
                session.take(n=1)
                reason = rule.reason_to_stop(session.samples_ms, time.perf_counter() - t0)
                if reason:
                    break
        return session.result(threads=used_threads, stop_reason=reason)


class CpuLatencyBackend(Backend):
    """Host-clock latency on CPU with a fixed thread count."""

    name = "latency-cpu"
    kind = "latency"
    devices = ("cpu",)
    _measure = staticmethod(measure_latency)

    def _probe(self, device: str) -> Availability:
        return Availability(True, f"perf_counter, {torch.get_num_threads()} torch threads")


class CudaLatencyBackend(Backend):
    """CUDA-event latency on an NVIDIA GPU (optionally replaying a CUDA graph)."""

    name = "latency-cuda"
    kind = "latency"
    devices = ("cuda",)
    _measure = staticmethod(measure_latency)

    def _probe(self, device: str) -> Availability:
        avail = cuda_availability(device)
        return Availability(True, f"CUDA events on {avail.reason}") if avail else avail


LATENCY_BACKENDS: dict[str, Backend] = {"cpu": CpuLatencyBackend(), "cuda": CudaLatencyBackend()}
