"""A fake target for the predictor's measuring code: a clock whose speed drifts with every call (as a shared
machine's load does), units and networks whose true cost is known, and no real runtime loaded."""

from __future__ import annotations

import zlib

import pytest

from profilers.predictor import build as builder
from profilers.predictor import timing
from profilers.predictor.units import decompose

NETWORK_OVERHEAD_S = 0.002  # what a whole network costs beyond its units' sum (hand-over, input conversion)


class DriftingMachine:
    """A fake clock: a step of true cost c seconds advances it by c * speed, and the speed grows by `drift`
    with every step (1x to about 3x over a table of a few dozen units), like a machine whose load climbs."""

    def __init__(self, drift: float = 1e-3, cost_scale: float = 1.0) -> None:
        self.now, self.calls, self.drift, self.cost_scale = 0.0, 0, drift, cost_scale
        self.loaded: list[str] = []

    def read(self) -> float:
        return self.now

    def speed(self) -> float:
        return 1.0 + self.drift * self.calls

    def spend(self, cost_s: float) -> None:
        self.calls += 1
        self.now += cost_s * self.cost_scale * self.speed()

    def step(self, cost_s: float):
        return lambda: self.spend(cost_s)


def unit_cost(key: str) -> float:
    """The true cost (s) of a unit: 0.1-1.1 ms, fixed by its key."""
    return 1e-4 * (1 + (zlib.crc32(key.encode()) % 100) / 10)


def network_cost(config, batch: int = 1, runtime: str = "eager") -> float:
    return sum(n * unit_cost(u.key) for u, n in decompose(config, batch, runtime)) + NETWORK_OVERHEAD_S


@pytest.fixture
def machine(monkeypatch) -> DriftingMachine:
    """Install the fake: the `cpu` and `wall` clocks read it, units and networks load as its steps."""
    m = DriftingMachine()
    monkeypatch.setitem(timing.CLOCKS, "cpu", m.read)
    monkeypatch.setitem(timing.CLOCKS, "wall", m.read)

    def load_unit(unit, runtime, device, **kw):
        m.loaded.append(unit.key)
        return m.step(unit_cost(unit.key))

    def load_network(config, runtime, device, *, batch, **kw):
        m.loaded.append(config.arch_id)
        return m.step(network_cost(config, batch, runtime))

    monkeypatch.setattr(builder, "load_unit", load_unit)
    monkeypatch.setattr(builder, "load_network", load_network)
    return m
