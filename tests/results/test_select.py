"""Selecting trials by id, rank, knee and constraint; configs printed as JSON or compact strings."""

from __future__ import annotations

import json

import pytest

from results.pareto import front, knee
from results.select import config_text, select
from results.store import RunError, open_run
from results.where import WhereError


@pytest.fixture
def run(make_run, records):
    return open_run(make_run("r", records(60)))


def test_by_trial_id_or_number(run):
    assert select(run, trial="s0-t00004")["number"].tolist() == [4]
    assert select(run, trial="4")["trial_id"].tolist() == ["s0-t00004"]
    failed = select(run, trial="s0-t00003")  # a failed trial can be selected by id
    assert failed.iloc[0]["status"] == "failed"
    with pytest.raises(RunError, match="no trial 'nope'; trial ids look like: s0-t00000"):
        select(run, trial="nope")


def test_by_rank(run):
    assert set(select(run, rank=0)["trial_id"]) == set(front(run)["trial_id"])
    second = select(run, rank=1)
    assert len(second) and not set(second["trial_id"]) & set(front(run)["trial_id"])
    with pytest.raises(RunError, match="no trials of Pareto rank 999; ranks go from 0 to"):
        select(run, rank=999)


def _trial(trial_id: str, number: int, objectives: list, values: tuple) -> dict:
    metrics = {name: float(v) for (name, _, _), v in zip(objectives, values, strict=True)}
    return {"trial_id": trial_id, "number": number, "status": "complete", **metrics}


@pytest.mark.parametrize(
    ("objectives", "points", "knee_id"),
    [
        # Two objectives, normalised over the front to 0 = best: fast (1, 0), mid (1/3, 1/9), best (0, 1); the
        # knee is the smallest sum, mid. "slow" is dominated by mid.
        (
            [("accuracy", "max", "%"), ("latency_ms", "min", "ms")],
            {"fast": (60, 1), "best": (90, 10), "mid": (80, 2), "slow": (70, 9)},
            "mid",
        ),
        # Three objectives: a, b and c each win one objective outright (sum 2 each); d is second-best on all
        # three: (1/4, 1/5, 1/3) from accuracy 60..100, latency 1..6, energy 1..4, so the knee is d.
        (
            [("accuracy", "max", "%"), ("latency_ms", "min", "ms"), ("energy_mj", "min", "mJ")],
            {"a": (100, 6, 4), "b": (60, 1, 4), "c": (60, 6, 1), "d": (90, 2, 2)},
            "d",
        ),
    ],
)
def test_by_knee_on_fronts_worked_out_by_hand(make_run, objectives, points, knee_id):
    records = [_trial(name, i, objectives, values) for i, (name, values) in enumerate(points.items())]
    run = open_run(make_run("knee", records, objectives=objectives))
    rows = select(run, knee_point=True)
    assert rows["trial_id"].tolist() == [knee_id]
    assert knee(run)["trial_id"] == knee_id


def test_by_constraint_picks_the_best_match(run):
    complete = run.complete()
    allowed = complete[(complete["latency_ms"] <= 3) & (complete["energy_mj"] <= 12)]
    best = select(run, where="latency_ms <= 3 and energy_mj <= 12")
    assert best.iloc[0]["trial_id"] == allowed.sort_values("accuracy").iloc[-1]["trial_id"]
    every = select(run, where="latency_ms <= 3 and energy_mj <= 12", all_matches=True)
    assert len(every) == len(allowed) and every["accuracy"].is_monotonic_decreasing
    fastest = select(run, where="accuracy >= 80", by="latency_ms")
    assert fastest.iloc[0]["latency_ms"] == complete[complete["accuracy"] >= 80]["latency_ms"].min()
    with pytest.raises(RunError, match="no complete trial"):
        select(run, where="latency_ms < 0")
    with pytest.raises(WhereError, match="malformed"):
        select(run, where="latency_ms <")


def test_exactly_one_way_of_choosing(run):
    with pytest.raises(RunError, match="one way"):
        select(run)
    with pytest.raises(RunError, match="one way"):
        select(run, trial="s0-t00000", knee_point=True)


def test_config_text_json_and_compact(make_run):
    from search_spaces.config import EESPConfig

    config = EESPConfig.from_scale(0.5)
    record = {"trial_id": "a", "number": 0, "status": "complete", "accuracy": 1.0, "latency_ms": 1.0,
              "energy_mj": 1.0, "config_json": config.to_json(), "arch_id": config.arch_id}  # fmt: skip
    row = select(open_run(make_run("c", [record])), trial="a").iloc[0]
    assert config_text(row, "json") == config.to_json()
    assert EESPConfig.from_json(config_text(row, "json")) == config
    assert EESPConfig.from_compact(config_text(row, "compact")) == config
    with pytest.raises(RunError, match="use one of json, compact"):
        config_text(row, "yaml")
    json.loads(config_text(row))
