"""What a trial measures: latency and energy in one execution mode, net energy stored, idle measured once,
memory as the same quantity on every device."""

from __future__ import annotations

import json
import types

import pytest

from nas.search import trial
from search_spaces import EESPConfig


@pytest.fixture
def fake_profilers(monkeypatch):
    """measure_latency/energy/peak_memory replaced by recorders of their arguments (no GPU here)."""
    calls: dict[str, list[dict]] = {"latency": [], "energy": [], "memory": []}
    capture_ok = {"value": True}

    def latency(config, shape, **kw):
        calls["latency"].append(kw)
        graph = kw.get("cuda_graph") and capture_ok["value"]
        return types.SimpleNamespace(
            median_ms=1.0,
            iqr_ms=0.1,
            ci95_ms=(0.9, 1.1),
            fingerprint={"device": kw["device"]},
            options={"execution": "cuda-graph" if graph else "eager"},
        )

    def energy(config, shape, **kw):
        calls["energy"].append(kw)
        return types.SimpleNamespace(
            energy_mj_per_image=5.0,
            energy_mj_per_image_net=3.0,
            execution="cuda-graph" if kw["cuda_graph"] else "eager",
            method="energy-counter",
            source="nvml",
            idle_power_w=kw["idle_power_w"] or 61.0,
            avg_power_w=150.0,
            protocol={"idle": "x", "idle_settle_powers_w": [1.0]},
        )

    def memory(config, shape, **kw):
        calls["memory"].append(kw)
        return types.SimpleNamespace(peak_mb=900.0, tensor_peak_mb=12.5, tensor_method="tensor", method="rss")

    import profilers.energy
    import profilers.latency
    import profilers.memory

    monkeypatch.setattr(profilers.latency, "measure_latency", latency)
    monkeypatch.setattr(profilers.energy, "measure_energy", energy)
    monkeypatch.setattr(profilers.memory, "measure_peak_memory", memory)
    monkeypatch.setattr(trial, "_IDLE", {})
    return calls, capture_ok


CONFIG = EESPConfig.from_scale(0.5).to_json()
METRICS = ("latency_ms", "energy_mj", "peak_memory_mb")


@pytest.mark.parametrize("capture", [True, False])
def test_latency_and_energy_run_in_one_execution_mode(fake_profilers, capture):
    calls, capture_ok = fake_profilers
    capture_ok["value"] = capture
    out = trial.measure_config(CONFIG, METRICS, "cuda", budget_s=1.0, batch=1, threads=1)
    lat, en = calls["latency"][0], calls["energy"][0]
    assert lat["cuda_graph"] is True and lat["eager_if_capture_fails"] is True
    # Energy replays the graph latency captured, or runs eagerly where latency had to: never the other one.
    assert en["cuda_graph"] is capture and en["eager_if_capture_fails"] is False
    assert out["fingerprint"]["execution"] == ("cuda-graph" if capture else "eager")
    assert en["time_budget_s"] == 1.0


def test_net_energy_is_stored_and_idle_is_measured_once_per_device(fake_profilers):
    calls, _ = fake_profilers
    first = trial.measure_config(CONFIG, METRICS, "cuda", budget_s=1.0, batch=1, threads=1)
    trial.measure_config(CONFIG, METRICS, "cuda", budget_s=1.0, batch=1, threads=1)
    assert first["energy_mj"] == 5.0 and first["energy_mj_net"] == 3.0
    assert first["fingerprint"]["energy"]["method"] == "energy-counter"
    assert "idle_settle_powers_w" not in first["fingerprint"]["energy"]["protocol"]
    assert [c["idle_power_w"] for c in calls["energy"]] == [None, 61.0]
    json.dumps(first["fingerprint"])  # stored as JSON in the run


def test_memory_is_the_device_independent_figure(fake_profilers):
    out = trial.measure_config(CONFIG, ("peak_memory_mb",), "cpu", budget_s=1.0, batch=1, threads=1)
    assert out["peak_memory_mb"] == 12.5  # tensor bytes, not the process RSS (900 MB)
    assert out["fingerprint"]["memory"] == {"method": "tensor", "device_peak_mb": 900.0, "device_method": "rss"}


def test_cpu_trials_are_eager(fake_profilers):
    calls, _ = fake_profilers
    trial.measure_config(CONFIG, ("latency_ms", "energy_mj"), "cpu", budget_s=1.0, batch=1, threads=1)
    assert calls["latency"][0]["cuda_graph"] is False and calls["energy"][0]["cuda_graph"] is False
