"""Where and with what a measurement was made: attached to every result so that figures can be compared.

A latency is meaningless without the device, the software stack and the thread count behind it; two runs
compare only when their fingerprints match on the fields in `COMPARABLE_KEYS`.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
from functools import lru_cache
from typing import Any

import torch

from profilers.backend import device_type

#: Fields that must agree for two measurements to be comparable.
COMPARABLE_KEYS = ("device_name", "torch", "cuda", "cudnn", "driver", "threads")


@lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_freq_mhz() -> float | None:
    path = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"
    try:
        with open(path, encoding="utf-8") as fh:
            return int(fh.read().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def nvml_info(index_or_uuid: int | str) -> dict[str, Any]:
    """Driver, UUID, clocks, temperature and power limit of one GPU via NVML; {} where NVML is absent."""
    try:
        import pynvml
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return {}
    info: dict[str, Any] = {}
    try:
        if isinstance(index_or_uuid, str):
            handle = pynvml.nvmlDeviceGetHandleByUUID(index_or_uuid)
        else:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index_or_uuid)
        info["driver"] = _text(pynvml.nvmlSystemGetDriverVersion())
        info["uuid"] = _text(pynvml.nvmlDeviceGetUUID(handle))
        info.update(nvml_telemetry(pynvml, handle))
    except pynvml.NVMLError:
        pass
    return info


def nvml_telemetry(pynvml: Any, handle: Any) -> dict[str, Any]:
    """Clocks (MHz), temperature (C) and enforced power limit (W) seen now; fields NVML refuses are left out."""
    out: dict[str, Any] = {}
    queries = {
        "sm_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "mem_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM),
        "temperature_c": lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
        "power_limit_w": lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0,
    }
    for key, query in queries.items():
        try:
            out[key] = query()
        except pynvml.NVMLError:
            continue
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cuda_uuid(index: int) -> str | None:
    """NVML-style UUID ("GPU-...") of CUDA device `index`, which survives CUDA_VISIBLE_DEVICES reordering."""
    try:
        uuid = torch.cuda.get_device_properties(index).uuid
    except (AttributeError, RuntimeError, AssertionError):
        return None
    text = str(uuid)
    return text if text.startswith("GPU-") else f"GPU-{text}"


def fingerprint(device: str = "cpu", *, threads: int | None = None) -> dict[str, Any]:
    """The environment of a measurement on `device`: device, versions, clocks, threads, host and time."""
    kind = device_type(device)
    fp: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_freq_mhz": _cpu_freq_mhz(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if kind == "cpu":
        fp["device_name"] = fp["cpu"]
    else:
        index = int(str(device).split(":", 1)[1]) if ":" in str(device) else torch.cuda.current_device()
        fp["device_name"] = torch.cuda.get_device_name(index)
        cap = torch.cuda.get_device_capability(index)
        fp["compute_capability"] = f"{cap[0]}.{cap[1]}"
        uuid = cuda_uuid(index)
        fp["uuid"] = uuid
        fp.update(nvml_info(uuid if uuid else index))
    return fp


def comparable(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The `COMPARABLE_KEYS` on which two fingerprints differ (empty: comparable)."""
    return [key for key in COMPARABLE_KEYS if a.get(key) != b.get(key)]
