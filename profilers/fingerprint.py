"""Where and with what a measurement was made: attached to every result so that figures can be compared.

A latency is meaningless without the device, the software stack and the thread count behind it; two runs
compare only when their fingerprints match on the fields in `COMPARABLE_KEYS`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from functools import lru_cache
from typing import Any

import torch

from profilers.backend import BackendUnavailable, cuda_index, device_type
from results.timestamps import now_iso

#: Fields that must agree for two measurements to be comparable.
# `runtime`/`runtime_version` are set by profilers.runtimes (absent: the PyTorch forms, as before).
COMPARABLE_KEYS = ("device_name", "torch", "cuda", "cudnn", "driver", "threads", "runtime", "runtime_version")


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


def nvml_info(device: str) -> dict[str, Any]:
    """Driver, NVML UUID, MIG flag, clocks, temperature and power limit of CUDA `device`; {} without NVML.

    The device is matched by UUID or PCI bus id (profilers.nvml), never by index; `nvml_match` says how,
    or why it could not be matched.
    """
    try:
        from profilers import nvml

        pynvml = nvml.library()
    except Exception:  # no pynvml, or no driver library: the fingerprint just has no NVML fields
        return {}
    info: dict[str, Any] = {}
    with contextlib.suppress(pynvml.NVMLError):
        info["driver"] = nvml.text(pynvml.nvmlSystemGetDriverVersion())
    try:
        found = nvml.find_device(device)
    except (BackendUnavailable, pynvml.NVMLError) as err:
        info["nvml_match"] = f"none: {err}"
        return info
    info.update(nvml_uuid=found.uuid, nvml_match=found.matched_by, mig=found.mig)
    with contextlib.suppress(pynvml.NVMLError):
        info.update(nvml_telemetry(pynvml, found.handle))
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
        "time": now_iso(),
    }
    if kind == "cpu":
        fp["device_name"] = fp["cpu"]
    else:
        index = cuda_index(device)
        fp["cuda_index"] = index
        fp["device_name"] = torch.cuda.get_device_name(index)
        cap = torch.cuda.get_device_capability(index)
        fp["compute_capability"] = f"{cap[0]}.{cap[1]}"
        fp["uuid"] = cuda_uuid(index)
        fp.update(nvml_info(f"cuda:{index}"))
        if fp.get("mig") and fp.get("nvml_uuid"):
            fp["uuid"] = fp["nvml_uuid"]
    return fp


def comparable(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The `COMPARABLE_KEYS` on which two fingerprints differ (empty: comparable)."""
    return [key for key in COMPARABLE_KEYS if a.get(key) != b.get(key)]
