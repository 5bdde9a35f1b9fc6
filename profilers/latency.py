"""Inference latency on CPU (host clock) and CUDA (CUDA events), made the way careful benchmarks make it.

- Warm up until the timings stop drifting (allocation, lazy init and cuDNN autotuning all happen here,
  outside the timed region).
- CPU: the torch thread count is fixed for the measurement and recorded; each sample is one forward timed
  with `time.perf_counter`.
- CUDA: each sample is bracketed by CUDA events and synchronised on the end event, with the forward queued
  behind a short spin kernel (`Timing.hold`), so the figure is device time, not launch time; optionally the
  forward is captured once as a CUDA graph and replayed, which removes the per-kernel launch gaps that
  dominate small models at batch 1 in real use. The device interface is `profilers.timing` (injectable:
  the GPU simulator in `profilers.gpusim` runs this code unchanged).
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
from profilers.timing import Timing, timing_for
from profilers.timing import capture_cuda_graph as capture_cuda_graph  # re-exported
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


#: Host launch time is tracked over this many recent steps to size the queue hold (see `Timing.hold`).
_LAUNCH_WINDOW = 5


class LatencySession:
    """A prepared model and a timer: warm it up, then take samples in blocks (so that models can interleave).

    Use inside `thread_scope`/`torch.inference_mode` via `with session.active(): ...`, which `measure_latency`
    and `compare` do for you. On a GPU each sample is device time: the forward is queued behind a short hold
    (a spin kernel a little longer than the host needs to launch the forward) and timed with an event pair,
    so neither the launch latency of the first kernel nor the launch gaps of an eager forward are counted.
    `timing` is the device interface (default: the real one for the prepared device; the GPU simulator in
    tests and benchmarks).
    """

    def __init__(
        self,
        prepared: Prepared,
        *,
        cuda_graph: bool = False,
        cudnn_benchmark: bool = True,
        eager_if_capture_fails: bool = False,
        clock: Callable[[], float] = time.perf_counter,
        timing: Timing | None = None,
        hide_launch: bool = True,
    ) -> None:
        self.prepared = prepared
        self.device = prepared.device
        self.timing = timing if timing is not None else timing_for(prepared.device, clock)
        self.kind = self.timing.kind
        self.cuda_graph = cuda_graph
        self.eager_if_capture_fails = eager_if_capture_fails
        self.cudnn_benchmark = cudnn_benchmark
        self.hide_launch = hide_launch
        self.clock = self.timing.clock
        self.samples_ms: list[float] = []
        self.warmup_iters = 0
        self.warmup_samples_ms: list[float] = []
        self._launch_s: list[float] = []
        self._step: Callable[[], Any] = prepared.forward
        if cuda_graph and not self.timing.supports_graphs:
            raise EspnasError(f"cuda_graph=True needs a CUDA device, not {self.kind}; drop it on cpu")

    @property
    def backend(self) -> str:
        if self.kind == "cpu":
            return "latency-cpu"
        return "latency-cuda-graph" if self.cuda_graph else "latency-cuda"

    @property
    def execution(self) -> str:
        """How the forward runs: "cuda-graph", "compiled" (torch.compile) or "eager"; latency and energy of
        one trial must use the same."""
        if self.cuda_graph:
            return "cuda-graph"
        return "compiled" if self.prepared.options.get("compile") else "eager"

    @property
    def timing_method(self) -> str:
        if self.kind == "cpu":
            return "host clock around a forward"
        if self.hide_launch:
            return "device events around a forward queued behind a hold (device time, launch latency hidden)"
        return "device events around a forward (includes launch latency)"

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with torch.inference_mode(), self.timing.scope(cudnn_benchmark=self.cudnn_benchmark):
            yield

    def synchronize(self) -> None:
        self.timing.synchronize()

    def step(self) -> None:
        """One forward (or graph replay), asynchronous on a GPU."""
        self._step()

    def launch_s(self) -> float:
        """Median host time of the recent steps' launches (0 before the first)."""
        recent = sorted(self._launch_s[-_LAUNCH_WINDOW:])
        return recent[len(recent) // 2] if recent else 0.0

    def time_one(self) -> float:
        """One timed forward in ms: device events on a GPU, the host clock on a CPU."""
        if self.hide_launch and self.kind != "cpu" and self._launch_s:
            self.timing.hold(1.5 * self.launch_s() + 20e-6)
        start, end = self.timing.event(), self.timing.event()
        start.record()
        t0 = self.clock()
        self._step()
        self._launch_s.append(self.clock() - t0)
        del self._launch_s[: -_LAUNCH_WINDOW * 2]
        end.record()
        end.synchronize()
        return start.elapsed_ms(end)

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
        self.warmup_samples_ms = times
        if self.cuda_graph:
            try:
                self._step = self.timing.capture(self.prepared.forward)
                self._launch_s.clear()  # a replay launches in a fraction of the eager time
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
        options.update(
            cuda_graph=self.cuda_graph,
            cudnn_benchmark=self.cudnn_benchmark,
            execution=self.execution,
            timing=self.timing_method,
        )
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
    eager_if_capture_fails: bool = False,
    timing: Timing | None = None,
    **options: Unpack[PrepareOptions],
) -> LatencyResult:
    """Median latency (ms per batch) of `model_or_spec` on `device`, with IQR, bootstrap CI and every sample.

    `input_shape` is (C, H, W) or (N, C, H, W), or None for the model config's input size; `options` are
    `prepare`'s (batch_size sets N; dtype, channels_last, deploy, compile, seed).
    `time_budget_s` bounds warm-up plus sampling (model building and torch.compile are not counted); about a
    quarter goes to warm-up unless `warmup_budget_s` says otherwise. Sampling stops earlier once the 95% CI
    of the median is within `target_rel_ci` of it. `threads` fixes torch's CPU thread count (default: the
    current count), which is recorded in the result. `timing` replaces the device interface (the GPU
    simulator does; its clock then also bounds the budget). `cuda_graph` defaults to eager, as in
    `measure_energy`: one trial's latency and energy describe the same execution (`options["execution"]`);
    with `eager_if_capture_fails` a graph that cannot be captured is timed eagerly (and recorded so).
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
        session = LatencySession(
            prepared,
            cuda_graph=cuda_graph,
            cudnn_benchmark=cudnn_benchmark,
            eager_if_capture_fails=eager_if_capture_fails,
            timing=timing,
        )
        with session.active():
            t0 = session.clock()
            session.warm_up(warm_s)
            while True:
                session.take(n=1)
                reason = rule.reason_to_stop(session.samples_ms, session.clock() - t0)
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
