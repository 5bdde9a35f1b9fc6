"""Text and JSON renderings of runs, fronts, comparisons and selections: what the CLI prints.

Each function takes paths and options, does the whole job (open, analyse, plot) and returns the text, so
the `espnas runs | pareto | compare | select` commands are one call each and scripts get the same output.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from results.compare import Comparison, _jsonable, _num, compare_runs
from results.pareto import Hypervolume, front, resolve_objectives, run_hypervolume
from results.select import config_text, select
from results.store import Objective, Run, RunError, list_runs, open_run
from search_spaces.errors import EspnasError

PathLike = str | os.PathLike[str]


def _open_nonempty(path: PathLike) -> Run:
    run = open_run(path)
    if run.complete().empty:
        counts = ", ".join(f"{n} {s}" for s, n in run.status_counts().items() if n) or "no trials yet"
        raise RunError(f"run {run.name!r} at {run.path} has no complete trials ({counts}); nothing to analyse")
    return run


def runs_table(directory: PathLike = "runs", as_json: bool = False) -> str:
    """One line per run under `directory`: name, trials, status counts, objectives, devices, state."""
    summaries = list_runs(directory)
    if as_json:
        return json.dumps(
            [
                {
                    "path": str(s.path), "name": s.name, "trials": s.trials, "status_counts": s.status_counts,
                    "objectives": [o.to_dict() for o in s.objectives], "devices": s.devices,
                    "created": s.created, "ended": s.ended, "state": s.state, "error": s.error,
                }
                for s in summaries
            ],
            indent=2,
        )  # fmt: skip
    if not summaries:
        return f"no runs under {directory} (a run is a directory with run.json and trials/)"
    rows = []
    for s in summaries:
        if s.error:
            rows.append({"run": str(s.path), "name": s.name, "trials": "?", "state": f"unreadable: {s.error}"})
            continue
        counts = s.status_counts
        rows.append(
            {
                "run": str(s.path),
                "name": s.name,
                "trials": s.trials,
                "complete": counts.get("complete", 0),
                "failed": counts.get("failed", 0),
                "pruned": counts.get("pruned", 0),
                "infeasible": counts.get("infeasible", 0),
                "objectives": ", ".join(f"{o.name} ({o.direction})" for o in s.objectives),
                "devices": ", ".join(s.devices) or "-",
                "state": s.state,
            }
        )
    return pd.DataFrame(rows).fillna("").to_string(index=False)


@dataclass(frozen=True)
class ParetoView:
    """A run's front over its chosen objectives, with its hypervolume and the figures written: what
    `espnas pareto` shows (as a table, or JSON through `pareto_report`)."""

    run: Run
    objectives: list[Objective]
    front: pd.DataFrame
    hypervolume: Hypervolume | None
    plots: list[str]

    @property
    def columns(self) -> list[str]:
        """The front's key columns, in the order they are shown (those the run has)."""
        wanted = ["trial_id", "number", *[o.name for o in self.objectives], "params", "macs", "arch_id", "preset"]
        return [c for c in wanted if c in self.front.columns]


def pareto_view(
    path: PathLike, objectives: Sequence[str] | str | None = None, plots: Sequence[PathLike] = ()
) -> ParetoView:
    """The front of a run over `objectives` (default: the run's), writing any figures asked for."""
    run = _open_nonempty(path)
    chosen = resolve_objectives(run, objectives)
    names = chosen_names(chosen)
    return ParetoView(run, chosen, front(run, names), run_hypervolume(run, names), _plot([run], plots, names))


def pareto_report(
    path: PathLike,
    objectives: Sequence[str] | str | None = None,
    as_json: bool = False,
    plots: Sequence[PathLike] = (),
) -> str:
    """The front of a run over `objectives` as plain text (or JSON records), writing any figures asked for.
    (`espnas pareto` prints the same view as a table that fits the terminal: nas/cli/_reports.py.)"""
    view = pareto_view(path, objectives, plots)
    run, chosen, table, hv, written = view.run, view.objectives, view.front, view.hypervolume, view.plots
    columns = view.columns
    if as_json:
        return json.dumps(
            {
                "run": run.name, "path": str(run.path), "objectives": [o.to_dict() for o in chosen],
                "trials": len(run.trials), "complete": len(run.complete()), "plots": written,
                "hypervolume": None if hv is None else hv.value,
                "hypervolume_detail": None if hv is None else hv.to_dict(),
                "front": [_jsonable(row) for row in _rows(table[columns])],
            },
            indent=2,
        )  # fmt: skip
    shown_columns = [c for c in columns if c != "number"]
    if "preset" in shown_columns and not table["preset"].notna().any():
        shown_columns.remove("preset")
    shown = table[shown_columns].copy()
    if "preset" in shown:
        shown["preset"] = shown["preset"].fillna("")
    hv_text = "-" if hv is None else f"{hv.value:.4g}"
    lines = [
        f"run {run.name}: front of {len(table)} of {len(run.complete())} complete trials ({len(run.trials)} in all)",
        f"path: {run.path}",
        *wrap("objectives: " + ", ".join(f"{o.name} ({o.direction}, {o.unit})" for o in chosen)),
        *wrap(f"hypervolume {hv_text}: " + (hv.definition if hv is not None else "no complete trial")),
        shown.to_string(index=False, float_format=_num),
    ]
    lines += [f"wrote {p}" for p in written]
    return "\n".join(lines)


def wrap(text: str, width: int = 80) -> list[str]:
    """Prose wrapped at `width` without breaking words (paths and commands go on lines of their own)."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def chosen_names(objectives: Sequence) -> list[str]:
    return [f"{o.name}:{o.direction}" for o in objectives]


def _rows(frame: pd.DataFrame) -> list[pd.Series]:
    return [row for _, row in frame.iterrows()]


def _plot(runs: Sequence[Run], plots: Sequence[PathLike], objectives: Sequence[str] | None, **kw) -> list[str]:
    if not plots:
        return []
    from results.plots import plot_runs  # matplotlib/plotly only when a figure is asked for

    return [str(plot_runs(runs, p, objectives=objectives, **kw)) for p in plots]


def compare_view(
    paths: Sequence[PathLike],
    objectives: Sequence[str] | str | None = None,
    reference_point: Sequence[float] | None = None,
    constraint: str | None = None,
    best_by: str | None = None,
    plots: Sequence[PathLike] = (),
) -> tuple[Comparison, list[str]]:
    """Compare runs (see results.compare.compare_runs), writing any figures asked for: (comparison, figures)."""
    runs = [_open_nonempty(p) for p in paths]
    comparison = compare_runs(runs, objectives, reference_point, constraint=constraint, best_by=best_by)
    names = chosen_names(comparison.objectives)
    return comparison, _plot(runs, plots, names, reference_point=reference_point)


def compare_report(
    paths: Sequence[PathLike],
    objectives: Sequence[str] | str | None = None,
    reference_point: Sequence[float] | None = None,
    constraint: str | None = None,
    best_by: str | None = None,
    as_json: bool = False,
    plots: Sequence[PathLike] = (),
) -> str:
    """Compare runs and render the result as plain text or JSON, writing any figures asked for.
    (`espnas compare` prints the same as tables that fit the terminal: nas/cli/_reports.py.)"""
    comparison, written = compare_view(paths, objectives, reference_point, constraint, best_by, plots)
    if as_json:
        return json.dumps({**comparison.to_dict(), "plots": written}, indent=2)
    return "\n".join([comparison.to_text(), *[f"wrote {p}" for p in written]])


def select_report(
    path: PathLike,
    *,
    trial: str | None = None,
    rank: int | None = None,
    knee: bool = False,
    where: str | None = None,
    by: str | None = None,
    all_matches: bool = False,
    objectives: Sequence[str] | str | None = None,
    form: str = "table",
) -> str:
    """Selected trials as config JSON lines, compact strings, or a table with both ids and objectives."""
    run = open_run(path)
    if trial is None and run.complete().empty:
        run = _open_nonempty(path)  # raises the one-line "no complete trials" error
    rows = select(
        run, trial=trial, rank=rank, knee_point=knee, where=where, by=by, objectives=objectives,
        all_matches=all_matches,
    )  # fmt: skip
    if form in ("json", "compact"):
        return "\n".join(config_text(row, form) for _, row in rows.iterrows())
    if form != "table":
        raise RunError(f"output form {form!r} is not valid; use table, json or compact")
    chosen = resolve_objectives(run, objectives)
    lines = []
    for _, row in rows.iterrows():
        values = ", ".join(f"{o.name}={_num(row[o.name])}" for o in chosen)
        status = "" if row["status"] == "complete" else f" [{row['status']}: {row.get('reason')}]"
        lines.append(f"trial {row['trial_id']} (#{row['number']}){status}: {values}")
        try:
            lines.append(f"  {config_text(row, 'compact')}")
        except EspnasError as err:  # e.g. a config stored by an older espnas that no longer parses
            lines.append(f"  ({err})")
    return "\n".join(lines)
