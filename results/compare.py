"""Comparing the Pareto fronts of two or more runs on the same objectives.

Hypervolume has one definition in espnas (results.pareto.front_hypervolume): each objective scaled to [0, 1],
0 best, reference point 1.1 in each. A comparison normalises over the union of the runs' complete trials, so
the runs share one scale; each run's value normalised over its own trials (what `espnas search` and
`espnas pareto` print for it) is reported next to it as "alone", and the raw-unit volume in the JSON. The
reference point is stored in normalised and raw units, so figures quoted from a comparison can be reproduced.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from results.pareto import (
    HV_REFERENCE,
    _values,
    front_hypervolume,
    hypervolume,
    non_dominated,
    normalise,
    resolve_objectives,
    sort_by_objectives,
)
from results.select import best_under
from results.store import Objective, Run, RunError
from results.where import Where

DEFAULT_REFERENCE = HV_REFERENCE  # in normalised units: 10% beyond the worst value of the union


@dataclass
class Comparison:
    """The result of `compare_runs`; `to_text()` and `to_dict()` render it."""

    names: list[str]
    objectives: list[Objective]
    bounds: list[tuple[float, float]]  # (lowest, highest) raw value of each objective over the union
    reference_normalised: list[float]
    reference_raw: list[float]
    fronts: dict[str, pd.DataFrame]
    hypervolume: dict[str, float]
    coverage: dict[tuple[str, str], float]  # (A, B) -> share of B's front weakly dominated by A's front
    trials: dict[str, int]
    constraint: str | None = None
    best_by: Objective | None = None
    hypervolume_alone: dict[str, float | None] = field(default_factory=dict)  # each normalised over itself
    hypervolume_raw: dict[str, float] = field(default_factory=dict)  # in raw units, reference_raw
    best: dict[str, pd.Series | None] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (front tables as lists of records of the key columns)."""
        cols = _front_columns(self.objectives)
        return {
            "runs": self.names,
            "objectives": [o.to_dict() for o in self.objectives],
            "bounds": {o.name: list(b) for o, b in zip(self.objectives, self.bounds, strict=True)},
            "reference_point": {
                "normalised": self.reference_normalised,
                "raw": dict(zip([o.name for o in self.objectives], self.reference_raw, strict=True)),
            },
            "trials": self.trials,
            "hypervolume": self.hypervolume,
            "hypervolume_alone": self.hypervolume_alone,
            "hypervolume_raw": self.hypervolume_raw,
            "hypervolume_definition": (
                "each objective scaled to [0, 1] over the union of the runs' complete trials (0 best), reference "
                "point 1.1 in each (hypervolume_alone: each run over its own complete trials, as espnas pareto "
                "prints it; hypervolume_raw: in the objectives' units with reference_point.raw)"
            ),
            "coverage": {f"{a}|{b}": v for (a, b), v in self.coverage.items()},
            "constraint": self.constraint,
            "best_by": None if self.best_by is None else self.best_by.to_dict(),
            "best": {name: None if row is None else _jsonable(row[cols]) for name, row in self.best.items()},
            "fronts": {name: [_jsonable(r) for _, r in f[cols].iterrows()] for name, f in self.fronts.items()},
        }

    def to_text(self, max_rows: int = 15) -> str:
        """A plain-text report: summary table, coverage matrix, best trials, each front."""
        lines = []
        names = ", ".join(f"{o.name} ({o.direction}, {o.unit or 'no unit'})" for o in self.objectives)
        lines.append(f"objectives: {names}")
        ref = ", ".join(f"{o.name}={_num(r)}" for o, r in zip(self.objectives, self.reference_raw, strict=True))
        lines += textwrap.wrap(
            "hypervolume: each objective scaled to [0, 1] over the union of these runs' complete trials "
            f"(0 best), reference point 1.1 in each (raw: {ref}); 'alone': each run over its own trials, "
            "as espnas pareto prints it",
            80,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.append("")
        summary = pd.DataFrame(
            {
                "run": self.names,
                "trials": [self.trials[n] for n in self.names],
                "front": [len(self.fronts[n]) for n in self.names],
                "hypervolume": [f"{self.hypervolume[n]:.4f}" for n in self.names],
                "alone": [_hv(self.hypervolume_alone.get(n)) for n in self.names],
            }
        )
        lines.append(summary.to_string(index=False))
        lines.append("")
        lines.append("coverage C(row, col): share of col's front weakly dominated by row's front")
        matrix = pd.DataFrame(index=self.names, columns=self.names, dtype=object)
        for a in self.names:
            for b in self.names:
                matrix.loc[a, b] = "-" if a == b else f"{self.coverage[(a, b)]:.2f}"
        lines.append(matrix.to_string())
        if self.best_by is not None:
            lines.append("")
            where = f" with {self.constraint}" if self.constraint else ""
            lines.append(f"best {self.best_by.direction} {self.best_by.name}{where}:")
            for name in self.names:
                row = self.best.get(name)
                if row is None:
                    lines.append(f"  {name}: no complete trial satisfies it")
                else:
                    values = ", ".join(f"{o.name}={_num(row[o.name])}" for o in self.objectives)
                    lines.append(f"  {name}: trial {row['trial_id']} ({values}) arch {row.get('arch_id')}")
        cols = _front_columns(self.objectives)
        for name in self.names:
            front = self.fronts[name]
            lines.append("")
            lines.append(f"front of {name} ({len(front)} trials):")
            shown = front[cols].head(max_rows)
            lines.append(shown.to_string(index=False, float_format=_num) if len(shown) else "  (empty)")
            if len(front) > max_rows:
                lines.append(f"  ... {len(front) - max_rows} more (use --json for all)")
        return "\n".join(lines)


def _hv(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _front_columns(objectives: Sequence[Objective]) -> list[str]:
    return ["trial_id", *[o.name for o in objectives], "params", "macs", "arch_id"]


def _num(value: object) -> str:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.6g}"


def _jsonable(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[str(key)] = None
        elif isinstance(value, (np.integer,)):
            out[str(key)] = int(value)
        elif isinstance(value, (np.floating,)):
            out[str(key)] = float(value)
        else:
            out[str(key)] = value
    return out


def _unique_names(runs: Sequence[Run]) -> list[str]:
    names = [r.name for r in runs]
    if len(set(names)) == len(names):
        return names
    dirs = [r.path.name for r in runs]
    if len(set(dirs)) == len(dirs):
        return [n if names.count(n) == 1 else f"{n} ({d})" for n, d in zip(names, dirs, strict=True)]
    return [f"{n} #{i + 1}" for i, n in enumerate(names)]


def check_comparable(runs: Sequence[Run], objectives: Sequence[str] | str | None) -> list[Objective]:
    """The shared objectives of the runs, or a RunError naming what differs."""
    if len(runs) < 1:
        raise RunError("nothing to compare; give at least one run")
    if objectives is None:
        first = runs[0]
        for other in runs[1:]:
            mine = {o.name: o for o in first.objectives}
            theirs = {o.name: o for o in other.objectives}
            if set(mine) != set(theirs):
                raise RunError(
                    f"runs differ in objectives: {first.name!r} has {', '.join(mine)}, {other.name!r} has "
                    f"{', '.join(theirs)}; pass --objectives with names both runs measure"
                )
    chosen_per_run = [resolve_objectives(run, objectives) for run in runs]
    chosen = chosen_per_run[0]
    for run, theirs in zip(runs[1:], chosen_per_run[1:], strict=True):
        for a, b in zip(chosen, theirs, strict=True):
            if a.direction != b.direction:
                raise RunError(
                    f"runs differ in the direction of {a.name!r}: {runs[0].name!r} {a.direction}imises it, "
                    f"{run.name!r} {b.direction}imises it"
                )
            if a.unit != b.unit:
                raise RunError(
                    f"runs differ in the unit of {a.name!r}: {runs[0].name!r} has {a.unit!r}, {run.name!r} has "
                    f"{b.unit!r}; convert one run before comparing"
                )
    return chosen


def compare_runs(
    runs: Sequence[Run],
    objectives: Sequence[str] | str | None = None,
    reference_point: Sequence[float] | None = None,
    constraint: str | None = None,
    best_by: str | None = None,
) -> Comparison:
    """Fronts, normalised hypervolumes, pairwise coverage and best-under-constraint for runs.

    reference_point is in raw units (one value per objective); by default 1.1 in normalised units.
    constraint ("latency_ms <= 3 and energy_mj <= 20") restricts the best trial of each run, picked by
    best_by ("accuracy" or "metric:max|min", default the first objective).
    """
    chosen = check_comparable(runs, objectives)
    directions = [o.direction for o in chosen]
    names = _unique_names(runs)
    complete = {name: run.complete() for name, run in zip(names, runs, strict=True)}
    for name, run in zip(names, runs, strict=True):
        if complete[name].empty:
            raise RunError(f"run {name!r} at {run.path} has no complete trials; nothing to compare")
    union = np.vstack([_values(frame, chosen) for frame in complete.values()])
    lower, upper = union.min(axis=0), union.max(axis=0)

    if reference_point is None:
        ref_norm = np.full(len(chosen), DEFAULT_REFERENCE)
        ref_raw = _denormalise(ref_norm, directions, lower, upper)
    else:
        ref_raw = np.asarray(reference_point, dtype=float).reshape(-1)
        if ref_raw.shape[0] != len(chosen) or not np.isfinite(ref_raw).all():
            raise RunError(
                f"reference point {list(reference_point)} must be {len(chosen)} numbers, one per objective "
                f"({', '.join(o.name for o in chosen)})"
            )
        ref_norm = normalise(ref_raw[None, :], directions, lower, upper)[0]

    fronts: dict[str, pd.DataFrame] = {}
    normalised_fronts: dict[str, np.ndarray] = {}
    hv: dict[str, float] = {}
    hv_raw: dict[str, float] = {}
    hv_alone: dict[str, float | None] = {}
    for name, frame in complete.items():
        values = _values(frame, chosen)
        mask = non_dominated(values, directions)
        fronts[name] = sort_by_objectives(frame[mask], chosen)
        normalised_fronts[name] = normalise(values[mask], directions, lower, upper)
        hv[name] = hypervolume(normalised_fronts[name], ["min"] * len(chosen), ref_norm)
        hv_raw[name] = hypervolume(values[mask], directions, ref_raw)
        own = front_hypervolume(values, directions, over=f"{name}'s complete trials")
        hv_alone[name] = None if own is None else own.value

    coverage = {(a, b): coverage_of(normalised_fronts[a], normalised_fronts[b]) for a in names for b in names if a != b}

    best: dict[str, pd.Series | None] = {}
    by: Objective | None = None
    if constraint is not None or best_by is not None:
        if constraint is not None:
            parsed = Where(constraint)
            for run in runs:
                parsed.check_columns(run.trials.columns)
        by = resolve_objectives(runs[0], best_by)[0] if best_by else chosen[0]
        for name, run in zip(names, runs, strict=True):
            best[name] = best_under(run.trials, by, constraint)

    return Comparison(
        names=names,
        objectives=chosen,
        bounds=[(float(lo), float(hi)) for lo, hi in zip(lower, upper, strict=True)],
        reference_normalised=[float(x) for x in ref_norm],
        reference_raw=[float(x) for x in ref_raw],
        fronts=fronts,
        hypervolume=hv,
        coverage=coverage,
        trials={name: len(run.trials) for name, run in zip(names, runs, strict=True)},
        constraint=constraint,
        best_by=by,
        best=best,
        runs=dict(zip(names, runs, strict=True)),
        hypervolume_alone=hv_alone,
        hypervolume_raw=hv_raw,
    )


def coverage_of(a: np.ndarray, b: np.ndarray) -> float:
    """C(A, B): the share of points of B weakly dominated by at least one point of A (all minimised).

    Zitzler's C-metric. A point of B equal to one of A counts as covered. 0.0 when B is empty.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if len(b) == 0:
        return 0.0
    if len(a) == 0:
        return 0.0
    if len(a) * len(b) <= 4_000_000:
        covered = (a[:, None, :] <= b[None, :, :]).all(axis=2).any(axis=0)
    else:  # large fronts: one pass per point of B, against A only
        covered = np.array([(a <= p).all(axis=1).any() for p in b])
    return float(covered.mean())


def _denormalise(norm: np.ndarray, directions: Sequence[str], lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    span = np.where(upper > lower, upper - lower, 1.0)
    maximise = np.array([d == "max" for d in directions])
    return np.where(maximise, upper - norm * span, lower + norm * span)


def comparison_json(comparison: Comparison) -> str:
    """`Comparison.to_dict()` as indented JSON."""
    return json.dumps(comparison.to_dict(), indent=2)
