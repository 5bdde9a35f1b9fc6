"""Energy arithmetic and the power sources, tested on CPU with a fake meter, fake sysfs and a fake pynvml."""

from __future__ import annotations

import pytest

from profilers import power_sources as ps
from profilers.backend import BackendUnavailable, PowerUnavailable
from profilers.energy import (
    Window,
    counter_window,
    energy_per_image,
    integrate_power,
    measure_energy,
    open_power_source,
    power_available,
    sampling_window,
)
from search_spaces.errors import EspnasError

# ---------------------------------------------------------------- arithmetic


def test_counter_delta_handles_one_wrap():
    assert ps.counter_delta(100, 250) == 150
    assert ps.counter_delta(900, 50, max_range=1000) == 150
    with pytest.raises(BackendUnavailable):
        ps.counter_delta(900, 50)


def test_integrate_power_trapezoid():
    assert integrate_power([0, 1, 2], [10, 10, 30]) == pytest.approx(10 + 20)
    with pytest.raises(EspnasError):
        integrate_power([0], [1])


def test_energy_per_image_gross_and_net():
    busy = Window("busy", duration_s=2.0, energy_mj=400_000.0, iterations=100, images=400)
    gross, net = energy_per_image(busy, idle_power_w=50.0)
    assert gross == pytest.approx(1000.0)
    assert net == pytest.approx((400_000 - 100_000) / 400)
    assert busy.avg_power_w == pytest.approx(200.0)


def test_counter_window_is_exact_on_a_quantised_counter(meter, fakes):
    # 7 ms per unit does not divide the 100 ms refresh, so alignment to refreshes is what keeps this exact.
    def busy():
        meter.work(0.007)
        return 2

    w = counter_window(fakes.FakeCounter(meter), 2.0, busy, kind="busy", clock=meter.clock)
    assert w.aligned and w.duration_s >= 2.0
    assert w.avg_power_w == pytest.approx(200.0, rel=0.01)
    assert w.energy_mj / w.images == pytest.approx(200.0 * 0.007 / 2 * 1000, rel=0.01)


def test_counter_window_reports_a_counter_that_never_moves(fakes):
    meter = fakes.FakeMeter(tick_s=1e9)
    counter = fakes.FakeCounter(meter)
    counter.update_interval_s = 0.01

    def idle():
        meter.sleep(0.05)
        return 0

    w = counter_window(counter, 0.5, idle, kind="idle", clock=meter.clock)
    assert not w.aligned and w.energy_mj == 0


def test_sampling_window_integrates_power(meter, fakes):
    def busy():
        meter.work(0.003)
        return 1

    w = sampling_window(fakes.FakeSampler(meter), 2.0, busy, kind="busy", interval_s=0.01, clock=meter.clock)
    assert w.readings > 100
    assert w.avg_power_w == pytest.approx(200.0, rel=0.01)


# ---------------------------------------------------------------- the whole measurement, fake meter


@pytest.mark.parametrize("source_name", ["FakeCounter", "FakeSampler"])
def test_measure_energy_end_to_end(meter, fakes, source_name):
    model = fakes.MeteredNet(meter, dt=0.01)
    source = getattr(fakes, source_name)(meter)
    res = measure_energy(
        model,
        (3, 4, 4),
        "cpu",
        source=source,
        batch_size=4,
        repeats=3,
        clock=meter.clock,
        sleep=meter.sleep,
        warmup_budget_s=0.2,
    )
    # busy 200 W for 10 ms per batch of 4 -> 500 mJ/image gross; idle 50 W -> 375 mJ/image net.
    assert res.energy_mj_per_image == pytest.approx(500.0, rel=0.02)
    assert res.energy_mj_per_image_net == pytest.approx(375.0, rel=0.02)
    assert res.avg_power_w == pytest.approx(200.0, rel=0.02)
    assert res.idle_power_w == pytest.approx(50.0, rel=0.02)
    assert res.latency_ms == pytest.approx(10.0, rel=0.02)
    assert res.method == source.method and res.source == source.name
    assert [w["kind"] for w in res.windows] == ["idle", "busy", "busy", "busy"]  # one idle, then the busy ones
    assert all(w["duration_s"] >= 2.0 for w in res.windows)
    assert res.spread < 0.02
    if source_name == "FakeCounter":
        assert res.temperature_c == 55 and res.power_limit_w == 250.0 and res.clocks == {"sm_clock_mhz": 1500}
        assert source.closed
    assert res.to_dict()["net_power_w"] == pytest.approx(150.0, rel=0.03)


def test_short_window_is_refused(meter, fakes):
    with pytest.raises(EspnasError, match="too short"):
        measure_energy(fakes.MeteredNet(meter, 0.01), (3, 4, 4), "cpu", source=fakes.FakeCounter(meter), window_s=0.5)


def test_energy_on_this_machine_is_a_clean_error(tiny):
    avail = power_available("cpu")
    if avail:
        pytest.skip(f"this machine has a power source: {avail.reason}")
    assert "no power source" in avail.reason
    with pytest.raises(PowerUnavailable) as info:
        measure_energy(tiny, (3, 8, 8), "cpu")
    assert "\n" not in str(info.value)
    with pytest.raises(PowerUnavailable):
        open_power_source("cpu")


# ---------------------------------------------------------------- RAPL on a fake powercap tree


def _rapl_tree(root, values, max_range=1000):
    for i, value in enumerate(values):
        d = root / f"intel-rapl:{i}"
        d.mkdir(parents=True)
        (d / "name").write_text(f"package-{i}\n")
        (d / "energy_uj").write_text(f"{value}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
        sub = root / f"intel-rapl:{i}:0"  # a sub-domain (core): part of the package, must not be added
        sub.mkdir()
        (sub / "energy_uj").write_text("5\n")
    return root


def test_rapl_reads_packages_and_unwraps(tmp_path):
    root = _rapl_tree(tmp_path, [900, 100])
    assert ps.probe_rapl("cpu", root)
    counter = ps.open_rapl("cpu", root)
    start = counter.read()
    (root / "intel-rapl:0" / "energy_uj").write_text("50\n")  # wrapped: 900 -> 1000 -> 50
    (root / "intel-rapl:1" / "energy_uj").write_text("300\n")
    assert counter.delta_mj(start, counter.read()) == pytest.approx((150 + 200) / 1000.0)


def test_rapl_unavailable_reasons(tmp_path):
    assert "no " in ps.probe_rapl("cpu", tmp_path / "missing").reason
    assert not ps.probe_rapl("cpu", tmp_path)
    assert not ps.probe_rapl("cuda", tmp_path)
    with pytest.raises(BackendUnavailable, match="unavailable"):
        ps.open_rapl("cpu", tmp_path)


# ---------------------------------------------------------------- Jetson INA rails on a fake sysfs


def test_jetson_iio_layout_prefers_module_input(tmp_path):
    dev = tmp_path / "bus/i2c/drivers/ina3221x/0-0040/iio:device0"
    dev.mkdir(parents=True)
    for idx, (name, mw) in enumerate([("VDD_IN", 5000), ("VDD_SYS_GPU", 1500), ("VDD_SYS_CPU", 800)]):
        (dev / f"rail_name_{idx}").write_text(name)
        (dev / f"in_power{idx}_input").write_text(str(mw))
    assert ps.probe_jetson("cuda", tmp_path)
    src = ps.open_jetson("cuda", tmp_path)
    assert src.power_w() == pytest.approx(5.0)
    assert ps.open_jetson("cuda", tmp_path, rail="VDD_SYS_GPU").power_w() == pytest.approx(1.5)
    with pytest.raises(BackendUnavailable, match="valid"):
        ps.open_jetson("cuda", tmp_path, rail="VDD_NOPE")


def test_jetson_hwmon_layout_multiplies_volts_and_amps(tmp_path):
    dev = tmp_path / "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    dev.mkdir(parents=True)
    for idx, (name, mv, ma) in enumerate([("VDD_GPU_SOC", 5000, 400), ("VDD_CPU_CV", 5000, 200), ("NC", 0, 0)], 1):
        (dev / f"in{idx}_label").write_text(name)
        (dev / f"in{idx}_input").write_text(str(mv))
        (dev / f"curr{idx}_input").write_text(str(ma))
    rails = ps.jetson_rails(tmp_path)
    assert [r.name for r in rails] == ["VDD_GPU_SOC", "VDD_CPU_CV"]
    assert ps.open_jetson("cuda", tmp_path).power_w() == pytest.approx(2.0 + 1.0)  # no input rail: sum


def test_jetson_absent(tmp_path):
    assert "not a Jetson" in ps.probe_jetson("cuda", tmp_path).reason


def test_sysfs_numbers_tolerate_whitespace(tmp_path):
    path = tmp_path / "energy_uj"
    path.write_text(" 12345\n")
    assert ps._read_number(path) == 12345.0


def test_power_available_names_the_source_that_opened(monkeypatch):
    from profilers import energy

    class Fake(energy._EnergyBackend):
        name = "energy-fake"
        devices = ("cpu",)
        _probe = staticmethod(lambda device: ps.Availability(True, "fake rail"))
        open = staticmethod(lambda device: "opened")

    monkeypatch.setattr(energy, "ENERGY_BACKENDS", (Fake(),))
    assert power_available("cpu").reason == "energy-fake: fake rail"
    assert open_power_source("cpu") == "opened"
