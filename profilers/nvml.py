"""NVML, opened once per process, and the NVML handle of a CUDA device matched by identity, never by index.

Why by identity: CUDA numbers the GPUs it can see (after CUDA_VISIBLE_DEVICES, which Ray sets for every
trial, and in CUDA_DEVICE_ORDER, fastest first by default) while NVML numbers every GPU on the host in PCI
order. `cuda:0` inside a Ray trial is often NVML's GPU 3, so an index lookup reads another GPU's power. We
match by the UUID torch reports, then by PCI bus id, and otherwise refuse with a reason.

MIG: a MIG instance has its own UUID ("MIG-..."), but NVML's power and energy cover the whole physical GPU,
which other instances share; energy is refused there (the fingerprint still records the instance).

`nvmlInit` is reference-counted by the driver library; calling it on every probe and `nvmlShutdown` once
(as this code used to) leaks references. `library()` initialises once per process and shuts down at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from profilers.backend import BackendUnavailable, cuda_index

_LOCK = threading.Lock()
_INITIALISED: set[int] = set()  # id() of the pynvml modules initialised (a fake module in tests is its own)


def library() -> Any:
    """The pynvml module, initialised once per process; raises ImportError or pynvml.NVMLError."""
    import pynvml  # nvidia-ml-py; a dependency, but the driver library under it may be absent

    with _LOCK:
        if id(pynvml) not in _INITIALISED:
            pynvml.nvmlInit()
            _INITIALISED.add(id(pynvml))
            atexit.register(_shutdown, pynvml)
    return pynvml


def _shutdown(pynvml: Any) -> None:
    with _LOCK:
        if id(pynvml) in _INITIALISED:
            _INITIALISED.discard(id(pynvml))
            with contextlib.suppress(Exception):
                pynvml.nvmlShutdown()


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class CudaIdentity:
    """What torch knows about a CUDA device that NVML can match: its UUID (no prefix) and PCI bus id."""

    index: int
    uuid: str | None
    pci_bus_id: str | None


def cuda_identity(device: str) -> CudaIdentity:
    """UUID and PCI bus id of `device` as torch sees it (None for what this torch build does not report)."""
    import torch

    index = cuda_index(device)
    uuid = pci = None
    if torch.cuda.is_available() and index < torch.cuda.device_count():
        props = torch.cuda.get_device_properties(index)
        raw = getattr(props, "uuid", None)
        if raw is not None:
            uuid = str(raw)
            for prefix in ("GPU-", "MIG-"):
                uuid = uuid.removeprefix(prefix)
        bus = getattr(props, "pci_bus_id", None)
        if bus is not None:
            domain = int(getattr(props, "pci_domain_id", 0) or 0)
            dev = int(getattr(props, "pci_device_id", 0) or 0)
            pci = f"{domain:08X}:{int(bus):02X}:{dev:02X}.0"
    return CudaIdentity(index, uuid, pci)


@dataclass(frozen=True)
class NvmlDevice:
    """An NVML handle and how it was found ("uuid" or "pci-bus-id"), with the NVML-style UUID."""

    handle: Any
    matched_by: str
    uuid: str | None
    mig: bool


def _is_mig(pynvml: Any, handle: Any) -> bool:
    try:
        return bool(pynvml.nvmlDeviceIsMigDeviceHandle(handle))
    except (AttributeError, pynvml.NVMLError):
        return False


def find_device(device: str, identity: CudaIdentity | None = None) -> NvmlDevice:
    """The NVML device behind CUDA `device`, matched by UUID (GPU- or MIG-) or else by PCI bus id.

    Raises `BackendUnavailable` (one line) where neither matches: guessing by index would read another GPU
    whenever CUDA_VISIBLE_DEVICES or CUDA_DEVICE_ORDER renumber the devices.
    """
    pynvml = library()
    ident = identity or cuda_identity(device)
    if ident.uuid:
        for prefix in ("GPU-", "MIG-"):
            try:
                handle = pynvml.nvmlDeviceGetHandleByUUID(prefix + ident.uuid)
            except pynvml.NVMLError:
                continue
            mig = prefix == "MIG-" or _is_mig(pynvml, handle)
            return NvmlDevice(handle, "uuid", prefix + ident.uuid, mig)
    if ident.pci_bus_id:
        try:
            handle = pynvml.nvmlDeviceGetHandleByPciBusId(ident.pci_bus_id)
        except pynvml.NVMLError:
            pass
        else:
            uuid = None
            with contextlib.suppress(pynvml.NVMLError):
                uuid = text(pynvml.nvmlDeviceGetUUID(handle))
            return NvmlDevice(handle, "pci-bus-id", uuid, _is_mig(pynvml, handle))
    raise BackendUnavailable(
        f"cannot match {device} to an NVML device (UUID {ident.uuid or 'unknown'}, PCI bus id "
        f"{ident.pci_bus_id or 'unknown'}); an index lookup could read another GPU, since CUDA_VISIBLE_DEVICES "
        "and CUDA_DEVICE_ORDER renumber CUDA devices but not NVML's"
    )
