"""Latency and energy of one profile describe one execution: the CUDA-graph flag reaches both."""

from __future__ import annotations

import pytest

from profilers import profile as prof
from profilers.backend import Availability
from profilers.energy import EnergyResult
from profilers.latency import LatencyResult


@pytest.mark.parametrize("graph", [False, True])
def test_profile_passes_one_execution_mode_to_latency_and_energy(monkeypatch, graph):
    seen: dict[str, bool] = {}

    def latency(spec, shape, device, *, cuda_graph, **kw):
        seen["latency"] = cuda_graph
        return LatencyResult(median_ms=1.0, iqr_ms=0.0, ci95_ms=(1.0, 1.0), samples_ms=[1.0], n_samples=1, backend="f")

    def energy(spec, shape, device, *, cuda_graph, **kw):
        seen["energy"] = cuda_graph
        return EnergyResult(5.0, 3.0, 100.0, 50.0, "energy-counter", "fake", 2.0, 3, 1)

    monkeypatch.setattr(prof, "measure_latency", latency)
    monkeypatch.setattr(prof, "measure_energy", energy)
    monkeypatch.setattr(prof, "power_available", lambda device: Availability(True, "fake"))
    prof.profile(["espnetv2-0.5"], device="cuda", energy=True, cuda_graph=graph)
    assert seen == {"latency": graph, "energy": graph}


def test_latency_and_energy_default_to_the_same_execution():
    import inspect

    from profilers.energy import measure_energy
    from profilers.latency import measure_latency

    defaults = [inspect.signature(f).parameters["cuda_graph"].default for f in (measure_latency, measure_energy)]
    assert defaults == [False, False]  # energy defaulted to graphs while latency defaulted to eager
