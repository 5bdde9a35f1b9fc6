"""The predictor and runtimes in the search: measure_config in a runtime, the latency_pred objective, the
two-stage screen, and the settings checks."""

from __future__ import annotations

import json

import pytest

from nas.search.driver import SearchError, SearchSettings, _validate_latency
from nas.search.predicted import near_front, two_stage
from nas.search.trial import measure_config
from profilers.predictor import LatencyTable, Overhead, PredictorError
from profilers.predictor.build import current_target
from profilers.predictor.units import unit_keys
from search_spaces import EESPConfig

TINY = EESPConfig.from_scale(0.5).replace(input_size=(32, 32), depths=(0, 1, 1, 1))


def test_near_front_keeps_what_a_margin_could_put_on_the_front():
    points = [(0.0, 10.0), (1.0, 5.0), (2.0, 5.2), (0.5, 30.0)]
    assert near_front(points, 0.1) == [0, 1, 2]  # 5.2 is within 10% of 5.0: it might be on the front
    assert near_front(points, 0.0) == [0, 1]


def test_two_stage_measures_only_the_chosen():
    asked: list[int] = []
    screen = two_stage([(0.0,), (1.0,), (2.0,), (0.5,)], [10.0, 5.0, 5.2, 30.0], lambda i: asked.append(i) or 7.0)
    assert asked == [0, 1, 2] and screen.values == [7.0, 7.0, 7.0, None]


def test_measure_config_in_another_runtime_records_it():
    got = measure_config(TINY.to_json(), ["latency_ms"], "cpu", budget_s=0.2, batch=1, threads=1, runtime="onnxruntime")
    assert got["latency_ms"] > 0
    assert got["fingerprint"]["runtime"] == "onnxruntime" and "runtime_version" in got["fingerprint"]


def test_latency_pred_comes_from_the_table(tmp_path):
    target, _ = current_target("deploy", threads=1)
    table = LatencyTable(target=target, entries={k: {"median_ms": 0.5} for k, _ in unit_keys(TINY, 1, "deploy")})
    table.overhead = Overhead(scale=1.0, intercept_ms=2.0)
    path = table.save(tmp_path / "t.json")
    got = measure_config(TINY.to_json(), ["latency_pred_ms"], "cpu", budget_s=0, batch=1, threads=1,
                         predictor_table=str(path))  # fmt: skip
    assert got["latency_pred_ms"] == pytest.approx(0.5 * len(unit_keys(TINY)) + 2.0)
    assert "latency_ms" not in got and got["fingerprint"]["predictor"]["table"] == str(path)


def test_settings_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNAS_PREDICTOR_DIR", str(tmp_path))
    with pytest.raises(SearchError, match="include latency_pred"):
        _validate_latency(SearchSettings(two_stage=True, objectives=("accuracy", "latency")))
    with pytest.raises(SearchError, match="TARGET=RUNTIME with TARGET one of the targets"):
        _validate_latency(SearchSettings(targets=("a10g",), target_runtimes=("t4=onnxruntime",)))
    with pytest.raises(PredictorError, match="no latency table for runtime deploy"):
        _validate_latency(SearchSettings(objectives=("accuracy", "latency_pred")))
    with pytest.raises(Exception, match="unknown runtime 'fast'"):
        _validate_latency(SearchSettings(runtime="fast"))


@pytest.mark.slow
def test_two_stage_search_end_to_end(tmp_path):
    """A real (Ray) search on predicted latency and params, then the second stage measures near the front."""
    from nas.search.driver import run_search
    from nas.search.predicted import space_configs
    from profilers.predictor.build import build_table

    configs = space_configs(None, 8, seed=5)
    table = build_table(configs, configs[:4], "deploy", path=tmp_path / "t.json", unit_rounds=2,
                        network_rounds=2)  # fmt: skip
    settings = SearchSettings(
        objectives=("params", "latency_pred"), trials=4, run_dir=str(tmp_path / "run"), progress=False,
        predictor_table=str(table.path), two_stage=True, latency_budget_s=0.3, space=None,
    )  # fmt: skip
    outcome = run_search(settings)
    report = json.loads((tmp_path / "run" / "two_stage.json").read_text())
    assert 1 <= len(report["measured"]) <= report["screened"]
    assert all(m["latency_ms"] > 0 for m in report["measured"])
    assert any("two-stage" in n for n in outcome.notes)
