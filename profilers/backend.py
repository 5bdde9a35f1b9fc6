"""The measurement-backend interface: a name, `is_available()` with a reason, and `measure()`.

A backend measures one quantity (latency, energy, memory) one way (host clock on CPU, CUDA events, NVML,
RAPL, ...). The contract, which tests/profilers/test_backend_contract.py checks for every registered backend:

- `name` is a short unique string; `kind` is "latency", "energy" or "memory"; `devices` says which device
  types ("cpu", "cuda") it serves.
- `is_available(device)` never raises: it returns `Availability(ok, reason)`, where `reason` says why not
  (or what it will use) in a few words. It is cheap enough to call before every measurement. Subclasses
  implement `_probe(device)`, which is asked only about device types the backend serves.
- `measure(model_or_spec, input_shape, device, **options)` returns a result object with `to_dict()`, or
  raises `BackendUnavailable` (an `EspnasError`, one line, with the reason) when the backend is unavailable,
  so that a search can skip it instead of dying deep inside a trial.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from search_spaces.errors import EspnasError


class BackendUnavailable(EspnasError):
    """A measurement was asked of a backend that cannot run here; the message says why."""


class PowerUnavailable(BackendUnavailable):
    """Energy or power was asked for on a device with no power source we can read."""


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run, and why (not). Truthy when `ok`; unpacks as `ok, reason`."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok

    def __iter__(self) -> Iterator[Any]:
        return iter((self.ok, self.reason))

    def __str__(self) -> str:
        return self.reason if self.ok else f"unavailable: {self.reason}"


def device_type(device: str) -> str:
    """'cpu' or 'cuda' from a device string ('cpu', 'cuda', 'cuda:1'); a one-line error otherwise."""
    kind = str(device).split(":", 1)[0]
    if kind not in ("cpu", "cuda"):
        raise EspnasError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N")
    if kind == "cuda" and ":" in str(device):
        index = str(device).split(":", 1)[1]
        if not index.isdigit():
            raise EspnasError(f"bad CUDA device {device!r}; valid: cuda or cuda:N with N a GPU index")
    return kind


def cuda_index(device: str) -> int:
    """The GPU index of 'cuda:N'; plain 'cuda' is torch's current device, as `torch.device("cuda")` means.

    Every profiler resolves plain 'cuda' here, so the device timed, the device whose power is read and the
    device in the fingerprint are one device.
    """
    if ":" in str(device):
        return int(str(device).split(":", 1)[1])
    import torch  # late: the interface itself needs no torch

    return int(torch.cuda.current_device()) if torch.cuda.is_available() else 0


def cuda_availability(device: str) -> Availability:
    """Whether torch can run on CUDA device `device`; the reason names the GPU or says what is missing."""
    import torch  # late: the interface itself needs no torch

    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (CPU-only build)"
        return Availability(False, f"torch.cuda.is_available() is False (torch CUDA build: {build})")
    index = cuda_index(device)
    if index >= torch.cuda.device_count():
        return Availability(False, f"no {device}: {torch.cuda.device_count()} CUDA device(s) visible")
    return Availability(True, torch.cuda.get_device_name(index))


class Backend(ABC):
    """One way of measuring one quantity. Subclasses set `name`, `kind`, `devices`, `_probe` and `_measure`."""

    name: ClassVar[str]
    kind: ClassVar[str]
    devices: ClassVar[tuple[str, ...]]
    #: What `require` (and so `measure`) raises where unavailable.
    unavailable_error: ClassVar[type[BackendUnavailable]] = BackendUnavailable

    def is_available(self, device: str = "cpu") -> Availability:
        """Whether `measure` can run on `device`, with a reason; never raises (a broken driver is a reason)."""
        serves = self.serves(device)
        if not serves:
            return serves
        try:
            return self._probe(device)
        except Exception as err:
            return Availability(False, f"{type(err).__name__}: {err}")

    @abstractmethod
    def _probe(self, device: str) -> Availability:
        """Availability on `device`, whose type this backend serves; may raise (`is_available` catches)."""

    def measure(
        self, model_or_spec: Any, input_shape: Sequence[int] | None, device: str | None = None, **options: Any
    ) -> Any:
        """Measure on `device` (default: the first type served) and return a result with `to_dict()`;
        `BackendUnavailable` where unavailable."""
        device = device or self.devices[0]
        self.require(device)
        return self._measure(model_or_spec, input_shape, device, **options)

    @abstractmethod
    def _measure(self, model_or_spec: Any, input_shape: Sequence[int] | None, device: str, **options: Any) -> Any:
        """The measurement itself, on a device already checked to be available."""

    def require(self, device: str) -> None:
        """Raise `unavailable_error` (one line) unless available on `device`."""
        avail = self.is_available(device)
        if not avail.ok:
            raise self.unavailable_error(f"backend {self.name!r} on {device}: unavailable: {avail.reason}")

    def serves(self, device: str) -> Availability:
        """Whether `device`'s type is one this backend serves (a helper for `is_available`)."""
        try:
            kind = device_type(device)
        except EspnasError as err:
            return Availability(False, str(err))
        if kind not in self.devices:
            return Availability(False, f"{self.name} measures on {', '.join(self.devices)}, not {device}")
        return Availability(True, kind)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.kind})>"
