"""A simulated NVIDIA GPU that the real measuring code runs against, with a ground truth to score it by.

What it models, because these are what make GPU latency and energy hard to measure:
- Work runs asynchronously to the host: a launch costs the host `launch_s` per kernel (one `graph_launch_s`
  for a CUDA-graph replay) and the device runs the kernels in order when it gets to them; the launch
  queue holds `queue_kernels` kernels, beyond which the host blocks. Events are stamped when the device
  reaches them; synchronising moves the host clock to the device.
- True power follows the load with a first-order lag: it rises with `tau_rise_s` and decays with
  `tau_fall_s` (seconds: a GPU that just stopped draws more than idle for a while), from an idle floor
  `idle_w` to `idle_w + (peak_w - idle_w) * intensity * utilisation`.
- NVML's total-energy counter advances only every `counter_period_s` (20-100 ms on real boards, jittered),
  in whole mJ; NVML's power reading is the mean of the last `power_avg_s` (1 s) of true power, refreshed
  every 20 ms.
- Host calls cost host time: an event record or query `event_s`, a sync wake-up `sync_s`, an NVML call
  `nvml_read_s`.

Everything runs on a simulated host clock (`clock`, `sleep`), so a 30 s measurement takes a second or so.
`GpuSim.timing()` is a `profilers.timing.Timing`; `net(model)` an `nn.Module` whose forward launches the
model's kernels; `energy_counter()` and `power_sampler()` are power sources. Ground truth comes from the
simulator's parameters alone (`true_latency_ms`, `true_energy_mj_per_image`), never from measured data.

Simplifications, stated: a model is `kernels` equal kernels; power is linear in utilisation; within spans
of <= 2 ms the device's utilisation is averaged (the power lag is >= 100 ms, so the ripple is negligible).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from profilers.power_sources import EnergyCounter, PowerSampler
from profilers.timing import Event, Timing

#: Integration grid (s): the power trace is kept at this resolution for the moving average.
_GRID_S = 1e-3
#: Device spans closer than this are merged into one span of averaged utilisation (s).
_MERGE_GAP_S = 2e-4
_MERGE_MAX_S = 2e-3


@dataclass(frozen=True)
class GpuSpec:
    """The simulated device. Defaults are in the range of a data-centre GPU (A100/H100 class)."""

    idle_w: float = 60.0
    peak_w: float = 400.0
    tau_rise_s: float = 0.15
    tau_fall_s: float = 1.5
    launch_s: float = 5e-6
    graph_launch_s: float = 8e-6
    kernel_gap_s: float = 1e-6  # device-side gap between eager kernels
    graph_gap_s: float = 0.3e-6  # between kernels of a replayed graph
    queue_kernels: int = 1024
    event_s: float = 2e-6
    sync_s: float = 10e-6
    nvml_read_s: float = 30e-6
    counter_period_s: float = 0.05
    counter_jitter: float = 0.2  # each counter step is period * (1 +- jitter)
    power_avg_s: float = 1.0
    power_refresh_s: float = 0.02
    spin_intensity: float = 0.1  # a spin kernel (the latency hold) barely draws power
    seed: int = 0


@dataclass(frozen=True)
class SimModel:
    """A model as the device sees it: `kernels` equal kernels taking `fixed_ms + per_image_ms * batch` in all,
    drawing `intensity` (0..1) of the device's dynamic power while they run."""

    name: str
    fixed_ms: float
    per_image_ms: float = 0.0
    kernels: int = 50
    intensity: float = 0.6

    def busy_s(self, batch: int) -> float:
        return (self.fixed_ms + self.per_image_ms * batch) / 1000.0


class GpuSim:
    """The simulated device and host clock; see the module docstring."""

    def __init__(self, spec: GpuSpec | None = None) -> None:
        self.spec = spec or GpuSpec()
        self._rng = random.Random(self.spec.seed)
        self.t = 0.0  # host clock
        self.dev_free = 0.0  # when the device finishes all work queued so far
        self._queue: deque[tuple[float, int]] = deque()  # (end time, kernels) of queued items
        self._queued_kernels = 0
        # Device spans: start, end, busy seconds, intensity (sorted, non-overlapping).
        self._spans: list[list[float]] = []
        self._span_i = 0
        # Integration state.
        self._ti, self._p, self._e = 0.0, self.spec.idle_w, 0.0
        self._next_grid = _GRID_S
        self._hist_t: list[float] = [0.0]
        self._hist_e: list[float] = [0.0]
        self._counter_mj = 0
        self._next_refresh = self._counter_step()
        self._capturing: list[tuple[SimModel, int]] | None = None
        self.launches = 0

    def __deepcopy__(self, memo: dict) -> GpuSim:
        return self  # a device is shared, not copied, when `prepare` copies a model that refers to it

    # ------------------------------------------------------------------ host clock

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)

    def synchronize(self) -> None:
        self.t = max(self.t, self.dev_free) + self.spec.sync_s

    # ------------------------------------------------------------------ launching work

    def _make_room(self, kernels: int) -> None:
        """Block the host while the launch queue is full (drop what has finished first)."""
        while self._queue and (self._queue[0][0] <= self.t or self._queued_kernels + kernels > self.spec.queue_kernels):
            end, n = self._queue.popleft()
            self._queued_kernels -= n
            self.t = max(self.t, end)

    def _add_span(self, start: float, end: float, busy: float, intensity: float, kernels: int) -> None:
        self.dev_free = end
        self._queue.append((end, kernels))
        self._queued_kernels += kernels
        if self._spans:
            last = self._spans[-1]
            if (
                start - last[1] <= _MERGE_GAP_S
                and last[3] == intensity
                and end - last[0] <= _MERGE_MAX_S
                and last[0] >= self._ti
            ):
                last[1], last[2] = end, last[2] + busy
                return
        self._spans.append([start, end, busy, intensity])

    def launch_eager(self, model: SimModel, batch: int) -> None:
        """Launch a forward kernel by kernel: the host pays `launch_s` each, the device runs them in turn."""
        s = self.spec
        n = model.kernels
        self._make_room(n)
        k = model.busy_s(batch) / n
        h = self.t
        first = max(h + s.launch_s, self.dev_free)
        end = max(h + n * s.launch_s + k, first + n * k + (n - 1) * s.kernel_gap_s)
        self._add_span(first, end, n * k, model.intensity, n)
        self.t = h + n * s.launch_s
        self.launches += n

    def launch_graph(self, items: list[tuple[SimModel, int]]) -> None:
        """Replay a captured graph: one launch, then its kernels back to back on the device."""
        s = self.spec
        self._make_room(1)
        h = self.t
        start = max(h + s.graph_launch_s, self.dev_free)
        n = sum(m.kernels for m, _ in items)
        busy = sum(m.busy_s(b) for m, b in items)
        end = start + busy + max(n - 1, 0) * s.graph_gap_s
        intensity = sum(m.intensity * m.busy_s(b) for m, b in items) / busy if busy else 0.0
        self._add_span(start, end, busy, intensity, 1)
        self.t = h + s.graph_launch_s
        self.launches += 1

    def hold(self, seconds: float) -> None:
        """A spin kernel of `seconds` (torch.cuda._sleep)."""
        self._make_room(1)
        start = max(self.t + self.spec.launch_s, self.dev_free)
        self._add_span(start, start + seconds, seconds, self.spec.spin_intensity, 1)
        self.t += self.spec.launch_s

    def forward(self, model: SimModel, batch: int) -> None:
        """What a `SimNet` forward does: launch eagerly, or be recorded into the graph being captured."""
        if self._capturing is not None:
            self._capturing.append((model, batch))
        else:
            self.launch_eager(model, batch)

    def capture(self, step: Callable[[], Any]) -> Callable[[], None]:
        self._capturing = []
        try:
            step()
            items = self._capturing
        finally:
            self._capturing = None
        return lambda: self.launch_graph(items)

    # ------------------------------------------------------------------ power and energy

    def _counter_step(self) -> float:
        s = self.spec
        return s.counter_period_s * (1 + s.counter_jitter * (2 * self._rng.random() - 1))

    def _advance(self, t: float) -> None:
        """Integrate true power up to time `t` (exactly, span by span, on the grid)."""
        s = self.spec
        spans = self._spans
        while self._ti < t:
            while self._span_i < len(spans) and spans[self._span_i][1] <= self._ti:
                self._span_i += 1
            if self._span_i < len(spans) and spans[self._span_i][0] <= self._ti:
                a, b, busy, inten = spans[self._span_i]
                target = s.idle_w + (s.peak_w - s.idle_w) * inten * min(1.0, busy / (b - a))
                nxt = b
            else:
                target = s.idle_w
                nxt = spans[self._span_i][0] if self._span_i < len(spans) else math.inf
            nxt = min(nxt, t, self._next_grid, self._next_refresh)
            dt = nxt - self._ti
            if dt > 0:
                tau = s.tau_rise_s if target > self._p else s.tau_fall_s
                decay = math.exp(-dt / tau)
                self._e += target * dt + (self._p - target) * tau * (1 - decay)
                self._p = target + (self._p - target) * decay
            self._ti = nxt
            if self._ti >= self._next_grid:
                self._hist_t.append(self._ti)
                self._hist_e.append(self._e)
                self._next_grid += _GRID_S
            if self._ti >= self._next_refresh:
                self._counter_mj = int(self._e * 1000.0)
                self._next_refresh += self._counter_step()

    def energy_j(self) -> float:
        """True energy since start (J), up to the host's now: the ground truth of what a counter reads."""
        self._advance(self.t)
        return self._e

    def counter_mj(self) -> int:
        self.t += self.spec.nvml_read_s
        self._advance(self.t)
        return self._counter_mj

    def power_reading_w(self) -> float:
        """NVML's power: the mean true power over the last `power_avg_s`, as of its last 20 ms refresh."""
        s = self.spec
        self.t += s.nvml_read_s
        self._advance(self.t)
        tq = math.floor(self.t / s.power_refresh_s) * s.power_refresh_s
        lo = tq - s.power_avg_s
        return (self._energy_at(tq) - self._energy_at(lo)) / (tq - lo)

    def _energy_at(self, t: float) -> float:
        """True energy at a past time `t`, interpolated on the 1 ms grid."""
        ts, es = self._hist_t, self._hist_e
        if t < 0:
            return self.spec.idle_w * t  # before the simulation began the device idled
        i = bisect.bisect_right(ts, t)
        if i >= len(ts):
            return es[-1]
        if i == 0:
            return es[0]
        t0, t1 = ts[i - 1], ts[i]
        return es[i - 1] + (es[i] - es[i - 1]) * (t - t0) / (t1 - t0)

    # ------------------------------------------------------------------ what the measuring code gets

    def timing(self) -> SimTiming:
        return SimTiming(self)

    def net(self, model: SimModel) -> SimNet:
        return SimNet(self, model)

    def energy_counter(self) -> SimEnergyCounter:
        return SimEnergyCounter(self)

    def power_sampler(self) -> SimPowerSampler:
        return SimPowerSampler(self)

    # ------------------------------------------------------------------ ground truth

    def true_latency_ms(self, model: SimModel, batch: int, *, graph: bool) -> float:
        """Device time of one forward: its kernels and the device-side gaps between them."""
        gap = self.spec.graph_gap_s if graph else self.spec.kernel_gap_s
        return 1000.0 * (model.busy_s(batch) + (model.kernels - 1) * gap)

    def true_energy_mj_per_image(self, model: SimModel, batch: int, *, graph: bool) -> tuple[float, float]:
        """(gross, net) mJ per image when forwards are issued back to back, as fast as host and device allow.

        Per forward the device needs `kernels` kernels and gaps, the host `kernels` launches (eager) or one
        (graph); the slower sets the period. Net is the dynamic energy of the busy time alone; gross adds
        the idle floor over the period. (The filter's mean is its input's mean in steady state.)
        """
        s = self.spec
        n, busy = model.kernels, model.busy_s(batch)
        device_period = busy + n * (s.graph_gap_s if graph else s.kernel_gap_s)
        host_period = s.graph_launch_s if graph else n * s.launch_s
        period = max(device_period, host_period)
        net = (s.peak_w - s.idle_w) * model.intensity * busy
        gross = s.idle_w * period + net
        return 1000.0 * gross / batch, 1000.0 * net / batch


class SimNet(nn.Module):
    """An `nn.Module` whose forward launches a `SimModel` on the simulated device (the input is passed on)."""

    def __init__(self, gpu: GpuSim, model: SimModel) -> None:
        super().__init__()
        self.gpu, self.model = gpu, model
        self.scale = nn.Parameter(torch.ones(1))  # so that dtype and device moves have something to move

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.gpu.forward(self.model, int(x.shape[0]))
        return x


class _SimEvent(Event):
    def __init__(self, gpu: GpuSim) -> None:
        self.gpu, self.ts = gpu, math.nan

    def record(self) -> None:
        self.gpu.t += self.gpu.spec.event_s
        self.ts = max(self.gpu.t, self.gpu.dev_free)

    def synchronize(self) -> None:
        if self.ts > self.gpu.t:
            self.gpu.t = self.ts + self.gpu.spec.sync_s

    def query(self) -> bool:
        self.gpu.t += self.gpu.spec.event_s
        return self.ts <= self.gpu.t

    def elapsed_ms(self, end: Event) -> float:
        assert isinstance(end, _SimEvent)
        return (end.ts - self.ts) * 1000.0


class SimTiming(Timing):
    """`Timing` on the simulated device: behaves as CUDA does (asynchronous, graphs, a spin-kernel hold)."""

    kind = "cuda"
    supports_graphs = True

    def __init__(self, gpu: GpuSim) -> None:
        super().__init__(gpu.clock)
        self.gpu = gpu

    def event(self) -> Event:
        return _SimEvent(self.gpu)

    def synchronize(self) -> None:
        self.gpu.synchronize()

    def hold(self, seconds: float) -> None:
        if seconds > 0:
            self.gpu.hold(seconds)

    def capture(self, step: Callable[[], Any]) -> Callable[[], None]:
        return self.gpu.capture(step)


class SimEnergyCounter(EnergyCounter):
    """NVML's total-energy counter on the simulated device: whole mJ, refreshed every 20-100 ms."""

    name = "sim-nvml"

    def __init__(self, gpu: GpuSim) -> None:
        self.gpu = gpu
        self.update_interval_s = gpu.spec.counter_period_s * (1 + gpu.spec.counter_jitter)

    def read(self) -> int:
        return self.gpu.counter_mj()

    def delta_mj(self, start: int, end: int) -> float:
        return float(end - start)


class SimPowerSampler(PowerSampler):
    """NVML's power reading on the simulated device: a 1 s moving average, refreshed every 20 ms."""

    name = "sim-nvml-power"

    def __init__(self, gpu: GpuSim) -> None:
        self.gpu = gpu
        self.update_interval_s = gpu.spec.power_refresh_s
        self.averaging_s = gpu.spec.power_avg_s

    def power_w(self) -> float:
        return self.gpu.power_reading_w()


__all__ = [
    "GpuSim",
    "GpuSpec",
    "SimEnergyCounter",
    "SimModel",
    "SimNet",
    "SimPowerSampler",
    "SimTiming",
]
