"""Timing against a reference (profilers.predictor.timing) and calibration to a new target: on a fake machine
whose speed drifts while the table is built, the table must still hold together."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from nas.search.predicted import space_configs
from profilers.predictor import LatencyTable, PredictorError
from profilers.predictor import build as builder
from profilers.predictor.timing import time_relative
from tests.predictor.conftest import NETWORK_OVERHEAD_S, DriftingMachine, network_cost, unit_cost

CONFIGS = space_configs(None, 30, seed=3)


def test_a_ratio_to_the_reference_does_not_drift_with_the_machine():
    m = DriftingMachine(drift=0.01)  # 1.5x slower after 50 steps
    early = time_relative(m.step(0.003), m.step(0.001), rounds=5, warmup=0, clock=m.read)
    m.calls += 200  # much later, on a machine three times slower
    late = time_relative(m.step(0.003), m.step(0.001), rounds=5, warmup=0, clock=m.read)
    assert late.ms > 2 * early.ms  # the absolute times moved with the load ...
    assert early.ratio == pytest.approx(3.0, rel=1e-3) and late.ratio == pytest.approx(3.0, rel=1e-3)  # not these


def test_time_relative_refuses_no_rounds():
    with pytest.raises(PredictorError, match="rounds 0 is invalid"):
        time_relative(lambda: None, lambda: None, rounds=0)


def test_a_table_built_while_the_machine_slows_down_is_consistent(tmp_path, machine):
    """Units measured at 1x and at 3x speed land on one scale: every entry is its true cost times one
    constant, and the fitted model predicts networks the table never saw."""
    fit, held = CONFIGS[:8], CONFIGS[8:20]
    table = builder.build_table(CONFIGS, fit, "eager", path=tmp_path / "t.json", unit_rounds=3, network_rounds=3)
    assert machine.speed() > 2.5  # the fake really drifted during the build
    scale = [e["median_ms"] / (1e3 * unit_cost(k)) for k, e in table.entries.items()]
    assert max(scale) / min(scale) < 1.01
    assert table.reference["clock"] == "cpu" and table.reference["ms"] > 0
    for cfg in held:  # predicted in the reference's ms: the true cost on the table's scale
        want = 1e3 * network_cost(cfg) * scale[0]
        assert table.predict(cfg).latency_ms == pytest.approx(want, rel=0.01)
    assert table.overhead.intercept_ms == pytest.approx(1e3 * NETWORK_OVERHEAD_S * scale[0], rel=0.05)


def test_the_saved_table_keeps_ratios_and_one_reference_time(tmp_path, machine):
    table = builder.build_table(CONFIGS[:2], CONFIGS[:1], "eager", path=tmp_path / "t.json", unit_rounds=2)
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["schema"] == "espnas-latency-table/2" and saved["reference"]["ms"] == table.reference["ms"]
    for e in saved["entries"].values():
        assert e["median_ms"] == pytest.approx(e["ratio"] * saved["reference"]["ms"])


def _source(tmp_path, **kw) -> LatencyTable:
    return builder.build_table(CONFIGS, CONFIGS[:6], "eager", path=tmp_path / "src.json", unit_rounds=2, **kw)


def test_calibration_refits_the_overhead_on_the_new_target(tmp_path, machine):
    source = _source(tmp_path)
    machine.cost_scale = 2.0  # the "new device": everything twice as slow
    machine.calls = 0
    out = tmp_path / "new.json"
    table = builder.calibrate_table(source, CONFIGS[20:28], "eager", threads=2, clock="cpu", path=out, rounds=3)
    assert table.path == out and LatencyTable.load(out).overhead.source.startswith("calibrated from")
    assert table.target["threads"] == 2 and source.target["threads"] == 1  # this target, not the source's
    assert table.build["calibrated_from"]["runtime"] == "eager"
    ref_scale = table.reference["ms"] / (2e3 * unit_cost(table.reference["key"]))
    for cfg in CONFIGS[10:20]:  # new configs, predicted on the new target's scale
        want = 2e3 * network_cost(cfg) * ref_scale
        assert table.predict(cfg).latency_ms == pytest.approx(want, rel=0.02)
    assert LatencyTable.load(tmp_path / "src.json").overhead.source == "build"  # the source is untouched


def test_calibration_refuses_what_it_cannot_do(tmp_path, machine):
    source = _source(tmp_path)
    with pytest.raises(PredictorError, match="overwrite the source table"):
        builder.calibrate_table(source, CONFIGS[:2], "eager", path=tmp_path / "src.json")
    outside = CONFIGS[0].replace(input_size=(96, 96))  # shapes the table never saw
    before = len(machine.loaded)
    with pytest.raises(PredictorError, match="lacks units of"):
        builder.calibrate_table(source, [outside], "eager", path=tmp_path / "x.json")
    assert len(machine.loaded) == before  # refused before anything was measured
    with pytest.raises(PredictorError, match="at least one"):
        builder.calibrate_table(source, [], "eager", path=tmp_path / "x.json")


def test_cli_calibrate(tmp_path, monkeypatch, capsys, machine):
    monkeypatch.setattr("nas.cli.predictor.DEFAULT_UNIT_CONFIGS", 60)
    monkeypatch.setattr("nas.cli.predictor.CALIBRATE_SEED_OFFSET", 0)  # calibrate on configs the small table has
    build = ["predictor", "build", "--dir", str(tmp_path), "--fit", "4", "--unit-rounds", "2", "--network-rounds", "2"]
    assert main([*build, "--json"]) == 0
    src = json.loads(capsys.readouterr().out)["path"]
    cal = ["predictor", "calibrate", src, "--dir", str(tmp_path), "--network-rounds", "2"]
    assert main([*cal, "--configs", "3", "--threads", "2", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["networks"] == 3 and got["target"]["threads"] == 2 and got["path"] != src
    assert got["overhead"]["source"].startswith("calibrated from")
    assert main(["predictor", "list", "--dir", str(tmp_path)]) == 0
    assert "calibrated from eager batch 1" in capsys.readouterr().out
    spec = CONFIGS[0].to_compact()
    assert main(["count", spec, "--predict", "--table", got["path"], "--predict-threads", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predicted_latency"]["flag"] is None  # it serves the new target
    with pytest.raises(SystemExit):
        main([*cal, "--configs", "0"])
    assert "--configs: '0' is invalid; valid: a positive integer" in capsys.readouterr().err
    assert main(["predictor", "calibrate", str(tmp_path / "nope.json"), "--configs", "2"]) == 2
    assert "no latency table at" in capsys.readouterr().err
    assert main([*cal, "--configs", "2", "--out", str(tmp_path / "no" / "t.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*cal, "--configs", "2", "--runtime", "tflite"]) == 2
    assert "unknown runtime 'tflite'" in capsys.readouterr().err
