"""Resuming a search: find the run, and bring the Optuna study in line with the run's records.

Tune's experiment checkpoint is periodic and its pickled searcher lags the Optuna storage, so a restore from it
could repeat a trial finished after the last checkpoint or lose one. Resuming therefore starts a fresh Tune
experiment over the same Optuna study: trials recorded are kept, a trial recorded but not told is told, and a
trial asked but unrecorded (in flight at the kill) is marked failed in Optuna and its parameters re-enqueued,
so it runs again under a new number. The number of trials still to run is the requested total minus the trials
recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.search.errors import SearchError
from nas.search.objectives import Selection

OPTUNA_FILE = "optuna.db"


def latest_run(root: str | Path = "runs") -> Path:
    """The most recently created search run under `root` (the one `--resume` without --run-dir continues)."""
    candidates = [p.parent for p in Path(root).glob(f"*/{OPTUNA_FILE}") if (p.parent / "run.json").is_file()]
    if not candidates:
        raise SearchError(f"no search run to resume under {str(root)!r}; pass --run-dir DIR")
    return max(candidates, key=lambda p: (p / "run.json").stat().st_mtime)


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


__all__ = ["OPTUNA_FILE", "latest_run", "reconcile"]
