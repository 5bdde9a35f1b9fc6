"""How many CPU threads torch gets, chosen once for every command that computes, and recorded.

Why not torch's default: torch starts one intra-op thread per core. On a shared machine those threads wait for
each other behind whatever else runs, and a forward pass can take ten times longer than with one thread (see
README.md, "On a shared machine"). So:

- measurements (latency, energy, memory) default to ONE thread: stable under contention and comparable across
  machines; the count is in every record's fingerprint;
- training defaults to the cores that are free now: the usable cores minus the 1-minute load average
  (rounded), at least one.

`--threads N` (or ESPNAS_THREADS=N) overrides both. The choice comes with a reason, which commands print.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from search_spaces.errors import EspnasError

ENV_VAR = "ESPNAS_THREADS"
MEASURE_THREADS = 1
Purpose = Literal["measure", "train"]


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why it was chosen (printed and recorded next to results)."""

    threads: int
    reason: str

    def __str__(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.reason})"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores(load: float | None = None, cores: int | None = None) -> int:
    """Usable cores minus the 1-minute load average (rounded to the nearest whole core), at least 1."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, cores - math.floor(load + 0.5)))


def check_threads(threads: int | None, flag: str = "--threads") -> int | None:
    """`threads` if it is None or a positive integer; else the one-line EspnasError."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise EspnasError(f"{flag} {threads} is invalid; valid: a positive integer (1 is steadiest when shared)")
    return threads


def choose_threads(requested: int | None = None, purpose: Purpose = "measure") -> ThreadChoice:
    """The thread count for `purpose`: `requested`, else $ESPNAS_THREADS, else the default described above."""
    if check_threads(requested) is not None:
        return ThreadChoice(requested, "--threads")  # type: ignore[arg-type]
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise EspnasError(f"{ENV_VAR}={env!r} is invalid; valid: a positive integer")
        return ThreadChoice(value, f"${ENV_VAR}")
    if purpose == "measure":
        return ThreadChoice(MEASURE_THREADS, "default for measuring: steady on a shared machine")
    if purpose == "train":
        cores = usable_cores()
        free = free_cores(cores=cores)
        return ThreadChoice(free, f"free cores now: {cores} usable, load {_load():.1f}")
    raise EspnasError(f"thread purpose {purpose!r} is invalid; valid: measure, train")


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


@contextlib.contextmanager
def using_threads(threads: int) -> Iterator[int]:
    """torch's intra-op thread count fixed to `threads` for the duration (restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(check_threads(threads) or before)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


__all__ = [
    "ENV_VAR",
    "MEASURE_THREADS",
    "ThreadChoice",
    "check_threads",
    "choose_threads",
    "free_cores",
    "usable_cores",
    "using_threads",
]
