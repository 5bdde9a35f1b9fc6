"""A search that fails after its run directory exists: before its first record nothing is left (the same
command can be re-run); after, the run is kept, marked failed with the reason, and --resume clears the mark."""

from __future__ import annotations

import json

import pytest

import nas.search.driver as driver
from nas.search.driver import SearchSettings, run_search
from nas.search.errors import SearchError


def _settings(run_dir, **kw):
    return SearchSettings(objectives=("params",), run_dir=str(run_dir), progress=False, **kw)


def test_a_failure_before_the_first_record_leaves_no_run(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise SearchError("target 'h100' is not a resource of this Ray cluster")

    monkeypatch.setattr(driver, "_run_tune", fail)
    run_dir = tmp_path / "run"
    with pytest.raises(SearchError, match="h100"):
        run_search(_settings(run_dir))
    assert not run_dir.exists()
    monkeypatch.undo()
    monkeypatch.setattr(driver, "_run_tune", lambda *a, **k: 0.0)
    run_search(_settings(run_dir))  # the same command runs again: no "already holds a run"
    assert (run_dir / "run.json").is_file()


def test_a_failure_in_a_directory_the_user_made_removes_only_the_searchs_files(tmp_path, monkeypatch):
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("the user's")
    monkeypatch.setattr(driver, "_run_tune", lambda *a, **k: (_ for _ in ()).throw(SearchError("boom")))
    with pytest.raises(SearchError):
        run_search(_settings(run_dir))
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]


def test_a_failure_after_records_marks_the_run_failed_and_resume_clears_it(tmp_path, monkeypatch):
    def record_then_fail(settings, space, selection, recorder, storage, *args, **kwargs):
        import optuna

        optuna.load_study(study_name=driver.STUDY_NAME, storage=storage).ask()  # trial 0, then its record
        recorder.writer.append({"trial_id": "t00000", "number": 0, "status": "infeasible", "reason": "x"})
        raise SearchError("the Ray cluster went away")

    monkeypatch.setattr(driver, "_run_tune", record_then_fail)
    run_dir = tmp_path / "run"
    with pytest.raises(SearchError, match="went away"):
        run_search(_settings(run_dir))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["failure"] == "the Ray cluster went away" and meta["ended"] is not None
    monkeypatch.setattr(driver, "_run_tune", lambda *a, **k: 0.0)
    run_search(SearchSettings(resume=True, run_dir=str(run_dir), progress=False))
    assert "failure" not in json.loads((run_dir / "run.json").read_text())
