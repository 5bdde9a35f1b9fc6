"""Resume never repeats a complete config and trusts nothing a run directory says (fast: no Ray)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

from nas.search.driver import STUDY_NAME, SearchSettings, run_search
from nas.search.errors import SearchError
from nas.search.objectives import select_objectives
from nas.search.recorder import Recorder
from nas.search.resume import check_study, resume_seed, resumed_settings, stored_space
from nas.search.space import load_space

SEL = select_objectives("latency,params", "cpu")


def _stored_run(tmp_path: Path, **search: object) -> Path:
    """A run directory as a search leaves it after two complete trials (records + optuna.db)."""
    from results.store import RunWriter

    run_dir = tmp_path / "run"
    space = load_space()
    settings = SearchSettings(objectives=("latency", "params"), run_dir=str(run_dir), **search)  # type: ignore[arg-type]
    meta = {
        "name": "run",
        "objectives": [o.to_dict() for o in SEL.objectives],
        "metrics": {"latency_ms": "ms"},
        "settings": {"search": settings.to_dict(), "space": space.to_dict()},
    }
    writer = RunWriter(run_dir, meta)
    study = optuna.create_study(
        storage=f"sqlite:///{run_dir / 'optuna.db'}", study_name=STUDY_NAME, directions=["minimize", "minimize"]
    )
    for number in range(2):
        trial = study.ask()
        space.suggest(trial)
        trial.set_user_attr("arch_id", f"arch{number}")
        study.tell(trial, [5.0 + number, 1e6])
        writer.append(
            {"trial_id": f"t{number:05d}", "number": number, "status": "complete", "arch_id": f"arch{number}",
             "latency_ms": 5.0 + number, "params": 1_000_000, "macs": 50_000_000}
        )  # fmt: skip
    writer.finish()
    return run_dir


def test_resume_refuses_a_run_whose_optuna_db_is_missing(tmp_path):
    run_dir = _stored_run(tmp_path)
    (run_dir / "optuna.db").unlink()
    with pytest.raises(SearchError, match="has 2 trial records but its optuna.db is missing"):
        run_search(SearchSettings(resume=True, run_dir=str(run_dir), progress=False))
    assert not (run_dir / "optuna.db").exists()  # refused before anything was created


def test_resume_refuses_a_storage_that_is_not_the_runs(tmp_path):
    run_dir = _stored_run(tmp_path)
    (run_dir / "optuna.db").unlink()
    other = optuna.create_study(storage=f"sqlite:///{run_dir / 'optuna.db'}", study_name=STUDY_NAME)
    other.ask()  # one trial, but the run records trial number 1
    with pytest.raises(SearchError, match="holds 1 trials but the run records trial number 1"):
        run_search(SearchSettings(resume=True, run_dir=str(run_dir), progress=False))
    records = pd.DataFrame({"number": [0]})
    url = f"sqlite:///{run_dir / 'optuna.db'}"
    with pytest.raises(SearchError, match="has no study 'elsewhere'"):
        check_study(url, True, run_dir, records, "elsewhere")


def test_resume_refuses_a_sampler_class_named_in_run_json(tmp_path):
    """A module:Class in run.json is code from the run directory: not imported unless the user names it."""
    run_dir = _stored_run(tmp_path)
    (run_dir / "evil.py").write_text("raise SystemExit('evil code ran')\n")
    meta = json.loads((run_dir / "run.json").read_text())
    meta["settings"]["search"]["sampler"] = "evil:Sampler"
    (run_dir / "run.json").write_text(json.dumps(meta))
    with pytest.raises(SearchError, match="never imports code named in a run directory: pass --sampler"):
        run_search(SearchSettings(resume=True, run_dir=str(run_dir), progress=False))


def test_resume_takes_no_storage_or_address_from_run_json(tmp_path):
    run_dir = _stored_run(tmp_path, storage="sqlite:////tmp/elsewhere.db", address="10.0.0.1:6379")
    stored = SearchSettings.from_dict(json.loads((run_dir / "run.json").read_text())["settings"]["search"])
    with pytest.raises(SearchError, match="does not open a storage named in a run directory"):
        resumed_settings(SearchSettings(resume=True), stored, run_dir, 16)
    settings, notes = resumed_settings(
        SearchSettings(resume=True, storage=stored.storage, trials=16), stored, run_dir, 16
    )
    assert settings.address is None and "resuming locally" in notes[0]


def test_resume_reads_the_space_from_run_json_not_the_file(tmp_path):
    run_dir = _stored_run(tmp_path)
    meta = json.loads((run_dir / "run.json").read_text())
    meta["settings"]["search"]["space"] = "/nonexistent/space.toml"
    space = stored_space(meta["settings"] | {"settings": meta["settings"]}, run_dir)
    assert space.to_dict()["knobs"] == load_space().to_dict()["knobs"]


def test_resumed_sampler_gets_a_new_seed_so_it_does_not_replay_the_first_run():
    assert resume_seed(0, 10) != 0 and resume_seed(7, 0) == 7
    first = optuna.samplers.RandomSampler(seed=0)
    again = optuna.samplers.RandomSampler(seed=resume_seed(0, 5))
    space = load_space()
    a = optuna.create_study(sampler=first)
    b = optuna.create_study(sampler=again)
    assert [space.suggest(a.ask()) for _ in range(3)] != [space.suggest(b.ask()) for _ in range(3)]


class _Writer:
    path = "/nonexistent"

    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, rec: dict) -> None:
        self.records.append(rec)


def test_recorder_knows_the_complete_configs_of_the_run():
    rec = Recorder(_Writer(), SEL, ["latency_ms"], {})
    rec.load_points(
        pd.DataFrame(
            {"trial_id": ["t00000", "t00001"], "status": ["complete", "failed"], "arch_id": ["a", "b"],
             "latency_ms": [3.0, float("nan")], "params": [10.0, 20.0]}
        )
    )  # fmt: skip
    assert rec.duplicate_of("a") == ("t00000", [3.0, 10.0])
    assert rec.duplicate_of("b") is None  # a failed config may run again


def test_searcher_skips_a_proposal_of_a_complete_config(tmp_path):
    """The first proposal of a resumed sampler repeats a complete trial: it is told the stored values and never
    handed to Tune; the next, new config is."""
    pytest.importorskip("ray.tune")
    from nas.search.band import DEFAULT_BAND, check_band
    from nas.search.searcher import make_searcher_class

    space = load_space()
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}")
    study = optuna.create_study(storage=storage, study_name="s", directions=["minimize", "minimize"])
    sampler = optuna.samplers.RandomSampler(seed=1)
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    flats = []
    while len(flats) < 2:  # the sampler's first two in-band proposals
        flat = space.suggest(probe.ask())
        if check_band(flat, space, DEFAULT_BAND).feasible:
            flats.append(flat)
    del study
    for flat in flats:
        optuna.load_study(study_name="s", storage=storage).enqueue_trial(flat)
    first = check_band(flats[0], space, DEFAULT_BAND).config
    recorder = Recorder(_Writer(), SEL, ["latency_ms"], {})
    recorder.completed[first.arch_id] = ("t00000", [4.0, 1e6])
    searcher = make_searcher_class()(
        space, DEFAULT_BAND, SEL, recorder, sampler=sampler, storage=storage, study_name="s", max_infeasible=50
    )
    got = searcher.suggest("trial_a")
    assert got["espnas_config_json"] != first.to_json()
    assert recorder.duplicates == 1
    dup = optuna.load_study(study_name="s", storage=storage).trials[0]
    assert dup.user_attrs["duplicate_of"] == "t00000" and dup.values == [4.0, 1e6]
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_resume_removes_what_a_kill_left_mid_write(tmp_path, monkeypatch):
    """A kill -9 during a batch write leaves `.NNNNNN-....parquet.XXXXXXXX.tmp`, during the timings append a
    torn last line: resume removes the first and drops the second, keeping every whole line."""
    import nas.search.driver as driver

    run_dir = _stored_run(tmp_path)
    temp = run_dir / "trials" / ".000002-t00002.parquet.ab12cd34.tmp"
    temp.write_bytes(b"PAR1 half a batch")
    (run_dir / "search_timings.jsonl").write_bytes(b'{"number": 0}\n{"number": 1}\n{"numb')
    monkeypatch.setattr(driver, "_run_tune", lambda *a, **k: 0.0)
    run_search(SearchSettings(resume=True, run_dir=str(run_dir), progress=False, trials=4))
    assert not temp.exists()
    assert (run_dir / "search_timings.jsonl").read_bytes() == b'{"number": 0}\n{"number": 1}\n'
