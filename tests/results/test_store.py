"""The run store: writing, reading while writing, validation, schema compatibility."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from results.store import SCHEMA, RunError, RunWriter, list_runs, open_run, read_metadata


def test_round_trip_keeps_types_and_values(tmp_path, records, run_metadata):
    recs = records(30)
    writer = RunWriter(tmp_path / "r", run_metadata("r"))
    writer.append(recs[:10])
    writer.append(recs[10:])
    writer.finish()
    run = open_run(tmp_path / "r")
    assert len(run.trials) == 30
    assert list(run.trials["number"]) == list(range(30))
    assert run.trials["number"].dtype == pd.Int64Dtype()
    assert run.trials["params"].dtype == pd.Int64Dtype()
    assert run.trials["accuracy"].dtype == np.float64
    first = run.trials.iloc[0]
    assert first["trial_id"] == recs[0]["trial_id"]
    assert first["accuracy"] == pytest.approx(recs[0]["accuracy"])
    assert first["latency_ms_iqr"] == pytest.approx(0.05)
    assert run.metadata["ended"] is not None and run.metadata["schema"] == SCHEMA
    assert [o.name for o in run.objectives] == ["accuracy", "latency_ms", "energy_mj"]


def test_failed_and_infeasible_trials_are_kept_but_not_complete(make_run, records):
    run = open_run(make_run("r", records(40)))
    counts = run.status_counts()
    assert counts["failed"] == sum(1 for i in range(40) if i % 7 == 3)
    assert counts["infeasible"] == sum(1 for i in range(40) if i % 7 != 3 and i % 11 == 5)
    assert counts["complete"] == len(run.complete()) == 40 - counts["failed"] - counts["infeasible"]
    failed = run.trials[run.trials["status"] == "failed"]
    assert (failed["reason"] == "CUDA out of memory").all()
    assert failed["accuracy"].isna().all()


def test_a_run_is_readable_while_it_is_being_appended_to(tmp_path, records, run_metadata):
    path = tmp_path / "live"
    writer = RunWriter(path, run_metadata("live"))
    assert open_run(path).trials.empty  # no batch yet: an empty table with every column
    assert "accuracy" in open_run(path).trials.columns
    recs = records(25)
    writer.append(recs[:5])
    # a batch being written (temporary name) is invisible to readers
    (path / "trials" / ".000001-x.parquet.abc.tmp").write_bytes(b"partial")
    run = open_run(path)
    assert run.running and len(run.trials) == 5
    writer.append(recs[5:])
    assert len(open_run(path).trials) == 25
    # resume in a new writer: numbering continues, 'ended' is cleared until finish()
    writer.finish()
    resumed = RunWriter.open_existing(path)
    assert open_run(path).running
    more = records(3, start=25)
    written = resumed.append(more)
    assert written is not None and written.name.startswith("000002-")
    resumed.finish()
    assert len(open_run(path).trials) == 28 and not open_run(path).running


def test_a_trial_recorded_twice_keeps_its_last_record(tmp_path, run_metadata):
    writer = RunWriter(tmp_path / "r", run_metadata("r"))
    writer.append({"trial_id": "a", "number": 0, "status": "pruned", "reason": "early stop"})
    writer.append({"trial_id": "a", "number": 0, "status": "complete", "accuracy": 70.0, "latency_ms": 1.0,
                   "energy_mj": 2.0})  # fmt: skip
    trials = open_run(tmp_path / "r").trials
    assert len(trials) == 1 and trials.iloc[0]["status"] == "complete"


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"number": 0, "status": "complete"}, "lacks trial_id"),
        ({"trial_id": "a", "number": 0, "status": "done"}, "status 'done'"),
        ({"trial_id": "a", "number": 0, "status": "failed", "latncy_ms": 1.0}, "unknown column 'latncy_ms'"),
        ({"trial_id": "a", "number": 0, "status": "complete", "accuracy": 1.0}, "latency_ms, energy_mj"),
        (
            {
                "trial_id": "a",
                "number": 0,
                "status": "complete",
                "accuracy": float("nan"),
                "latency_ms": 1.0,
                "energy_mj": 1.0,
            },
            "non-finite: accuracy",
        ),
        ({"trial_id": "a", "number": "zero", "status": "failed"}, "'number' must be an integer"),
    ],
)
def test_bad_records_are_refused_with_one_line(tmp_path, record, fragment, run_metadata):
    writer = RunWriter(tmp_path / "r", run_metadata("r"))
    with pytest.raises(RunError, match=fragment) as err:
        writer.append(record)
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "r" / "trials").iterdir())  # nothing half-written


def test_bad_metadata_is_refused(tmp_path, run_metadata):
    meta = run_metadata("r")
    meta["objectives"][0]["direction"] = "maximise"
    with pytest.raises(RunError, match="valid: 'max', 'min'"):
        RunWriter(tmp_path / "a", meta)
    meta = run_metadata("r")
    meta["objectives"].append({"name": "power_w", "direction": "min"})
    with pytest.raises(RunError, match="not in 'metrics'"):
        RunWriter(tmp_path / "b", meta)
    RunWriter(tmp_path / "c", run_metadata("c"))
    with pytest.raises(RunError, match="already holds a run"):
        RunWriter(tmp_path / "c", run_metadata("c"))


def test_newer_and_older_schemas_are_refused_clearly(make_run, records):
    path = make_run("r", records(3))
    meta = json.loads((path / "run.json").read_text())
    (path / "run.json").write_text(json.dumps({**meta, "schema": SCHEMA + 1}))
    with pytest.raises(RunError, match="newer than this espnas reads") as err:
        open_run(path)
    assert "\n" not in str(err.value)
    (path / "run.json").write_text(json.dumps({**meta, "schema": 0}))
    with pytest.raises(RunError, match="too old and has no upgrade path"):
        open_run(path)


def test_an_upgrade_function_brings_an_old_schema_forward(make_run, monkeypatch, records):
    import results.store as store

    path = make_run("r", records(3))
    meta = json.loads((path / "run.json").read_text())
    old = {**meta, "schema": 0, "objective_list": meta.pop("objectives")}
    del old["objectives"]
    (path / "run.json").write_text(json.dumps(old))

    def zero_to_one(m):
        return {**{k: v for k, v in m.items() if k != "objective_list"}, "objectives": m["objective_list"],
                "schema": 1}  # fmt: skip

    monkeypatch.setitem(store.UPGRADES, 0, zero_to_one)
    assert read_metadata(path)["objectives"][0]["name"] == "accuracy"


def test_missing_run_and_not_a_run_are_one_line_errors(tmp_path):
    with pytest.raises(RunError, match="no run directory"):
        open_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"has no run\.json"):
        open_run(tmp_path / "empty")


def test_list_runs_summarises_each_run(make_run, tmp_path, records):
    make_run("a", records(20))
    make_run("b", records(5), finish=False)
    summaries = {s.name: s for s in list_runs(tmp_path)}
    assert set(summaries) == {"a", "b"}
    assert summaries["a"].trials == 20 and summaries["a"].ended is not None
    assert summaries["b"].ended is None
    assert sum(summaries["a"].status_counts.values()) == 20


def test_list_runs_says_a_run_failed_and_why(make_run, tmp_path, records):
    make_run("c", records(3), failure="the data path /x does not exist")
    (summary,) = list_runs(tmp_path)
    assert summary.state == "failed: the data path /x does not exist"
