"""Energy per image and average power while a model runs, from NVML, RAPL or Jetson INA rails.

The method (after Zeus and the SC'24 study of NVML accuracy, arXiv 2312.02741), recorded in every result
under `protocol`:
- Idle first, after a settle: GPU power decays over seconds after load, and NVML's power reading is a ~1 s
  moving average, so an idle window right after a busy one overestimates idle and biases net energy low (or
  negative). We wait until consecutive 0.5 s windows predict under 0.5% of decay left (`settle`), then
  measure one idle window. Measuring idle before warm-up also makes it the cool-down between models.
- Launches are queued, never synchronised per step: a few batches stay in flight (`pipeline_depth`), the
  host waits only on the oldest one's event, and the images counted are the batches whose events the
  device has reached. A per-step synchronise leaves the GPU idle between launches, which at small batch
  is the energy of a half-idle GPU.
- Before the busy windows the load runs until power has settled upwards too (the ramp).
- Busy windows of >= 2 s (the NVML counter is refreshed every 20-100 ms) that start and end on a counter
  refresh (we keep the activity going until the reading changes), which removes the quantisation error.
- Net ("idle-subtracted") energy per image subtracts idle power over each busy window; gross and net are
  both reported, with the median over busy windows and the spread.
- Where there is no energy counter, power is sampled every ~10 ms and integrated (numpy trapezoid);
  `method` says which was used.
- The execution mode (eager, CUDA graph, compiled) is the caller's, default eager as in `measure_latency`,
  and is recorded; a trial measures latency and energy in one mode.

`clock`, `sleep` and `timing` are injectable, so the real code runs on the GPU simulator (profilers.gpusim).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Unpack

import numpy as np

from profilers.backend import Availability, Backend, BackendUnavailable, PowerUnavailable, device_type
from profilers.fingerprint import fingerprint
from profilers.latency import LatencySession
from profilers.models import PrepareOptions, prepared_with_threads
from profilers.power_sources import (
    ENERGY_COUNTER,
    EnergyCounter,
    PowerSampler,
    PowerSource,
    open_jetson,
    open_nvml,
    open_rapl,
    probe_jetson,
    probe_nvml,
    probe_rapl,
)
from profilers.stats import relative_spread
from profilers.timing import Timing
from search_spaces.errors import EspnasError

#: Shortest window we accept by default: many NVML counter refreshes (20-100 ms each).
MIN_WINDOW_S = 2.0
#: Length of the short windows whose power the settle compares.
SETTLE_STEP_S = 0.5
#: Settled when the decay still predicted is below this share of the power.
SETTLE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Window:
    """One measured window: how long, how much energy, how many images were run in it."""

    kind: str  # "idle", "busy" (or "ramp": the load before the busy windows)
    duration_s: float
    energy_mj: float
    iterations: int = 0
    images: float = 0  # busy windows: finished images, interpolated to the window's ends
    readings: int = 2
    aligned: bool = True
    t_start: float = float("nan")  # host clock at the window's ends (estimated refresh times for counters)
    t_end: float = float("nan")

    @property
    def avg_power_w(self) -> float:
        return self.energy_mj / 1000.0 / self.duration_s if self.duration_s > 0 else float("nan")


def integrate_power(times_s: Sequence[float], watts: Sequence[float]) -> float:
    """Energy in joules under a sampled power curve (trapezoid rule)."""
    t = np.asarray(times_s, dtype=np.float64)
    p = np.asarray(watts, dtype=np.float64)
    if t.size < 2 or t.size != p.size:
        raise EspnasError(f"need >= 2 matched power samples to integrate, got {t.size} times, {p.size} watts")
    return float(np.sum((p[1:] + p[:-1]) * np.diff(t)) / 2.0)


def energy_per_image(busy: Window, idle_power_w: float) -> tuple[float, float]:
    """(gross, net) mJ per image of a busy window; net subtracts `idle_power_w` over the window's length."""
    if busy.images <= 0:
        raise EspnasError("busy window ran no images; the window is shorter than one forward pass")
    gross = busy.energy_mj / busy.images
    net = (busy.energy_mj - idle_power_w * 1000.0 * busy.duration_s) / busy.images
    return gross, net


Activity = Callable[[], float]  # runs a bit of work (or waits); returns the images it processed


@dataclass
class _Tally:
    """Runs an activity and counts what it did: images, and iterations that processed any."""

    activity: Activity
    images: float = 0
    iterations: int = 0

    def __call__(self) -> None:
        done = self.activity()
        self.images += done
        self.iterations += 1 if done else 0


def _await_change(
    source: EnergyCounter, tally: _Tally, clock: Callable[[], float], timeout_s: float
) -> tuple[Any, float, bool]:
    """Keep the activity going until the counter's reading changes.

    Returns (reading, time, changed); the time is the midpoint between the last read that saw the old value
    and the first that saw the new one (the refresh happened in between); `changed` is False if the timeout
    came first.
    """
    first = source.read()
    t0 = last = clock()
    while True:
        tally()
        now_reading = source.read()
        now = clock()
        if now_reading != first:
            return now_reading, (last + now) / 2, True
        if now - t0 >= timeout_s:
            return now_reading, now, False
        last = now


def counter_window(
    source: EnergyCounter,
    duration_s: float,
    activity: Activity,
    *,
    kind: str,
    clock: Callable[[], float] = time.perf_counter,
) -> Window:
    """Energy over a window of at least `duration_s` that starts and ends on counter refreshes."""
    timeout = max(1.0, 5 * source.update_interval_s)
    start, t0, aligned_start = _await_change(source, _Tally(activity), clock, timeout)
    tally = _Tally(activity)  # what ran before the opening refresh is outside the window
    while clock() - t0 < duration_s:
        tally()
    # Images run while waiting for the closing refresh are inside the window, so they count.
    end, t1, aligned_end = _await_change(source, tally, clock, timeout)
    return Window(
        kind=kind,
        duration_s=t1 - t0,
        energy_mj=source.delta_mj(start, end),
        iterations=tally.iterations,
        images=tally.images,
        aligned=aligned_start and aligned_end,
        t_start=t0,
        t_end=t1,
    )


def sampling_window(
    source: PowerSampler,
    duration_s: float,
    activity: Activity,
    *,
    kind: str,
    interval_s: float = 0.01,
    clock: Callable[[], float] = time.perf_counter,
) -> Window:
    """Energy over `duration_s` by sampling instantaneous power between units of activity and integrating."""
    times, watts = [clock()], [source.power_w()]
    t0 = times[0]
    tally = _Tally(activity)
    while times[-1] - t0 < duration_s:
        tally()
        now = clock()
        if now - times[-1] >= interval_s or now - t0 >= duration_s:
            times.append(now)
            watts.append(source.power_w())
    return Window(
        kind=kind,
        duration_s=times[-1] - t0,
        energy_mj=integrate_power(times, watts) * 1000.0,
        iterations=tally.iterations,
        images=tally.images,
        readings=len(times),
        aligned=True,
        t_start=t0,
        t_end=times[-1],
    )


def summarize_windows(idle: Window, busy: Sequence[Window], batch_size: int) -> dict[str, float]:
    """Medians over busy windows of gross/net mJ per image, busy power and latency per batch; idle power."""
    idle_w = idle.avg_power_w
    gross, net, busy_w, lat = [], [], [], []
    for w in busy:
        g, n = energy_per_image(w, idle_w)
        gross.append(g)
        net.append(n)
        busy_w.append(w.avg_power_w)
        lat.append(1000.0 * w.duration_s * batch_size / w.images)
    return {
        "energy_mj_per_image": float(np.median(gross)),
        "energy_mj_per_image_net": float(np.median(net)),
        "avg_power_w": float(np.median(busy_w)),
        "idle_power_w": float(idle_w),
        "latency_ms": float(np.median(lat)),
        "spread": relative_spread(gross) if len(gross) > 1 else 0.0,
    }


def settled(powers: Sequence[float], tolerance: float = SETTLE_TOLERANCE) -> bool:
    """Whether a power trace (one value per settle step) has settled.

    A first-order decay (or rise) changes by a constant ratio r per step; the change still to come after
    the last step is then d * r / (1 - r). Settled when that is under `tolerance` of the power, or, once the
    changes alternate in sign (noise, not decay), when both are under 2 * `tolerance`.
    """
    if len(powers) < 3:
        return False
    p1, p2, p3 = powers[-3:]
    d1, d2 = p2 - p1, p3 - p2
    scale = max(abs(p3), 1e-9)
    if d2 == 0 or (d1 != 0 and d2 / d1 < 0):
        return max(abs(d1), abs(d2)) <= 2 * tolerance * scale
    if d1 == 0:
        return False
    r = d2 / d1
    if r >= 1:  # not slowing down (clocks still stepping): wait
        return False
    return abs(d2) * r / (1 - r) <= tolerance * scale


@dataclass
class Settle:
    """What a settle did: how long, whether it converged, and the power of each step."""

    seconds: float
    converged: bool
    powers_w: list[float]


def settle(
    window: Callable[[float], Window],
    clock: Callable[[], float],
    *,
    min_s: float,
    max_s: float,
    step_s: float = SETTLE_STEP_S,
    tolerance: float = SETTLE_TOLERANCE,
) -> Settle:
    """Run short windows (`window(step_s)`, with whatever activity it carries) until power has settled."""
    t0 = clock()
    powers: list[float] = []
    while True:
        powers.append(window(step_s).avg_power_w)
        elapsed = clock() - t0
        if elapsed >= min_s and settled(powers, tolerance):
            return Settle(elapsed, True, powers)
        if elapsed >= max_s:
            return Settle(elapsed, False, powers)


class _Pipeline:
    """Busy activity with launches queued: keeps about `queue_s` of work in flight, never syncs per step.

    Each call either launches one step (recording an event after it) or, with the queue full, waits a
    moment; then it collects the events the device has reached. Finished batches are logged with the host
    time they were seen, so that `images_between` can interpolate the images finished between two times
    (a window's ends fall inside batches; at 100 ms per batch a 2 s window holds only 20).
    """

    def __init__(
        self, session: LatencySession, *, batch_s: float, queue_s: float, min_depth: int, sleep: Callable
    ) -> None:
        self.session, self.sleep = session, sleep
        self.batch = session.prepared.batch_size
        self.depth = int(min(10_000, max(min_depth, math.ceil(queue_s / max(batch_s, 1e-7)))))
        self.poll_s = min(1e-3, queue_s / 8)
        self.pending: deque[Any] = deque()
        self.log_t: list[float] = []
        self.log_images: list[float] = []
        self.finished = 0.0

    def __call__(self) -> float:
        if len(self.pending) >= self.depth and not self.pending[0].query():
            self.sleep(self.poll_s)
        else:
            self.session.step()
            event = self.session.timing.event()
            event.record()
            self.pending.append(event)
        done = 0
        while self.pending and self.pending[0].query():
            self.pending.popleft()
            done += self.batch
        if done:
            self.finished += done
            self.log_t.append(self.session.clock())
            self.log_images.append(self.finished)
        return done

    def run_past(self, t: float) -> None:
        """Keep going until a batch finishes after host time `t` (so `images_between` interpolates to `t`)."""
        while not self.log_t or self.log_t[-1] <= t:
            self()

    def images_between(self, t0: float, t1: float) -> float:
        times, images = np.asarray(self.log_t), np.asarray(self.log_images)
        lo, hi = np.interp([t0, t1], times, images)
        return float(hi - lo)

    def drain(self) -> None:
        while self.pending:
            self.pending.popleft().synchronize()


@dataclass
class EnergyResult:
    """Energy per image (gross and idle-subtracted, mJ), power (W) and what the device looked like meanwhile."""

    energy_mj_per_image: float
    energy_mj_per_image_net: float
    avg_power_w: float
    idle_power_w: float
    method: str
    source: str
    window_s: float
    repeats: int
    batch_size: int
    label: str = ""
    backend: str = ""
    unit: str = "mJ"
    latency_ms: float = float("nan")  # per batch, from the busy windows (launches queued back to back)
    spread: float = float("nan")  # (max - min) / median of gross mJ/image across busy windows
    execution: str = "eager"  # eager | cuda-graph | compiled
    seconds: float = float("nan")  # wall time of the whole measurement
    windows: list[dict[str, Any]] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)
    clocks: dict[str, Any] = field(default_factory=dict)
    temperature_c: float | None = None
    power_limit_w: float | None = None
    telemetry: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def net_power_w(self) -> float:
        return self.avg_power_w - self.idle_power_w

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["net_power_w"] = self.net_power_w
        return out


def measure_energy(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cuda",
    *,
    source: PowerSource | None = None,
    window_s: float = MIN_WINDOW_S,
    repeats: int = 3,
    cuda_graph: bool = False,
    eager_if_capture_fails: bool = True,
    threads: int | None = None,
    warmup_budget_s: float = 1.0,
    sample_interval_s: float = 0.01,
    allow_short_window: bool = False,
    idle_power_w: float | None = None,
    settle_min_s: float | None = None,
    settle_max_s: float = 30.0,
    ramp_max_s: float = 5.0,
    time_budget_s: float | None = None,
    pipeline_depth: int = 2,
    queue_s: float = 0.02,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    timing: Timing | None = None,
    **options: Unpack[PrepareOptions],
) -> EnergyResult:
    """Energy per image and average power of `model_or_spec` on `device`, from the first power source there.

    Raises `PowerUnavailable` (one line, with the reasons) where no source exists. `cuda_graph` (default
    off, as in `measure_latency`) replays a CUDA graph, falling back to eager if capture fails unless
    `eager_if_capture_fails` is off. Windows shorter than 2 s are refused unless `allow_short_window`.
    `idle_power_w` reuses an idle power measured before (`result.idle_power_w`), skipping the settle and
    idle window; `time_budget_s` bounds the busy part (ramp and windows: at least one window, at most
    `repeats`). `timing` replaces the device interface (the simulator's), with `clock` and `sleep`.
    `options` are `prepare`'s (batch_size, dtype, channels_last, deploy, compile, seed).
    """
    if repeats < 1:
        raise EspnasError(f"repeats must be >= 1, got {repeats}")
    if pipeline_depth < 1 or queue_s <= 0:
        raise EspnasError(f"pipeline_depth must be >= 1 and queue_s > 0, got {pipeline_depth} and {queue_s}")
    if window_s <= 0 or (window_s < MIN_WINDOW_S and not allow_short_window):
        raise EspnasError(
            f"window_s={window_s} is too short to span many energy-counter refreshes; use >= {MIN_WINDOW_S}"
        )
    if time_budget_s is not None and time_budget_s <= 0:
        raise EspnasError(f"time_budget_s must be > 0, got {time_budget_s}")
    if timing is None:
        device_type(device)
    else:
        clock = timing.clock
    if source is None:
        source = open_power_source(device)
    t_begin = clock()
    try:
        with prepared_with_threads(model_or_spec, input_shape, device, threads, **options) as (
            prepared,
            used_threads,
        ):
            session = LatencySession(
                prepared,
                cuda_graph=cuda_graph,
                eager_if_capture_fails=eager_if_capture_fails,
                clock=clock,
                timing=timing,
            )
            with session.active():
                run = _Run(session, source, window_s, sample_interval_s, clock, sleep)
                idle, idle_settle = run.idle(idle_power_w, settle_min_s, settle_max_s)
                session.warm_up(warmup_budget_s)
                busy, ramp, depth = run.busy(repeats, ramp_max_s, pipeline_depth, queue_s, time_budget_s)
                telemetry = source.telemetry()  # read right after the busy windows: clocks/temperature under load
    finally:
        source.close()
    summary = summarize_windows(idle, busy, prepared.batch_size)
    clocks = {k: v for k, v in telemetry.items() if k.endswith("_clock_mhz")}
    opts = dict(prepared.options)
    opts.update(cuda_graph=session.cuda_graph, execution=session.execution, sample_interval_s=sample_interval_s)
    protocol = {
        "windows": f"{len(busy)} busy windows of >= {window_s:g} s"
        + (", aligned to counter refreshes" if source.method == ENERGY_COUNTER else ", power sampled and integrated"),
        "idle": (
            "given by the caller"
            if idle_power_w is not None
            else f"one {window_s:g} s window after a settle of {idle_settle.seconds:.1f} s "
            f"({'converged' if idle_settle.converged else 'NOT converged'}), before warm-up"
        ),
        "idle_settle_powers_w": idle_settle.powers_w,
        "ramp": f"{ramp.seconds:.1f} s ({'converged' if ramp.converged else 'NOT converged'})",
        "launches": f"queued, up to {depth} batches (~{queue_s * 1000:g} ms) in flight, no per-step synchronisation",
        "execution": session.execution,
        "time_budget_s": time_budget_s,
    }
    return EnergyResult(
        **summary,
        method=source.method,
        source=source.name,
        window_s=window_s,
        repeats=len(busy),
        batch_size=prepared.batch_size,
        label=prepared.label,
        backend=f"energy-{source.name}",
        execution=session.execution,
        seconds=clock() - t_begin,
        windows=[asdict(w) | {"avg_power_w": w.avg_power_w} for w in [idle, *busy]],
        protocol=protocol,
        clocks=clocks,
        temperature_c=telemetry.get("temperature_c"),
        power_limit_w=telemetry.get("power_limit_w"),
        telemetry=telemetry,
        options=opts,
        fingerprint=fingerprint(device, threads=used_threads) if timing is None else {"device": "simulated"},
    )


class _Run:
    """The windows of one measurement, on one source, with one session."""

    def __init__(
        self,
        session: LatencySession,
        source: PowerSource,
        window_s: float,
        interval_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if not isinstance(source, EnergyCounter | PowerSampler):
            raise EspnasError(f"power source {source!r} is neither an energy counter nor a power sampler")
        self.session, self.source, self.window_s = session, source, window_s
        self.interval_s, self.clock, self.sleep = interval_s, clock, sleep
        counter = source.method == ENERGY_COUNTER
        self.poll = min(interval_s, source.update_interval_s / 20) if counter else interval_s
        #: A reading must have caught up with a change before it is trusted (NVML power: a 1 s average).
        self.lag_s = float(getattr(source, "averaging_s", 0.0)) + source.update_interval_s

    def window(self, activity: Activity, kind: str, duration_s: float) -> Window:
        if isinstance(self.source, EnergyCounter):
            return counter_window(self.source, duration_s, activity, kind=kind, clock=self.clock)
        return sampling_window(
            self.source, duration_s, activity, kind=kind, interval_s=self.interval_s, clock=self.clock
        )

    def _idle_activity(self) -> int:
        self.sleep(self.poll)
        return 0

    def idle(self, given_w: float | None, min_s: float | None, max_s: float) -> tuple[Window, Settle]:
        if given_w is not None:
            return Window("idle", duration_s=1.0, energy_mj=1000.0 * given_w, readings=0), Settle(0.0, True, [])
        floor = self.lag_s + SETTLE_STEP_S if min_s is None else min_s
        done = settle(lambda s: self.window(self._idle_activity, "idle", s), self.clock, min_s=floor, max_s=max_s)
        return self.window(self._idle_activity, "idle", self.window_s), done

    def busy(
        self, repeats: int, ramp_max_s: float, min_depth: int, queue_s: float, budget_s: float | None
    ) -> tuple[list[Window], Settle, int]:
        warm = sorted(self.session.warmup_samples_ms[-5:]) or [1.0]
        batch_s = warm[len(warm) // 2] / 1000.0
        pipe = _Pipeline(self.session, batch_s=batch_s, queue_s=queue_s, min_depth=min_depth, sleep=self.sleep)
        t0 = self.clock()
        ramp = settle(
            lambda s: self.window(pipe, "ramp", s), self.clock, min_s=self.lag_s, max_s=min(ramp_max_s, budget_s or 1e9)
        )
        windows: list[Window] = []
        while len(windows) < repeats:
            w = self.window(pipe, "busy", self.window_s)
            pipe.run_past(w.t_end)
            images = pipe.images_between(w.t_start, w.t_end)
            if images <= 0:
                pipe.drain()
                raise EspnasError(
                    f"busy window of {w.duration_s:.2f} s finished no batch; one forward takes longer than the "
                    "window, so raise window_s"
                )
            windows.append(replace(w, images=images, iterations=round(images / pipe.batch)))
            if budget_s is not None and self.clock() - t0 + self.window_s > budget_s:
                break
        pipe.drain()
        return windows, ramp, pipe.depth


# ---------------------------------------------------------------- backends and availability


class _EnergyBackend(Backend):
    """An energy backend is a power source: `_probe` says whether it is there, `open` opens it."""

    kind = "energy"
    unavailable_error = PowerUnavailable
    _probe: Callable[[str], Availability]
    open: Callable[[str], PowerSource]

    def _measure(
        self, model_or_spec: Any, input_shape: Sequence[int] | None, device: str, **options: Any
    ) -> EnergyResult:
        return measure_energy(model_or_spec, input_shape, device, source=self.open(device), **options)


class NvmlEnergyBackend(_EnergyBackend):
    """NVIDIA GPUs: NVML total-energy counter, or NVML power sampling where the counter is missing."""

    name = "energy-nvml"
    devices = ("cuda",)
    _probe = staticmethod(probe_nvml)
    open = staticmethod(open_nvml)


class RaplEnergyBackend(_EnergyBackend):
    """CPU packages: Intel/AMD RAPL counters under /sys/class/powercap."""

    name = "energy-rapl"
    devices = ("cpu",)
    _probe = staticmethod(probe_rapl)
    open = staticmethod(open_rapl)


class JetsonEnergyBackend(_EnergyBackend):
    """Jetson boards: the INA3221 power monitors in sysfs (module input rail; CPU or GPU work)."""

    name = "energy-jetson-ina"
    devices = ("cpu", "cuda")
    _probe = staticmethod(probe_jetson)
    open = staticmethod(open_jetson)


ENERGY_BACKENDS: tuple[_EnergyBackend, ...] = (NvmlEnergyBackend(), JetsonEnergyBackend(), RaplEnergyBackend())


def _first_source(device: str, use: Callable[[_EnergyBackend, Availability], Any]) -> tuple[Any | None, list[str]]:
    """`use(backend, availability)` of the first energy backend available on `device` whose `use` does not
    raise `BackendUnavailable` (None if none), and the reasons the ones before it gave."""
    kind = device_type(device)
    reasons = []
    for backend in ENERGY_BACKENDS:
        if kind not in backend.devices:
            continue
        avail = backend.is_available(device)
        if not avail:
            reasons.append(f"{backend.name}: {avail.reason}")
            continue
        try:
            return use(backend, avail), reasons
        except BackendUnavailable as err:
            reasons.append(f"{backend.name}: {err}")
    return None, reasons


def power_available(device: str) -> Availability:
    """Whether any power source serves `device`: the first that does, or every backend's reason why not."""
    found, reasons = _first_source(device, lambda backend, avail: Availability(True, f"{backend.name}: {avail.reason}"))
    return found or Availability(False, f"no power source for {device} ({'; '.join(reasons)})")


def open_power_source(device: str) -> PowerSource:
    """Open the first available power source for `device`, or raise `PowerUnavailable` with every reason."""
    source, reasons = _first_source(device, lambda backend, _: backend.open(device))
    if source is None:
        raise PowerUnavailable(f"energy needs a power source, and {device} has none ({'; '.join(reasons)})")
    return source
