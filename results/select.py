"""Picking trials out of a run (by id, Pareto rank, knee or constraint) and printing their configs.

This is the hand-off to export: `select(run, knee=True)` gives the trial rows, `config_text(row, "json")`
the architecture as canonical JSON (the form `search_spaces.resolve` reads) or `"compact"` its one-line form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from results.pareto import _values, knee, ranked, resolve_objectives, sort_by_objectives
from results.store import Objective, Run, RunError
from results.where import Where

FORMS = ("json", "compact")


def select(
    run: Run,
    *,
    trial: str | None = None,
    rank: int | None = None,
    knee_point: bool = False,
    where: str | None = None,
    by: str | None = None,
    objectives: Sequence[str] | str | None = None,
    all_matches: bool = False,
) -> pd.DataFrame:
    """Rows of the chosen trials; exactly one way of choosing must be given.

    trial:      a trial id (or its `number` written as digits).
    rank:       every trial of Pareto rank `rank` (0 = the front) over `objectives`, best first.
    knee_point: the knee of the front (see results.pareto.knee_point).
    where:      a constraint ("latency_ms <= 3 and energy_mj <= 20"): the best complete trial satisfying it
                by `by` ("accuracy" or "metric:max|min", default the first objective); all matches, best
                first, with all_matches=True.
    """
    ways = sum([trial is not None, rank is not None, bool(knee_point), where is not None])
    if ways != 1:
        raise RunError("choose trials one way: by trial id, by rank, by knee or by a where constraint")
    if where is None and (all_matches or by is not None):
        given = "--all" if all_matches else f"--by {by}"
        raise RunError(f"{given} goes with --where EXPR (the best trial, or every trial, satisfying it); add --where")
    if run.trials.empty:
        raise RunError(f"run {run.name!r} at {run.path} has no trials yet")
    if trial is not None:
        return _by_trial(run, str(trial))
    if rank is not None:
        if rank < 0:
            raise RunError(f"rank {rank} is negative; rank 0 is the Pareto front, 1 the next layer, ...")
        table = ranked(run, objectives)
        rows = table[table["pareto_rank"] == rank]
        if rows.empty:
            deepest = int(table["pareto_rank"].max()) if len(table) else -1
            raise RunError(f"run {run.name!r} has no trials of Pareto rank {rank}; ranks go from 0 to {deepest}")
        return rows
    if knee_point:
        return knee(run, objectives).to_frame().T
    assert where is not None
    constraint = Where(where)
    complete = run.complete()
    constraint.check_columns(run.trials.columns)
    matches = complete[constraint.mask(complete)]
    if matches.empty:
        raise RunError(f"no complete trial of run {run.name!r} satisfies {constraint.text!r}")
    order = resolve_objectives(run, by) if by else resolve_objectives(run, objectives)
    best_first = sort_by_objectives(matches, order[:1] if by else order)
    return best_first if all_matches else best_first.iloc[:1]


def best_under(trials: pd.DataFrame, objective: Objective, constraint: str | None = None) -> pd.Series | None:
    """The complete trial best in `objective` among those satisfying `constraint`, or None if none does."""
    rows = trials[trials["status"] == "complete"]
    if constraint:
        rows = rows[Where(constraint).mask(rows)]
    rows = rows[pd.notna(_values(rows, [objective])[:, 0])]
    if rows.empty:
        return None
    return sort_by_objectives(rows, [objective]).iloc[0]


def _by_trial(run: Run, trial: str) -> pd.DataFrame:
    rows = run.trials[run.trials["trial_id"] == trial]
    if rows.empty and trial.isdigit():
        rows = run.trials[run.trials["number"] == int(trial)]
    if rows.empty:
        some = ", ".join(run.trials["trial_id"].head(5))
        raise RunError(f"run {run.name!r} has no trial {trial!r}; trial ids look like: {some}")
    return rows


def config_text(row: pd.Series, form: str = "json") -> str:
    """The architecture of a trial row as canonical JSON or the compact one-line string."""
    if form not in FORMS:
        raise RunError(f"config form {form!r} is not valid; use one of {', '.join(FORMS)}")
    text = row.get("config_json")
    if not isinstance(text, str) or not text:
        raise RunError(f"trial {row.get('trial_id')!r} has no config_json (status {row.get('status')!r})")
    if form == "json":
        json.loads(text)  # stored text is canonical already; only check it parses
        return text
    from search_spaces.config import EESPConfig  # configs are search_spaces' business; imported on demand

    return EESPConfig.from_json(text).to_compact()
