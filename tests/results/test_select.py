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


def test_by_knee(run):
    rows = select(run, knee_point=True)
    assert len(rows) == 1 and rows.iloc[0]["trial_id"] == knee(run)["trial_id"]


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
