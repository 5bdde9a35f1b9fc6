"""Pareto analysis: the non-dominated set, non-dominated sorting, hypervolume and the knee point.

The heavy lifting is moocore's (O(n log n) sweeps for 2 and 3 objectives, exact hypervolume). This module
adds what a stored run needs around it: directions given per objective ("max"/"min"), rows with a missing
value left out rather than crashing the sweep, and objectives picked by name from a run.

Conventions: a point dominates another when it is no worse in every objective and better in at least one.
Exact duplicates do not dominate each other, so every copy of a front point is on the front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import moocore
import numpy as np
import pandas as pd

from results.store import DIRECTIONS, Objective, RunError

if TYPE_CHECKING:
    from results.store import Run

# Columns that can be objectives without a declared direction: counts, where fewer is always better.
DEFAULT_DIRECTIONS = {"params": "min", "macs": "min"}


def _prepare(values: object, directions: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Values as a float (n, m) array, a mask of rows whose values are all finite, and moocore's maximise."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise RunError(f"values must be a 2-D table (points x objectives), got shape {array.shape}")
    if len(directions) != array.shape[1]:
        raise RunError(f"{array.shape[1]} objective columns but {len(directions)} directions; give one per column")
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise RunError(f"direction {bad[0]!r} is not valid; use 'max' or 'min'")
    finite = np.isfinite(array).all(axis=1)
    return array, finite, [d == "max" for d in directions]


def _minimised(array: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """The values with maximised columns negated, so moocore is always called minimising everything.

    (moocore 0.3's pareto_rank mishandles `maximise=[False]` for a single objective; negating ourselves
    sidesteps every such edge case for the cost of one copy.)
    """
    if not any(maximise):
        return array
    return np.where(np.asarray(maximise), -array, array)


def non_dominated(values: object, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the rows no other row dominates; rows with a NaN or infinite value are never in it."""
    array, finite, maximise = _prepare(values, directions)
    mask = np.zeros(len(array), dtype=bool)
    if finite.any():
        mask[finite] = moocore.is_nondominated(_minimised(array[finite], maximise), keep_weakly=True)
    return mask


def nondominated_sort(values: object, directions: Sequence[str]) -> np.ndarray:
    """Pareto rank of every row: 0 for the front, 1 for the front once rank 0 is removed, and so on.

    Duplicates share a rank. Rows with a NaN or infinite value get rank -1 (not ranked).
    """
    array, finite, maximise = _prepare(values, directions)
    ranks = np.full(len(array), -1, dtype=np.int64)
    if finite.any():
        # moocore's ranks start at 1 in some versions and 0 in others: shift so the front is 0.
        got = np.asarray(moocore.pareto_rank(_minimised(array[finite], maximise)), dtype=np.int64)
        ranks[finite] = got - got.min()
    return ranks


def hypervolume(points: object, directions: Sequence[str], reference: Sequence[float]) -> float:
    """Hypervolume dominated by `points` and bounded by `reference` (points not better than it add nothing)."""
    array, finite, maximise = _prepare(points, directions)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if ref.shape[0] != array.shape[1] or not np.isfinite(ref).all():
        raise RunError(f"reference point {ref.tolist()} must be {array.shape[1]} finite numbers, one per objective")
    array = array[finite]
    if len(array) == 0:
        return 0.0
    # Only points strictly better than the reference in every objective enclose any volume.
    sign = np.where(maximise, -1.0, 1.0)
    inside = ((array * sign) < (ref * sign)).all(axis=1)
    if not inside.any():
        return 0.0
    return float(moocore.hypervolume(_minimised(array[inside], maximise), ref=_minimised(ref, maximise)))


# ---------------------------------------------------------------------------------------------------------
# The hypervolume users see (console, `espnas pareto`, plots, `espnas compare`): one definition
# ---------------------------------------------------------------------------------------------------------

HV_REFERENCE = 1.1  # in normalised units: 10% beyond the worst value, so a front's extremes still add volume
HV_DEFINITION = "each objective scaled to [0, 1] over {over} (0 best, 1 worst), reference point 1.1 in each"


@dataclass(frozen=True)
class Hypervolume:
    """A front's hypervolume as espnas reports it, with what it was normalised over and its raw-unit twin.

    `value`: the hypervolume after each objective is scaled to [0, 1] over `lower`..`upper` (0 best), with the
    reference point HV_REFERENCE in every objective; at most 1.1 ** m for m objectives. `raw`: the same
    volume in the objectives' own units (the product of their units), with `reference_raw` the same point
    in raw units. Bounds are the lowest and highest values of the trials it was normalised over.
    """

    value: float
    raw: float
    reference_raw: list[float]
    lower: list[float]
    upper: list[float]
    over: str  # what the bounds come from, e.g. "the run's 14 complete trials"

    @property
    def definition(self) -> str:
        return HV_DEFINITION.format(over=self.over)

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value, "raw": self.raw, "reference_raw": self.reference_raw,
            "normalised_over": self.over, "lower": self.lower, "upper": self.upper,
            "reference_normalised": HV_REFERENCE, "definition": self.definition,
        }  # fmt: skip


def front_hypervolume(
    values: object,
    directions: Sequence[str],
    over: str,
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
) -> Hypervolume | None:
    """The hypervolume of the front of `values` (all complete trials' objective values; rows with a missing
    value are left out), normalised over `lower`..`upper` (default: the rows' own lowest and highest values).
    None when no row has every value."""
    array, finite, _ = _prepare(values, directions)
    array = array[finite]
    if len(array) == 0:
        return None
    lo = np.asarray(array.min(axis=0) if lower is None else lower, dtype=float)
    hi = np.asarray(array.max(axis=0) if upper is None else upper, dtype=float)
    front_rows = array[non_dominated(array, directions)]
    m = array.shape[1]
    value = hypervolume(normalise(front_rows, directions, lo, hi), ["min"] * m, [HV_REFERENCE] * m)
    span = np.where(hi > lo, hi - lo, 1.0)
    maximise = np.array([d == "max" for d in directions])
    ref_raw = np.where(maximise, hi - HV_REFERENCE * span, lo + HV_REFERENCE * span)
    raw = hypervolume(front_rows, directions, ref_raw)
    return Hypervolume(
        value=float(value), raw=float(raw), reference_raw=[float(x) for x in ref_raw],
        lower=[float(x) for x in lo], upper=[float(x) for x in hi], over=over,
    )  # fmt: skip


def normalise(values: object, directions: Sequence[str], lower: Sequence[float], upper: Sequence[float]) -> np.ndarray:
    """Map every objective onto [0, 1] over the bounds [lower, upper], flipped so that 0 is best, 1 worst.

    After this every objective is minimised. Values outside the bounds map outside [0, 1] (a reference point
    may lie there). A constant objective (lower == upper) is shifted but not scaled: its value maps to 0.
    """
    array, _, maximise = _prepare(values, directions)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(np.asarray(maximise), (hi - array) / span, (array - lo) / span)


def knee_point(values: object, directions: Sequence[str]) -> int:
    """Index (into `values`) of the knee of the front: the most balanced trade-off.

    Definition: normalise each objective over the front to [0, 1], 0 best (see `normalise`). The knee is the
    front point farthest on the good side of the hyperplane through the m unit points (in 2-D: the line
    through the two extremes of the front), i.e. the point with the smallest sum of normalised objectives.
    Ties go to the earliest row. Raises RunError when no row has all values finite.
    """
    array, _, _ = _prepare(values, directions)
    mask = non_dominated(array, directions)
    if not mask.any():
        raise RunError("no point with finite values for every objective; there is no front and no knee")
    idx = np.flatnonzero(mask)
    front_values = array[idx]
    scaled = normalise(front_values, directions, front_values.min(axis=0), front_values.max(axis=0))
    distance = (1.0 - scaled.sum(axis=1)) / np.sqrt(array.shape[1])
    return int(idx[int(np.argmax(distance))])


# ---------------------------------------------------------------------------------------------------------
# Objectives of a run, by name
# ---------------------------------------------------------------------------------------------------------


def resolve_objectives(run: Run, objectives: Sequence[str] | str | None = None) -> list[Objective]:
    """Objectives by name: "accuracy", or "metric:max"/"metric:min" for a metric that is not an objective.

    None means the run's own objectives. A declared objective keeps its direction unless one is given;
    `params` and `macs` default to "min"; any other metric needs an explicit direction.
    """
    if objectives is None:
        return run.objectives
    if isinstance(objectives, str):
        objectives = [part for part in objectives.split(",") if part.strip()]
    declared = {o.name: o for o in run.objectives}
    units = {**run.metrics, "params": "count", "macs": "MACs"}
    chosen: list[Objective] = []
    for spec in objectives:
        name, _, direction = spec.strip().partition(":")
        name, direction = name.strip(), direction.strip()
        if name not in units:
            valid = ", ".join([*run.metrics, "params", "macs"])
            raise RunError(f"unknown objective {name!r} for run {run.name!r}; valid: {valid}")
        if direction and direction not in DIRECTIONS:
            raise RunError(f"objective {spec.strip()!r}: direction {direction!r} is not valid; use :max or :min")
        if not direction:
            if name in declared:
                direction = declared[name].direction
            elif name in DEFAULT_DIRECTIONS:
                direction = DEFAULT_DIRECTIONS[name]
            else:
                raise RunError(
                    f"metric {name!r} is not an objective of run {run.name!r}; give its direction as "
                    f"{name}:max or {name}:min"
                )
        chosen.append(Objective(name, direction, declared[name].unit if name in declared else units[name]))
    if not chosen:
        raise RunError("no objectives given; name at least one, e.g. accuracy,latency_ms")
    if len({o.name for o in chosen}) != len(chosen):
        raise RunError(f"objectives repeat a name: {[o.name for o in chosen]}")
    return chosen


def _values(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    return frame[[o.name for o in objectives]].to_numpy(dtype=float, na_value=np.nan)


def ranked(run: Run, objectives: Sequence[str] | str | None = None) -> pd.DataFrame:
    """The run's complete trials with a `pareto_rank` column (0 = front), best ranks first."""
    chosen = resolve_objectives(run, objectives)
    trials = run.complete()
    ranks = nondominated_sort(_values(trials, chosen), [o.direction for o in chosen])
    out = trials.assign(pareto_rank=ranks)
    out = out[out["pareto_rank"] >= 0]
    return sort_by_objectives(out.sort_values("pareto_rank", kind="stable"), chosen, keep_rank=True)


def sort_by_objectives(frame: pd.DataFrame, objectives: Sequence[Objective], keep_rank: bool = False) -> pd.DataFrame:
    """Rows ordered best first by the first objective, then the next (and by rank first when keep_rank)."""
    by = ["pareto_rank"] if keep_rank else []
    ascending = [True] if keep_rank else []
    for o in objectives:
        by.append(o.name)
        ascending.append(o.direction == "min")
    return frame.sort_values(by, ascending=ascending, kind="stable")


def front(run: Run, objectives: Sequence[str] | str | None = None) -> pd.DataFrame:
    """The non-dominated complete trials of a run over the chosen objectives, best first by the first one."""
    chosen = resolve_objectives(run, objectives)
    trials = run.complete()
    mask = non_dominated(_values(trials, chosen), [o.direction for o in chosen])
    return sort_by_objectives(trials[mask], chosen)


def run_hypervolume(run: Run, objectives: Sequence[str] | str | None = None) -> Hypervolume | None:
    """The hypervolume of a run's front, normalised over its own complete trials (what `espnas search` and
    `espnas pareto` print; see `front_hypervolume`)."""
    chosen = resolve_objectives(run, objectives)
    trials = run.complete()
    values = _values(trials, chosen)
    n = int(np.isfinite(values).all(axis=1).sum()) if len(values) else 0
    return front_hypervolume(values, [o.direction for o in chosen], over=f"the run's {n} complete trials")


def knee(run: Run, objectives: Sequence[str] | str | None = None) -> pd.Series:
    """The knee trial of a run's front (see `knee_point` for the definition)."""
    chosen = resolve_objectives(run, objectives)
    trials = run.complete()
    if trials.empty:
        raise RunError(f"run {run.name!r} has no complete trials; there is no front and no knee")
    i = knee_point(_values(trials, chosen), [o.direction for o in chosen])
    return trials.iloc[i]
