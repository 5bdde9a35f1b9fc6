"""Where power and energy readings come from: NVML (NVIDIA GPUs), RAPL (CPU packages), Jetson INA rails.

A source is either an energy counter (cumulative, read at the ends of a window; exact over long windows) or
a power sampler (instantaneous watts, integrated over a window; the fallback where no counter exists). Each
class has `probe()` returning `Availability` (never raising) and is opened only when available. Sysfs roots
are parameters so that tests can point the readers at a fake tree.
"""

from __future__ import annotations

import glob
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from profilers.backend import Availability, BackendUnavailable, device_type
from profilers.fingerprint import nvml_telemetry

ENERGY_COUNTER = "energy-counter"
POWER_SAMPLING = "power-sampling"


class PowerSource(ABC):
    """Base of all sources: a `name`, a `method`, and telemetry (clocks, temperature, power limit) if any."""

    name: ClassVar[str]
    method: str
    #: How often the hardware refreshes the reading; windows must span many refreshes.
    update_interval_s: float = 0.1

    def telemetry(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (NVML shutdown); default nothing."""


class EnergyCounter(PowerSource):
    """A cumulative energy counter: `read()` an opaque snapshot, `delta_mj(a, b)` the energy between two."""

    method = ENERGY_COUNTER

    @abstractmethod
    def read(self) -> Any: ...

    @abstractmethod
    def delta_mj(self, start: Any, end: Any) -> float: ...


class PowerSampler(PowerSource):
    """Instantaneous power in watts, to be sampled often and integrated."""

    method = POWER_SAMPLING
    update_interval_s = 0.01

    @abstractmethod
    def power_w(self) -> float: ...


def counter_delta(start: float, end: float, max_range: float | None = None) -> float:
    """`end - start` for a counter that wraps to 0 after `max_range` (at most one wrap per window)."""
    if end >= start:
        return end - start
    if max_range is None or max_range <= 0:
        raise BackendUnavailable(
            f"energy counter went backwards ({start} -> {end}) and has no known range; driver reloaded?"
        )
    return end + max_range - start


def _read_number(path: Path) -> float:
    """A sysfs attribute holding one number (energy_uj, in_power0_input, ...)."""
    return float(path.read_text().strip())


# ---------------------------------------------------------------- NVML


def _nvml_handle(device: str) -> tuple[Any, Any]:
    """(pynvml, handle) for CUDA `device`, matched by UUID or PCI bus id (never by index; see profilers.nvml).

    A MIG instance is refused: NVML's power and energy cover the whole GPU, which other instances share.
    """
    from profilers import nvml

    found = nvml.find_device(device)
    if found.mig:
        raise BackendUnavailable(
            f"{device} is a MIG instance ({found.uuid}); NVML power and energy cover the whole GPU, which other "
            "MIG instances share, so energy per image cannot be attributed to this model"
        )
    return nvml.library(), found.handle


class _NvmlMixin:
    """What both NVML sources share: the library, the device handle and telemetry. NVML stays initialised
    for the process (profilers.nvml), so closing a source releases nothing."""

    def __init__(self, pynvml: Any, handle: Any) -> None:
        self.pynvml, self.handle = pynvml, handle

    def telemetry(self) -> dict[str, Any]:
        return nvml_telemetry(self.pynvml, self.handle)


class NvmlEnergyCounter(_NvmlMixin, EnergyCounter):
    """nvmlDeviceGetTotalEnergyConsumption: mJ since driver load (Volta and newer), 64-bit, no wrap."""

    name = "nvml"
    # The counter is refreshed every 20-100 ms depending on the GPU; assume the slow end.
    update_interval_s = 0.1

    def read(self) -> float:
        return float(self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def delta_mj(self, start: float, end: float) -> float:
        return counter_delta(start, end)


class NvmlPowerSampler(_NvmlMixin, PowerSampler):
    """nvmlDeviceGetPowerUsage (mW), the fallback. On many boards it is a ~1 s moving average, so a reading
    lags the load by about half a second: windows need a settled device before and after (energy.py)."""

    name = "nvml"
    update_interval_s = 0.02
    #: The driver's averaging window; energy.py settles at least this long before trusting a reading.
    averaging_s = 1.0

    def power_w(self) -> float:
        return self.pynvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0


def probe_nvml(device: str) -> Availability:
    """Whether NVML can give energy (or at least power) for `device`; never raises."""
    if device_type(device) != "cuda":
        return Availability(False, f"NVML reads NVIDIA GPUs, not {device}")
    try:
        pynvml = _nvml_module()
    except ImportError:
        return Availability(False, "pynvml (nvidia-ml-py) is not installed")
    try:
        pynvml, handle = _nvml_handle(device)
    except pynvml.NVMLError as err:
        return Availability(False, f"NVML: {err}")
    except BackendUnavailable as err:
        return Availability(False, str(err))
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return Availability(True, "NVML total-energy counter")
    except pynvml.NVMLError:
        pass
    try:
        pynvml.nvmlDeviceGetPowerUsage(handle)
        return Availability(True, "NVML power sampling (no energy counter on this GPU)")
    except pynvml.NVMLError as err:
        return Availability(False, f"NVML has neither energy nor power for {device}: {err}")


def _nvml_module() -> Any:
    import pynvml

    return pynvml


def open_nvml(device: str) -> PowerSource:
    avail = probe_nvml(device)
    if not avail:
        raise BackendUnavailable(f"NVML on {device}: unavailable: {avail.reason}")
    pynvml, handle = _nvml_handle(device)
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except pynvml.NVMLError:  # pre-Volta GPUs: sample instantaneous power instead
        return NvmlPowerSampler(pynvml, handle)
    return NvmlEnergyCounter(pynvml, handle)


# ---------------------------------------------------------------- RAPL

RAPL_ROOT = "/sys/class/powercap"


@dataclass(frozen=True)
class RaplDomain:
    path: Path
    name: str
    max_range_uj: float


def rapl_domains(root: str | os.PathLike[str] = RAPL_ROOT) -> list[RaplDomain]:
    """Top-level RAPL package domains (intel-rapl:N; sub-domains :N:M are inside them and not added)."""
    domains = []
    for entry in sorted(Path(root).glob("intel-rapl:*")):
        if entry.name.count(":") != 1:
            continue
        try:
            name = (entry / "name").read_text().strip()
        except OSError:
            name = entry.name
        try:
            max_range = _read_number(entry / "max_energy_range_uj")
        except (OSError, ValueError):
            max_range = 0.0
        domains.append(RaplDomain(entry, name, max_range))
    return domains


class RaplEnergyCounter(EnergyCounter):
    """Sum of the CPU package energy counters (µJ), each unwrapped with its max_energy_range_uj."""

    name = "rapl"
    update_interval_s = 0.001

    def __init__(self, domains: Sequence[RaplDomain]) -> None:
        self.domains = list(domains)

    def read(self) -> tuple[float, ...]:
        return tuple(_read_number(d.path / "energy_uj") for d in self.domains)

    def delta_mj(self, start: tuple[float, ...], end: tuple[float, ...]) -> float:
        total_uj = sum(
            counter_delta(a, b, d.max_range_uj or None) for a, b, d in zip(start, end, self.domains, strict=True)
        )
        return total_uj / 1000.0

    def telemetry(self) -> dict[str, Any]:
        return {"rapl_domains": [d.name for d in self.domains]}


def probe_rapl(device: str = "cpu", root: str | os.PathLike[str] = RAPL_ROOT) -> Availability:
    if device_type(device) != "cpu":
        return Availability(False, f"RAPL reads CPU packages, not {device}")
    if not Path(root).is_dir():
        return Availability(False, f"no {root} (no powercap driver, or not Linux)")
    domains = rapl_domains(root)
    if not domains:
        return Availability(False, f"no intel-rapl:N domains under {root}")
    try:
        RaplEnergyCounter(domains).read()
    except PermissionError:
        return Availability(False, f"{domains[0].path}/energy_uj is not readable (root only on this kernel)")
    except (OSError, ValueError) as err:
        return Availability(False, f"cannot read RAPL energy_uj: {err}")
    return Availability(True, f"RAPL {', '.join(d.name for d in domains)}")


def open_rapl(device: str = "cpu", root: str | os.PathLike[str] = RAPL_ROOT) -> RaplEnergyCounter:
    avail = probe_rapl(device, root)
    if not avail:
        raise BackendUnavailable(f"RAPL on {device}: unavailable: {avail.reason}")
    return RaplEnergyCounter(rapl_domains(root))


# ---------------------------------------------------------------- Jetson INA3221 rails

JETSON_ROOT = "/sys"
# L4T <= 32 (TX1/TX2/Xavier): iio device with in_powerN_input (mW) and rail_name_N.
_JETSON_IIO = "bus/i2c/drivers/ina3221x/*/iio:device*"
# L4T >= 34 (Orin): hwmon with inN_input (mV), currN_input (mA), inN_label.
_JETSON_HWMON = "bus/i2c/drivers/ina3221/*/hwmon/hwmon*"
#: Rails that measure the whole module input; preferred because the other rails are parts of it.
_TOTAL_RAIL_HINTS = ("VDD_IN", "VIN_SYS_5V0", "POM_5V_IN", "VIN")


@dataclass(frozen=True)
class JetsonRail:
    name: str
    power_path: Path | None = None  # mW
    volt_path: Path | None = None  # mV
    curr_path: Path | None = None  # mA

    def power_w(self) -> float:
        if self.power_path is not None:
            return _read_number(self.power_path) / 1000.0
        assert self.volt_path is not None and self.curr_path is not None
        return _read_number(self.volt_path) * _read_number(self.curr_path) / 1e6  # mV * mA


def jetson_rails(root: str | os.PathLike[str] = JETSON_ROOT) -> list[JetsonRail]:
    rails: list[JetsonRail] = []
    for dev in sorted(glob.glob(os.path.join(str(root), _JETSON_IIO))):
        for power in sorted(Path(dev).glob("in_power*_input")):
            idx = power.name[len("in_power") : -len("_input")]
            label = Path(dev) / f"rail_name_{idx}"
            name = label.read_text().strip() if label.exists() else f"{Path(dev).name}:{idx}"
            rails.append(JetsonRail(name, power_path=power))
    for dev in sorted(glob.glob(os.path.join(str(root), _JETSON_HWMON))):
        for label in sorted(Path(dev).glob("in*_label")):
            idx = label.name[2 : -len("_label")]
            volt, curr = Path(dev) / f"in{idx}_input", Path(dev) / f"curr{idx}_input"
            if volt.exists() and curr.exists():
                name = label.read_text().strip()
                if name.upper() == "NC":  # unconnected channel
                    continue
                rails.append(JetsonRail(name, volt_path=volt, curr_path=curr))
    return rails


def choose_rails(rails: Sequence[JetsonRail], rail: str | None = None) -> list[JetsonRail]:
    """The named rail; else the module-input rail; else all rails summed (no rail is then a part of another)."""
    if rail is not None:
        chosen = [r for r in rails if r.name == rail]
        if not chosen:
            raise BackendUnavailable(
                f"no Jetson power rail {rail!r}; valid: {', '.join(r.name for r in rails) or 'none found'}"
            )
        return chosen
    for hint in _TOTAL_RAIL_HINTS:
        total = [r for r in rails if hint in r.name.upper()]
        if total:
            return total[:1]
    return list(rails)


class JetsonPowerSampler(PowerSampler):
    """Board power from the INA3221 monitors that Jetson modules expose in sysfs (sampled, summed)."""

    name = "jetson-ina"
    update_interval_s = 0.01

    def __init__(self, rails: Sequence[JetsonRail]) -> None:
        self.rails = list(rails)

    def power_w(self) -> float:
        return sum(r.power_w() for r in self.rails)

    def telemetry(self) -> dict[str, Any]:
        return {"rails": [r.name for r in self.rails]}


def probe_jetson(device: str = "cuda", root: str | os.PathLike[str] = JETSON_ROOT) -> Availability:
    device_type(device)
    rails = jetson_rails(root)
    if not rails:
        return Availability(False, "no Jetson INA3221 power rails in sysfs (not a Jetson board)")
    try:
        JetsonPowerSampler(choose_rails(rails)).power_w()
    except (OSError, ValueError) as err:
        return Availability(False, f"cannot read Jetson power rails: {err}")
    return Availability(True, f"Jetson INA rails {', '.join(r.name for r in choose_rails(rails))}")


def open_jetson(
    device: str = "cuda", root: str | os.PathLike[str] = JETSON_ROOT, rail: str | None = None
) -> JetsonPowerSampler:
    avail = probe_jetson(device, root)
    if not avail:
        raise BackendUnavailable(f"Jetson INA on {device}: unavailable: {avail.reason}")
    return JetsonPowerSampler(choose_rails(jetson_rails(root), rail))
