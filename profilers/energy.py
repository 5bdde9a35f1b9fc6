"""Energy per image and average power while a model runs, from NVML, RAPL or Jetson INA rails.

How (and why):
- The model runs in a loop (as a CUDA graph where possible) for a window of at least 2 s: the NVML energy
  counter is refreshed only every 20-100 ms, so a short window would be mostly quantisation error.
- Windows start and end on a counter refresh (we keep the activity going until the reading changes), which
  removes most of that quantisation error even for short windows.
- An idle window of the same length, just before each busy window, measures the power drawn anyway; it is
  subtracted to give the net ("idle-subtracted") energy per image. Both gross and net are reported.
- Where there is no energy counter, instantaneous power is sampled every ~10 ms and integrated
  (trapezoid); `method` says which was used.
- Each measurement is repeated (`repeats` idle/busy pairs) and the median reported, with the spread.

`clock` and `sleep` are injectable so the arithmetic can be tested on CPU with a fake counter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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
from search_spaces.errors import EspnasError

#: Shortest window we accept by default: many NVML counter refreshes (20-100 ms each).
MIN_WINDOW_S = 2.0


@dataclass(frozen=True)
class Window:
    """One measured window: how long, how much energy, how many images were run in it."""

    kind: str  # "idle" or "busy"
    duration_s: float
    energy_mj: float
    iterations: int = 0
    images: int = 0
    readings: int = 2
    aligned: bool = True

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


Activity = Callable[[], int]  # runs a bit of work (or waits); returns the images it processed


@dataclass
class _Tally:
    """Runs an activity and counts what it did: images, and iterations that processed any."""

    activity: Activity
    images: int = 0
    iterations: int = 0

    def __call__(self) -> None:
        done = self.activity()
        self.images += done
        self.iterations += 1 if done else 0


def _await_change(
    source: EnergyCounter, tally: _Tally, clock: Callable[[], float], timeout_s: float
) -> tuple[Any, float, bool]:
    """Keep the activity going until the counter's reading changes.

    Returns (reading, time, changed); `changed` is False if the timeout came first.
    """
    first = source.read()
    t0 = clock()
    while True:
        tally()
        now_reading = source.read()
        now = clock()
        if now_reading != first:
            return now_reading, now, True
        if now - t0 >= timeout_s:
            return now_reading, now, False


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
    )


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
    latency_ms: float = float("nan")  # per batch, from the busy windows (device kept busy back to back)
    spread: float = float("nan")  # (max - min) / median of gross mJ/image across repeats
    windows: list[dict[str, Any]] = field(default_factory=list)
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


def summarize_windows(pairs: Sequence[tuple[Window, Window]]) -> dict[str, float]:
    """Medians over (idle, busy) pairs of gross/net mJ per image, busy and idle power, latency per batch."""
    gross, net, busy_w, idle_w, lat = [], [], [], [], []
    for idle, busy in pairs:
        g, n = energy_per_image(busy, idle.avg_power_w)
        gross.append(g)
        net.append(n)
        busy_w.append(busy.avg_power_w)
        idle_w.append(idle.avg_power_w)
        if busy.iterations:
            lat.append(1000.0 * busy.duration_s / busy.iterations)
    return {
        "energy_mj_per_image": float(np.median(gross)),
        "energy_mj_per_image_net": float(np.median(net)),
        "avg_power_w": float(np.median(busy_w)),
        "idle_power_w": float(np.median(idle_w)),
        "latency_ms": float(np.median(lat)) if lat else float("nan"),
        "spread": relative_spread(gross) if len(gross) > 1 else 0.0,
    }


def measure_energy(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cuda",
    *,
    source: PowerSource | None = None,
    window_s: float = MIN_WINDOW_S,
    repeats: int = 3,
    cuda_graph: bool | None = None,
    threads: int | None = None,
    warmup_budget_s: float = 1.0,
    sample_interval_s: float = 0.01,
    allow_short_window: bool = False,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    **options: Unpack[PrepareOptions],
) -> EnergyResult:
    """Energy per image and average power of `model_or_spec` on `device`, from the first power source there.

    Raises `PowerUnavailable` (one line, with the reasons) where no source exists. `cuda_graph` defaults to
    on for CUDA (falling back to eager if capture fails) and is ignored elsewhere. Windows shorter than 2 s
    are refused unless `allow_short_window` (they would be mostly counter quantisation). `options` are
    `prepare`'s (batch_size, dtype, channels_last, deploy, compile, seed).
    """
    kind = device_type(device)
    if repeats < 1:
        raise EspnasError(f"repeats must be >= 1, got {repeats}")
    if window_s <= 0 or (window_s < MIN_WINDOW_S and not allow_short_window):
        raise EspnasError(
            f"window_s={window_s} is too short to span many energy-counter refreshes; use >= {MIN_WINDOW_S}"
        )
    if source is None:
        source = open_power_source(device)
    use_graph = kind == "cuda" and cuda_graph is not False
    try:
        with prepared_with_threads(model_or_spec, input_shape, device, threads, **options) as (
            prepared,
            used_threads,
        ):
            session = LatencySession(prepared, cuda_graph=use_graph, eager_if_capture_fails=True, clock=clock)
            with session.active():
                session.warm_up(warmup_budget_s)
                pairs, telemetry = _run_windows(session, source, window_s, repeats, sample_interval_s, clock, sleep)
    finally:
        source.close()
    summary = summarize_windows(pairs)
    clocks = {k: v for k, v in telemetry.items() if k.endswith("_clock_mhz")}
    options = dict(prepared.options)
    options.update(cuda_graph=session.cuda_graph, sample_interval_s=sample_interval_s)
    return EnergyResult(
        **summary,
        method=source.method,
        source=source.name,
        window_s=window_s,
        repeats=repeats,
        batch_size=prepared.batch_size,
        label=prepared.label,
        backend=f"energy-{source.name}",
        windows=[asdict(w) | {"avg_power_w": w.avg_power_w} for pair in pairs for w in pair],
        clocks=clocks,
        temperature_c=telemetry.get("temperature_c"),
        power_limit_w=telemetry.get("power_limit_w"),
        telemetry=telemetry,
        options=options,
        fingerprint=fingerprint(device, threads=used_threads),
    )


def _run_windows(
    session: LatencySession,
    source: PowerSource,
    window_s: float,
    repeats: int,
    interval_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[list[tuple[Window, Window]], dict[str, Any]]:
    batch = session.prepared.batch_size
    poll = min(interval_s, source.update_interval_s / 4) if source.method == ENERGY_COUNTER else interval_s

    def busy() -> int:
        session.step()
        session.synchronize()  # so the images counted are the images finished
        return batch

    def idle() -> int:
        sleep(poll)
        return 0

    def window(activity: Activity, kind: str) -> Window:
        if isinstance(source, EnergyCounter):
            return counter_window(source, window_s, activity, kind=kind, clock=clock)
        if isinstance(source, PowerSampler):
            return sampling_window(source, window_s, activity, kind=kind, interval_s=interval_s, clock=clock)
        raise EspnasError(f"power source {source!r} is neither an energy counter nor a power sampler")

    pairs: list[tuple[Window, Window]] = []
    telemetry: dict[str, Any] = {}
    for _ in range(repeats):
        idle_w = window(idle, "idle")
        busy_w = window(busy, "busy")
        telemetry = source.telemetry()  # read right after the busy window: clocks/temperature under load
        pairs.append((idle_w, busy_w))
    return pairs, telemetry


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
