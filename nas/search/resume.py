"""Resuming a search: find the run, and bring the Optuna study in line with the run's records.

Tune's experiment checkpoint is periodic and its pickled searcher lags the Optuna storage, so a restore from it
could repeat a trial finished after the last checkpoint or lose one. Resuming therefore starts a fresh Tune
experiment over the same Optuna study: trials recorded are kept, a trial recorded but not told is told, and a
trial asked but unrecorded (in flight at the kill) is marked failed in Optuna and its parameters re-enqueued,
so it runs again under a new number. The number of trials still to run is the requested total minus the trials
recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nas.search.errors import SearchError
from nas.search.objectives import Selection
from nas.search.samplers import SAMPLERS
from search_spaces.errors import one_line

OPTUNA_FILE = "optuna.db"
RESEEDED_NOTE = "resume: sampler re-seeded with {seed} (seed + {n} trials in the study), so it proposes new configs"


def latest_run(root: str | Path = "runs") -> Path:
    """The most recently created search run under `root` (the one `--resume` without --run-dir continues)."""
    candidates = [p.parent for p in Path(root).glob(f"*/{OPTUNA_FILE}") if (p.parent / "run.json").is_file()]
    if not candidates:
        raise SearchError(f"no search run to resume under {str(root)!r}; pass --run-dir DIR")
    return max(candidates, key=lambda p: (p / "run.json").stat().st_mtime)


def resumed_settings(requested: Any, stored: Any, run_dir: Path, default_trials: int) -> tuple[Any, list[str]]:
    """The settings a resume runs with: the run's own (from run.json), with only how much more to run and how
    to show it taken from `requested`. Nothing in run.json can make espnas import code or connect anywhere:

    - a "module:Class" sampler is refused unless `requested.sampler` names the same class (the user's command
      line, not the run directory, decides which code runs);
    - a storage URL or a Ray address stored in run.json is refused / not joined unless the user passes it.
    """
    notes: list[str] = []
    sampler = str(stored.sampler)
    if sampler.lower() not in SAMPLERS and not _is_optuna_sampler_name(sampler) and requested.sampler != sampler:
        raise SearchError(
            f"{run_dir}/run.json names the sampler {sampler!r}, which is not one of espnas's samplers "
            f"({', '.join(SAMPLERS)} or an optuna.samplers class); espnas never imports code named in a run "
            f"directory: pass --sampler {sampler} to resume with it"
        )
    if stored.storage is not None and requested.storage != stored.storage:
        raise SearchError(
            f"{run_dir}/run.json names the Optuna storage {stored.storage!r}; espnas does not open a storage "
            f"named in a run directory: pass --storage {stored.storage} to resume with it"
        )
    if stored.address and not requested.address:
        notes.append(f"resume: the run used the Ray cluster at {stored.address}; resuming locally (pass --address)")
    settings = replace(
        stored,
        trials=requested.trials if requested.trials != default_trials else stored.trials,
        progress=requested.progress,
        address=requested.address,
        run_dir=str(run_dir),
        resume=True,
    )
    return settings, notes


def _is_optuna_sampler_name(name: str) -> bool:
    """A class name of optuna.samplers (a fixed registry: Optuna's own samplers, nothing importable by path)."""
    if not name.isidentifier():
        return False
    import optuna

    cls = getattr(optuna.samplers, name, None)
    return isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)


def stored_space(metadata: Mapping[str, Any], run_dir: Path) -> Any:
    """The search space a run was searched over, from its run.json (the space file itself is not re-read: it
    may have changed, or lie outside the run directory)."""
    from nas.search.space import parse_space

    raw = (metadata.get("settings") or {}).get("space")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("knobs"), Mapping):
        raise SearchError(f"{run_dir}/run.json has no search space under settings.space; it cannot be resumed")
    data = {k: raw[k] for k in ("name", "description", "knobs") if k in raw}
    data["knobs"] = {k: v for k, v in raw["knobs"].items() if v is not None}
    return parse_space(data, source=f"{run_dir}/run.json")


def check_study(storage_url: str, default_storage: bool, run_dir: Path, trials: Any, study_name: str) -> list[str]:
    """Refuse to resume over an Optuna study that is missing or is not this run's: a missing study would
    restart the trial numbers at 0 (the new t00000 replacing the stored one) and the sampler would forget
    every trial. Returns notes (a missing study is rebuilt, empty, only when the run has no records)."""
    import optuna

    recorded = sorted(int(n) for n in trials["number"]) if trials is not None and len(trials) else []
    db = run_dir / OPTUNA_FILE
    if default_storage and not db.is_file():
        if recorded:
            raise SearchError(
                f"{run_dir} has {len(recorded)} trial records but its {OPTUNA_FILE} is missing, so its sampler "
                "history and trial numbers are lost; restore the file, or start a new run (--run-dir)"
            )
        return [f"resume: {OPTUNA_FILE} was missing and the run had no records; starting a fresh study"]
    try:
        summaries = optuna.get_all_study_summaries(storage=optuna.storages.RDBStorage(storage_url))
    except Exception as err:  # not a database, or one of another program
        raise SearchError(f"cannot read the Optuna storage of {run_dir} ({one_line(err)}); restore it") from None
    study = next((s for s in summaries if s.study_name == study_name), None)
    if study is None:
        if recorded:
            raise SearchError(
                f"the Optuna storage of {run_dir} has no study {study_name!r} but the run has {len(recorded)} "
                "records; it does not belong to this run (restore the run's own storage)"
            )
        return [f"resume: the storage had no study {study_name!r}; starting a fresh one"]
    if recorded and recorded[-1] >= study.n_trials:
        raise SearchError(
            f"the Optuna storage of {run_dir} holds {study.n_trials} trials but the run records trial number "
            f"{recorded[-1]}; the storage does not match the run's records (restore the run's own storage)"
        )
    return []


def check_study_arches(study: Any, trials: Any) -> None:
    """Every recorded trial's arch_id equals the one its Optuna trial was asked for (else: another study)."""
    if trials is None or not len(trials) or "arch_id" not in trials:
        return
    by_number = {t.number: t.user_attrs.get("arch_id") for t in study.get_trials(deepcopy=False)}
    for number, arch in zip(trials["number"], trials["arch_id"], strict=True):
        asked = by_number.get(int(number))
        if isinstance(arch, str) and isinstance(asked, str) and asked != arch:
            raise SearchError(
                f"the Optuna storage does not match the run's records: trial {int(number)} is {arch} in the "
                f"records but {asked} in the storage (restore the run's own storage)"
            )


def repair_timings(run_dir: Path) -> bool:
    """Drop a torn last line of the run's search_timings.jsonl (a kill in the middle of its append); returns
    whether one was dropped. The file is rewritten atomically."""
    from nas.search.recorder import TIMINGS_FILE
    from results.files import write_bytes_atomic

    path = run_dir / TIMINGS_FILE
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    write_bytes_atomic(path, data[: data.rfind(b"\n") + 1])
    return True


def resume_seed(seed: int, trials_in_study: int) -> int:
    """A resumed sampler's seed: a fresh random stream (the first run's seed would replay its proposals)."""
    return (seed + trials_in_study) % (2**31 - 1)


def reconcile(study: Any, trials: Any, selection: Selection) -> tuple[int, int]:
    """Bring the Optuna study in line with the run's records after a kill. Returns (told, requeued).

    - asked, recorded, not told: tell it what the record says;
    - asked, not recorded (in flight at the kill): fail it in Optuna and enqueue its parameters again.
    """
    import optuna

    TS = optuna.trial.TrialState
    by_number = {}
    if trials is not None and len(trials):
        by_number = {int(r["number"]): r for _, r in trials.iterrows()}
    told = requeued = 0
    for t in study.get_trials(deepcopy=False, states=(TS.RUNNING, TS.WAITING)):
        rec = by_number.get(t.number)
        if rec is not None:
            status = rec["status"]
            if status in ("complete", "infeasible"):
                if status == "complete":
                    values = [float(rec[o.metric]) for o in selection.objectives]
                else:
                    values = [o.infeasible_value for o in selection.objectives]
                study.tell(t.number, values)
            else:
                study.tell(t.number, None, state=TS.PRUNED if status == "pruned" else TS.FAIL)
            told += 1
        elif t.state == TS.RUNNING:
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study._storage.set_trial_state_values(t._trial_id, state=TS.FAIL)
            if t.user_attrs.get("infeasible") is None and t.params:
                study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number}, skip_if_exists=False)
                requeued += 1
    return told, requeued


__all__ = [
    "OPTUNA_FILE",
    "check_study",
    "check_study_arches",
    "latest_run",
    "reconcile",
    "repair_timings",
    "resume_seed",
    "resumed_settings",
    "stored_space",
]
