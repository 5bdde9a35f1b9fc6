"""Shared fixtures for the profiler tests: tiny models and a fake power meter with its own clock."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from profilers.power_sources import EnergyCounter, PowerSampler


class TinyNet(nn.Module):
    """A few convs: fast enough that measuring it costs milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


@pytest.fixture
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().eval()


class FakeMeter:
    """A fake clock and power meter: time passes only through `sleep` (idle power) and `work` (busy power).

    The energy counter is refreshed every `tick_s`, like NVML's, so reads between refreshes are stale.
    """

    def __init__(self, idle_w: float = 50.0, busy_w: float = 200.0, tick_s: float = 0.1) -> None:
        self.idle_w, self.busy_w, self.tick_s = idle_w, busy_w, tick_s
        self.t = 0.0
        self.joules = 0.0
        self.counter_mj = 0.0  # as of the last refresh
        self.next_tick = tick_s
        self.power_now = idle_w

    def clock(self) -> float:
        return self.t

    def __deepcopy__(self, memo: dict) -> FakeMeter:
        return self  # a device is shared, not copied, when `prepare` copies a model that refers to it

    def _advance(self, dt: float, watts: float) -> None:
        self.power_now = watts
        end = self.t + dt
        while self.next_tick <= end:
            self.joules += watts * (self.next_tick - self.t)
            self.t = self.next_tick
            self.counter_mj = self.joules * 1000.0
            self.next_tick += self.tick_s
        self.joules += watts * (end - self.t)
        self.t = end

    def sleep(self, dt: float) -> None:
        self._advance(dt, self.idle_w)

    def work(self, dt: float) -> None:
        self._advance(dt, self.busy_w)


class FakeCounter(EnergyCounter):
    name = "fake-counter"

    def __init__(self, meter: FakeMeter) -> None:
        self.meter = meter
        self.update_interval_s = meter.tick_s
        self.closed = False

    def read(self) -> float:
        return self.meter.counter_mj

    def delta_mj(self, start: float, end: float) -> float:
        return end - start

    def telemetry(self) -> dict:
        return {"sm_clock_mhz": 1500, "temperature_c": 55, "power_limit_w": 250.0}

    def close(self) -> None:
        self.closed = True


class FakeSampler(PowerSampler):
    name = "fake-sampler"

    def __init__(self, meter: FakeMeter) -> None:
        self.meter = meter

    def power_w(self) -> float:
        return self.meter.power_now


class MeteredNet(nn.Module):
    """A model whose forward costs `dt` seconds of busy time on the fake meter."""

    def __init__(self, meter: FakeMeter, dt: float) -> None:
        super().__init__()
        self.meter, self.dt = meter, dt
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.meter.work(self.dt)
        return x * self.scale


class SleepNet(nn.Module):
    """Takes a known wall time per forward, and logs its calls (to check interleaving)."""

    def __init__(self, ms: float, log: list | None = None, tag: str = "") -> None:
        super().__init__()
        self.ms, self.log, self.tag = ms, log, tag

    def __deepcopy__(self, memo: dict) -> SleepNet:
        return SleepNet(self.ms, self.log, self.tag)  # `prepare` copies models; the copy logs to the same list

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.log is not None:
            self.log.append(self.tag)
        time.sleep(self.ms / 1000.0)
        return x


@pytest.fixture
def meter() -> FakeMeter:
    return FakeMeter()


@pytest.fixture
def fakes():
    """The fake classes, for tests that need more than one meter or a custom one."""
    import types

    return types.SimpleNamespace(
        FakeMeter=FakeMeter,
        FakeCounter=FakeCounter,
        FakeSampler=FakeSampler,
        MeteredNet=MeteredNet,
        SleepNet=SleepNet,
    )
