"""The real latency and energy code against the GPU simulator, scored by the simulator's ground truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from profilers.energy import measure_energy
from profilers.gpusim import GpuSim, GpuSpec, SimModel
from profilers.latency import measure_latency

SHAPE = (3, 4, 4)


def _energy(gpu: GpuSim, model: SimModel, **kwargs):
    kwargs.setdefault("source", gpu.energy_counter())
    return measure_energy(gpu.net(model), SHAPE, "cpu", timing=gpu.timing(), sleep=gpu.sleep, **kwargs)


# ---------------------------------------------------------------- the simulator itself


def test_ground_truth_is_the_hand_derived_figure():
    gpu = GpuSim(GpuSpec(idle_w=60, peak_w=400, graph_gap_s=0.3e-6, graph_launch_s=8e-6))
    m = SimModel("m", fixed_ms=1.0, kernels=10, intensity=0.5)
    # Device-bound: period 1 ms + 10 gaps of 0.3 us; idle 60 W over it plus 340 W * 0.5 over the 1 ms busy.
    gross, net = gpu.true_energy_mj_per_image(m, 2, graph=True)
    assert gross == pytest.approx((60 * 1.003e-3 + 170 * 1e-3) * 1000 / 2)
    assert net == pytest.approx(170 * 1e-3 * 1000 / 2)
    assert gpu.true_latency_ms(m, 2, graph=True) == pytest.approx(1.0 + 9 * 0.3e-3)


def test_power_lags_the_load_and_nvml_readings_lag_more():
    spec = GpuSpec(idle_w=50, peak_w=250, tau_rise_s=0.2, tau_fall_s=2.0, counter_period_s=0.1)
    gpu = GpuSim(replace(spec, launch_s=0.0, nvml_read_s=0.0))  # no host costs: the hand figure is exact
    big = SimModel("big", fixed_ms=1000.0, kernels=1, intensity=1.0)
    gpu.launch_eager(big, 1)  # one second of full load, queued: the host returns at once
    assert gpu.clock() < 1e-3 and gpu.dev_free >= 1.0
    c0 = gpu.counter_mj()
    gpu.sleep(0.03)
    assert gpu.counter_mj() == c0  # the counter is stale between refreshes
    gpu.sleep(0.47)
    e = gpu.energy_j()
    # True energy of a first-order rise from 50 to 250 W (tau 0.2 s) over 0.5 s, by hand:
    assert e == pytest.approx(250 * 0.5 - 200 * 0.2 * (1 - np.exp(-0.5 / 0.2)), rel=1e-6)
    # NVML's 1 s average still holds half a second of (initial) idle: well below true power.
    assert gpu.power_reading_w() < 250 * 0.6
    gpu.synchronize()
    gpu.sleep(1.0)  # power decays with tau 2 s: still far above idle a second later
    assert gpu.power_reading_w() > 50 + 0.3 * 200


# ---------------------------------------------------------------- latency


@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("batch", [1, 64])
def test_latency_is_device_time_within_2_percent(graph, batch):
    # 100 kernels of ~2 us at batch 1: launching (5 us each) is slower than running, as for ESPNetv2 eager.
    gpu = GpuSim()
    m = SimModel("m", fixed_ms=0.2, per_image_ms=0.02, kernels=100)
    res = measure_latency(
        gpu.net(m), SHAPE, "cpu", batch_size=batch, cuda_graph=graph, timing=gpu.timing(), time_budget_s=0.2
    )
    assert res.median_ms == pytest.approx(gpu.true_latency_ms(m, batch, graph=graph), rel=0.02)
    assert res.options["execution"] == ("cuda-graph" if graph else "eager")


# ---------------------------------------------------------------- energy


def test_energy_per_image_within_3_percent_and_the_device_is_kept_busy():
    gpu = GpuSim()
    m = SimModel("small", fixed_ms=0.1, kernels=20, intensity=0.5)
    res = _energy(gpu, m, cuda_graph=True, repeats=2)
    gross, net = gpu.true_energy_mj_per_image(m, 1, graph=True)
    assert res.energy_mj_per_image == pytest.approx(gross, rel=0.03)
    assert res.energy_mj_per_image_net == pytest.approx(net, rel=0.03)
    # Launches queued: a busy window's time per batch is the device's back-to-back period, not a
    # launch-sync-launch cycle (which left the device idle between batches).
    period_ms = 0.1 + 20 * gpu.spec.graph_gap_s * 1000
    assert res.latency_ms == pytest.approx(period_ms, rel=0.02)
    assert res.execution == "cuda-graph" and "no per-step synchronisation" in res.protocol["launches"]


def test_idle_is_measured_after_the_device_has_cooled():
    gpu = GpuSim()
    hot = SimModel("hot", fixed_ms=100.0, kernels=50, intensity=0.9)
    for _ in range(40):  # four seconds near full power, just before the measurement
        gpu.launch_graph([(hot, 1)])
    gpu.synchronize()
    m = SimModel("small", fixed_ms=1.0, kernels=40, intensity=0.3)
    res = _energy(gpu, m, cuda_graph=True, repeats=2)
    _, net = gpu.true_energy_mj_per_image(m, 1, graph=True)
    assert res.idle_power_w == pytest.approx(gpu.spec.idle_w, rel=0.01)
    assert 0 < res.energy_mj_per_image_net == pytest.approx(net, rel=0.03)
    assert "converged" in res.protocol["idle"]


def test_power_sampling_fallback_reads_a_1s_average_and_still_scores():
    gpu = GpuSim()
    m = SimModel("mid", fixed_ms=2.0, kernels=60, intensity=0.7)
    res = _energy(gpu, m, source=gpu.power_sampler(), repeats=2)
    gross, net = gpu.true_energy_mj_per_image(m, 1, graph=False)
    assert res.method == "power-sampling"
    assert res.energy_mj_per_image == pytest.approx(gross, rel=0.03)
    assert res.energy_mj_per_image_net == pytest.approx(net, rel=0.03)


def test_a_time_budget_bounds_the_busy_windows_and_a_given_idle_skips_the_settle():
    gpu = GpuSim()
    m = SimModel("mid", fixed_ms=2.0, kernels=60, intensity=0.7)
    t0 = gpu.clock()
    res = _energy(gpu, m, repeats=5, idle_power_w=60.0, time_budget_s=4.0)
    assert res.repeats < 5 and res.idle_power_w == 60.0 and res.protocol["idle"] == "given by the caller"
    assert gpu.clock() - t0 < 4.0 + 2.5  # budget plus warm-up (1 s) and the model's preparation
