"""The Figure-5 comparison: rows, intervals, skipped baselines and the command."""

from __future__ import annotations

import json
import types

import pytest

from profilers import figure5 as f5
from profilers.backend import Availability


def _fake_latency(model, shape, device, *, batch_size, **kw):
    ms = {"a": 2.0, "b": 3.0}[model] * batch_size
    return types.SimpleNamespace(
        median_ms=ms, ci95_ms=(ms * 0.9, ms * 1.1), options={"execution": "eager"}, fingerprint={"device_name": "G"}
    )


def _fake_energy(model, shape, device, *, batch_size, **kw):
    # Three busy windows of 2 s with 100, 110, 120 W, one image per mJ-unit: intervals by hand below.
    busy = [{"kind": "busy", "energy_mj": 1000.0 * w * 2, "images": 200.0, "duration_s": 2.0} for w in (100, 110, 120)]
    return types.SimpleNamespace(
        windows=[{"kind": "idle"}, *busy],
        avg_power_w=110.0,
        idle_power_w=50.0,
        energy_mj_per_image=1100.0,
        energy_mj_per_image_net=600.0,
        method="energy-counter",
    )


def test_rows_carry_latency_power_and_energy_with_intervals():
    fig = f5.figure5(
        "cuda",
        models=["a", "b"],
        batch_sizes=[1, 4],
        measure_latency=_fake_latency,
        measure_energy=_fake_energy,
        power_available=lambda device: Availability(True, "fake"),
    )
    assert [(r["model"], r["batch_size"]) for r in fig.rows] == [("a", 1), ("a", 4), ("b", 1), ("b", 4)]
    row = fig.rows[1]
    assert row["latency_ms"] == 8.0 and row["latency_per_image_ms"] == 2.0 and row["latency_ci95"] == [7.2, 8.8]
    # Power 100/110/120 W: mean 110, sd 10, t(0.975, 2) = 4.303 -> 110 +- 24.84.
    lo, hi = row["power_ci95"]
    assert lo == pytest.approx(110 - 4.3027 * 10 / 3**0.5, rel=1e-4) and hi == pytest.approx(110 + 24.842, rel=1e-4)
    assert row["energy_ci95"][0] < 1100 < row["energy_ci95"][1] and row["energy_mj_per_image_net"] == 600.0
    assert "| a | 4 | 8.000 [7.200, 8.800] |" in f5.markdown_table(fig)


def test_no_power_source_means_latency_only_with_the_reason():
    fig = f5.figure5(
        "cpu",
        models=["a"],
        batch_sizes=[1],
        measure_latency=_fake_latency,
        power_available=lambda device: Availability(False, "no RAPL"),
    )
    assert "power_w" not in fig.rows[0] and "no RAPL" in fig.energy_note


def test_baselines_are_skipped_by_name_where_torchvision_does_not_import(monkeypatch):
    def broken(name):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(f5.importlib, "import_module", broken)
    found, skipped = f5.baselines_available()
    assert found == [] and set(skipped) == set(f5.BASELINES)
    assert all("torchvision does not import here (RuntimeError: operator" in r for r in skipped.values())


def test_command_refuses_a_bad_budget_in_one_line(capsys):
    from nas.cli import main

    assert main(["figure5", "--device", "cpu", "--time-budget", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--time-budget 0.0 is invalid; valid: a positive number" in err


@pytest.mark.slow  # builds ESPNetv2 at 224x224 and draws a plot: ~15 s on a busy 2-core machine
def test_command_measures_and_writes_the_report(tmp_path, capsys):
    from nas.cli import main

    out = tmp_path / "fig5.json"
    argv = ["figure5", "--device", "cpu", "--models", "espnetv2-0.5", "--batch-sizes", "1,2", "--no-energy"]
    assert main([*argv, "--time-budget", "0.1", "--json", "--out", str(out), "--plot", str(tmp_path / "f.png")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["batch_size"] for r in rows] == [1, 2] and all(r["latency_ms"] > 0 for r in rows)
    assert json.loads(out.read_text())["settings"]["energy"] is False and (tmp_path / "f.png").stat().st_size > 0
