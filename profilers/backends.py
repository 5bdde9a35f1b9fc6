"""The registry of measurement backends: name -> backend, for latency, energy and memory.

Callers ask for what is available on a device and skip the rest with its reason (a search on a laptop
without NVML still runs; it just has no energy objective). See `profilers.backend` for the contract.
"""

from __future__ import annotations

from profilers.backend import Availability, Backend
from profilers.energy import ENERGY_BACKENDS
from profilers.latency import LATENCY_BACKENDS
from profilers.memory import MEMORY_BACKENDS
from search_spaces.errors import EspnasError

BACKENDS: dict[str, Backend] = {}

KINDS = ("latency", "energy", "memory")


def register(backend: Backend) -> Backend:
    """Add a backend under its name; a second backend with the same name is a bug."""
    if backend.name in BACKENDS and BACKENDS[backend.name] is not backend:
        raise ValueError(f"a backend named {backend.name!r} is already registered")
    if backend.kind not in KINDS:
        raise ValueError(f"backend kind {backend.kind!r} is not one of {KINDS}")
    BACKENDS[backend.name] = backend
    return backend


for _backend in (*LATENCY_BACKENDS.values(), *ENERGY_BACKENDS, *MEMORY_BACKENDS.values()):
    register(_backend)


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise EspnasError(f"unknown backend {name!r}; valid: {', '.join(sorted(BACKENDS))}") from None


def availability(device: str = "cpu", kind: str | None = None) -> dict[str, Availability]:
    """Every registered backend serving `device` (of `kind`, if given) with whether it can run and why."""
    if kind is not None and kind not in KINDS:
        raise EspnasError(f"unknown backend kind {kind!r}; valid: {', '.join(KINDS)}")
    return {
        name: backend.is_available(device) for name, backend in BACKENDS.items() if kind is None or backend.kind == kind
    }


def available(device: str = "cpu", kind: str | None = None) -> list[Backend]:
    """The backends that can run on `device` now (unavailable ones skipped; see `availability` for why)."""
    return [BACKENDS[name] for name, avail in availability(device, kind).items() if avail]
