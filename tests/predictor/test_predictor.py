"""The latency predictor (profilers.predictor): decomposition into units, the table model, foreign tables,
a resumable build, and the CLI around it."""

from __future__ import annotations

import json
import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from nas.cli import main
from nas.search.predicted import space_configs
from profilers.counting import count
from profilers.predictor import LatencyTable, Overhead, PredictorError, decompose, fit_overhead
from profilers.predictor import build as builder
from profilers.predictor.table import target_of
from profilers.predictor.units import build_unit, unit_keys
from search_spaces import EESPConfig

CONFIGS = space_configs(None, 40, seed=3)


def _conv_linear_macs(module: nn.Module, inputs) -> int:
    """Conv and Linear multiply-adds by hooks: out elements x (in channels / groups) x kernel area."""
    total = 0

    def hook(m, _inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    with torch.inference_mode():
        module(*inputs)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("runtime", ["eager", "deploy"])
@pytest.mark.parametrize("index", [0, 1])
def test_units_add_up_to_the_network(runtime, index):
    """Every conv and linear MAC of the network is in exactly one unit, whichever pyramid form."""
    cfg = CONFIGS[index].replace(input_size=(64, 64))
    total = 0
    for unit, n in decompose(cfg, 1, runtime):
        module, inputs = build_unit(unit)
        total += n * _conv_linear_macs(module, inputs)
    counts = count(cfg)
    assert total == counts.conv_macs + counts.linear_macs


def test_pyramid_forms_differ_as_the_networks_do():
    cfg = EESPConfig.from_scale(1.0)  # input shortcut on L2..L4
    eager = [dict(u.params).get("pools") for u, _ in decompose(cfg, 1, "eager") if u.kind == "down"]
    once = [dict(u.params).get("pools") for u, _ in decompose(cfg, 1, "deploy") if u.kind == "down"]
    assert eager == [2, 3, 4, None]  # re-pooled from full resolution, as the paper's code does
    assert once == [2, 1, 1, None]  # pooled level by level


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CONFIGS), st.sampled_from([1, 8]), st.sampled_from(["eager", "deploy", "onnxruntime"]))
def test_fast_keys_equal_the_units(cfg, batch, runtime):
    assert unit_keys(cfg, batch, runtime) == [(u.key, n) for u, n in decompose(cfg, batch, runtime)]


def _target(**changes):
    fp = {"device_name": "cpu-x", "torch": "2.13", "threads": 1, "runtime": "eager", "runtime_version": "2.13"}
    return target_of(fp | changes, dtype="fp32", batch=1)


def test_prediction_is_the_overhead_model_over_the_table_sum():
    cfg = EESPConfig.from_scale(1.0)  # depths 0, 3, 7, 3: stem + 4 down-samplers + 13 units + head = 19
    table = LatencyTable(target=_target(), entries={k: {"median_ms": 1.0} for k, _ in unit_keys(cfg)})
    table.overhead = Overhead(scale=2.0, intercept_ms=1.0, per_unit_ms=0.5)
    pred = table.predict(cfg)
    assert pred.table_sum_ms == 19.0 and pred.units == 19
    assert pred.latency_ms == 2.0 * 19 + 1.0 + 0.5 * 19


def test_a_config_outside_the_table_is_refused():
    table = LatencyTable(target=_target(), entries={})
    with pytest.raises(PredictorError, match="lacks 6 unit"):
        table.predict(EESPConfig.from_scale(1.0).replace(depths=(0, 0, 0, 0)))


def test_fit_overhead_recovers_known_terms_including_a_per_unit_saving():
    sums, units = [10.0, 20.0, 30.0, 45.0, 50.0], [5, 9, 14, 15, 22]
    over = fit_overhead(sums, units, [1.2 * s + 3.0 + 0.1 * u for s, u in zip(sums, units, strict=True)])
    assert (over.scale, over.intercept_ms, over.per_unit_ms) == pytest.approx((1.2, 3.0, 0.1))
    # units timed alone pay a call each that the network does not (onnxruntime's case): a negative per-unit term
    over = fit_overhead(sums, units, [0.8 * s - 0.4 * u for s, u in zip(sums, units, strict=True)])
    assert (over.scale, over.intercept_ms, over.per_unit_ms) == pytest.approx((0.8, 0.0, -0.4), abs=1e-9)
    assert fit_overhead([10.0], [3], [12.0]).scale == pytest.approx(1.2)  # one network fixes the scale
    # sums that run against the networks: a negative scale would ignore the table; it is never fitted
    anti = fit_overhead([40.0, 30.0, 20.0, 10.0, 5.0], [5, 9, 14, 15, 22], [10.0, 20.0, 30.0, 40.0, 50.0])
    assert anti.scale > 0


def test_fit_overhead_keeps_the_model_that_predicts_left_out_networks_best():
    """Noise that an extra term would fit (in-sample better) but that does not carry to a left-out network:
    leave-one-out keeps the scale alone."""
    rng = random.Random(5)  # a draw where both extra terms fit these 12 networks better in-sample than the scale
    sums = [10.0 + 4 * i for i in range(12)]
    units = [rng.randint(6, 22) for _ in sums]
    measured = [0.9 * s * (1 + rng.gauss(0, 0.05)) for s in sums]  # 5% noise, the truth is the scale alone
    over = fit_overhead(sums, units, measured)
    assert over.intercept_ms == 0.0 and over.per_unit_ms == 0.0 and over.scale == pytest.approx(0.9, rel=0.05)


def test_a_foreign_table_is_refused_or_flagged():
    cfg = EESPConfig.from_scale(0.5)
    table = LatencyTable(target=_target(threads=2), entries={k: {"median_ms": 1.0} for k, _ in unit_keys(cfg)})
    with pytest.raises(PredictorError, match="another target.*threads 2 here 1"):
        table.check_target(_target())
    flag = table.check_target(_target(), allow_foreign=True)
    assert "threads" in flag and table.predict(cfg).flag == flag
    assert table.check_target(_target(threads=2)) is None and table.predict(cfg).flag is None


def test_build_resumes_after_a_kill_and_measures_only_what_is_missing(tmp_path, monkeypatch, machine):
    real_unit = builder.load_unit
    loaded: list[str] = []

    def killed_after_seven(unit, *a, **k):
        if len(loaded) == 8:  # the reference, then seven units
            raise KeyboardInterrupt
        loaded.append(unit.key)
        return real_unit(unit, *a, **k)

    monkeypatch.setattr(builder, "load_unit", killed_after_seven)
    configs, fit = CONFIGS[:6], CONFIGS[6:12]
    path = tmp_path / "t.json"
    with pytest.raises(KeyboardInterrupt):
        builder.build_table(configs, fit, "eager", path=path, unit_rounds=3, network_rounds=3)
    assert len(LatencyTable.load(path).entries) == 7  # every finished unit was kept, the file is whole
    monkeypatch.setattr(builder, "load_unit", real_unit)
    first = len(machine.loaded)
    table = builder.build_table(configs, fit, "eager", path=path, unit_rounds=3, network_rounds=3)
    again = [k for k in machine.loaded[first:] if k in table.entries]
    reference = builder.reference_unit(1).key
    assert reference not in table.entries and machine.loaded[first] == reference
    assert len(again) == len(set(again)) == len(table.entries) - 7  # nothing measured twice
    assert len(table.networks) == 6 and table.overhead.fitted_on == 6
    for cfg in fit:  # the fitted model reproduces the fitting networks it was given (in the reference's ms)
        assert table.predict(cfg).latency_ms == pytest.approx(table.networks[cfg.arch_id]["latency_ms"], rel=0.02)


def test_a_resumed_build_keeps_its_clock(tmp_path, machine):
    path = tmp_path / "t.json"
    builder.build_table(CONFIGS[:1], [], "eager", path=path, unit_rounds=2, clock="cpu")
    with pytest.raises(PredictorError, match="measured against reference.*clock"):
        builder.build_table(CONFIGS[:2], [], "eager", path=path, unit_rounds=2, clock="wall")


@pytest.mark.slow
def test_a_real_build_on_small_configs(tmp_path):
    """Real measurement end to end: the seven units of a 32x32 net in onnxruntime (each checked, then timed)."""
    cfg = EESPConfig.from_scale(0.5).replace(input_size=(32, 32), depths=(0, 0, 0, 1))
    for runtime in ("onnxruntime",):
        table = builder.build_table(
            [cfg], [cfg], runtime, path=tmp_path / f"{runtime}.json", unit_rounds=3, network_rounds=3
        )
        assert len(table.entries) == len(decompose(cfg)) and table.target["runtime"] == runtime
        assert all(e["median_ms"] > 0 for e in table.entries.values())
        assert table.predict(cfg).latency_ms > 0


def test_cli_build_then_count_and_profile_predict(tmp_path, monkeypatch, capsys, machine):
    monkeypatch.setattr("nas.cli.predictor.DEFAULT_UNIT_CONFIGS", 60)
    build = ["predictor", "build", "--dir", str(tmp_path), "--fit", "5", "--unit-rounds", "2", "--network-rounds", "2"]
    assert main([*build, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["networks"] == 5 and summary["target"]["runtime"] == "eager"
    assert main(["predictor", "list", "--dir", str(tmp_path)]) == 0
    assert "eager" in capsys.readouterr().out
    spec = space_configs(None, 60, seed=0)[0].to_compact()
    assert main(["count", spec, "--predict", "--table", summary["path"], "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["predicted_latency"]
    assert got["latency_ms"] > 0 and got["flag"] is None
    assert main(["count", spec, "--predict", "--table", summary["path"], "--predict-threads", "2"]) == 2
    assert "another target" in capsys.readouterr().err
    assert main(["count", spec, "--predict", "--table", str(tmp_path / "missing.json")]) == 2
    assert "no latency table at" in capsys.readouterr().err
