"""Comparison of runs: normalised hypervolume and coverage by hand, refusals naming the difference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from results.compare import compare_runs, coverage_of
from results.store import RunError, open_run

TWO = [("accuracy", "max", "%"), ("latency_ms", "min", "ms")]


def complete(i: int, accuracy: float, latency: float) -> dict:
    return {"trial_id": f"t{i}", "number": i, "status": "complete", "accuracy": accuracy, "latency_ms": latency,
            "arch_id": f"a{i}", "config_json": "{}"}  # fmt: skip


@pytest.fixture
def two_runs(make_run):
    a = make_run("A", [complete(0, 90, 3), complete(1, 80, 1)], objectives=TWO)
    b = make_run(
        "B",
        [complete(0, 85, 3), complete(1, 80, 2), complete(2, 70, 1),
         {"trial_id": "t3", "number": 3, "status": "failed", "reason": "OOM"}],
        objectives=TWO,
    )  # fmt: skip
    return open_run(a), open_run(b)


def test_hypervolume_and_coverage_by_hand(two_runs):
    # Union bounds: accuracy [70, 90], latency [1, 3]. Normalised (0 best): A = (0, 1), (.5, 0);
    # B = (.25, 1), (.5, .5), (1, 0). Reference 1.1 in both.
    # HV(A) = .5*.1 + .6*1.1 = 0.71; HV(B) = .25*.1 + .5*.6 + .1*1.1 = 0.435.
    result = compare_runs(two_runs)
    assert result.hypervolume["A"] == pytest.approx(0.71)
    assert result.hypervolume["B"] == pytest.approx(0.435)
    assert result.bounds == [(70.0, 90.0), (1.0, 3.0)]
    assert result.reference_normalised == [1.1, 1.1]
    assert result.reference_raw == pytest.approx([68.0, 3.2])  # stored in raw units too
    assert result.coverage[("A", "B")] == pytest.approx(1.0)  # every B point weakly dominated by A
    assert result.coverage[("B", "A")] == pytest.approx(0.0)
    assert [len(result.fronts[n]) for n in ("A", "B")] == [2, 3]


def test_explicit_reference_point_in_raw_units(two_runs):
    same = compare_runs(two_runs, reference_point=[68.0, 3.2])
    assert same.hypervolume["A"] == pytest.approx(0.71)
    tight = compare_runs(two_runs, reference_point=[70.0, 3.0])  # normalised (1, 1)
    # A: .5*0 + .5*1 = 0.5 (the point (0, 1) sits on the reference's latency edge and adds nothing)
    assert tight.hypervolume["A"] == pytest.approx(0.5)
    with pytest.raises(RunError, match="must be 2 numbers"):
        compare_runs(two_runs, reference_point=[1.0])


def test_best_under_a_constraint(two_runs):
    result = compare_runs(two_runs, constraint="latency_ms <= 2", best_by="accuracy")
    assert result.best["A"]["trial_id"] == "t1"
    assert result.best["B"]["trial_id"] == "t1"
    none = compare_runs(two_runs, constraint="latency_ms < 0.5")
    assert none.best == {"A": None, "B": None}
    assert "no complete trial satisfies it" in none.to_text()


def test_text_and_json_render(two_runs):
    result = compare_runs(two_runs, constraint="latency_ms <= 2")
    text = result.to_text()
    assert "0.7100" in text and "0.4350" in text and "coverage" in text
    data = json.loads(json.dumps(result.to_dict()))
    assert data["hypervolume"]["A"] == pytest.approx(0.71)
    assert data["reference_point"]["raw"]["accuracy"] == pytest.approx(68.0)
    assert data["coverage"]["A|B"] == 1.0
    assert len(data["fronts"]["B"]) == 3


def test_runs_with_different_objectives_are_refused(make_run, records):
    a = open_run(make_run("A", [complete(0, 90, 3)], objectives=TWO))
    c = open_run(make_run("C", records(20)))  # accuracy, latency_ms, energy_mj
    with pytest.raises(RunError, match="runs differ in objectives: 'A' has accuracy, latency_ms, 'C' has"):
        compare_runs([a, c])
    # naming objectives both runs have makes them comparable
    assert compare_runs([a, c], objectives="accuracy,latency_ms").names == ["A", "C"]


def test_runs_with_different_units_or_directions_are_refused(make_run):
    a = open_run(make_run("A", [complete(0, 90, 3)], objectives=TWO))
    s = open_run(make_run("S", [complete(0, 90, 0.003)], objectives=[TWO[0], ("latency_ms", "min", "s")]))
    with pytest.raises(RunError, match="unit of 'latency_ms': 'A' has 'ms', 'S' has 's'"):
        compare_runs([a, s])
    m = open_run(make_run("M", [complete(0, 90, 3)], objectives=[TWO[0], ("latency_ms", "max", "ms")]))
    with pytest.raises(RunError, match="direction of 'latency_ms'"):
        compare_runs([a, m])


def test_same_names_get_told_apart(make_run):
    a = open_run(make_run("x1", [complete(0, 90, 3)], objectives=TWO))
    b = make_run("x2", [complete(0, 80, 1)], objectives=TWO)
    meta = json.loads((b / "run.json").read_text())
    (b / "run.json").write_text(json.dumps({**meta, "name": "x1"}))
    result = compare_runs([a, open_run(b)])
    assert result.names == ["x1 (x1)", "x1 (x2)"]


def test_coverage_counts_equal_points_as_covered():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    b = np.array([[0.0, 1.0], [0.5, 0.5], [2.0, 2.0]])
    assert coverage_of(a, b) == pytest.approx(2 / 3)
    assert coverage_of(b, a) == pytest.approx(1 / 2)
    assert coverage_of(a, b[:0]) == 0.0
