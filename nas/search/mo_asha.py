"""MO-ASHA: asynchronous successive halving that promotes by Pareto rank, not by one metric.

Ray Tune's ASHA compares a trial at each rung by one metric, so in a search for the front of accuracy and cost
it stops exactly the small, cheap networks the front's low end needs. MO-ASHA (Schmucker et al., 2021) keeps
ASHA's asynchronous rungs (milestones grace_period * eta^k, a decision the moment a trial reaches a rung) but
ranks the trials recorded at the rung by non-dominated sorting, ties within a front broken by crowding distance
(NSGA-II's; boundary points first), and lets a trial continue only when it is in the top ceil(n / eta) of the n
recorded there (itself included, so the first trial at a rung always continues, as in ASHA).

`ParetoRungs` is the decision logic alone (no Ray; unit-tested); `make_mo_asha_scheduler` wraps it as a Ray Tune
`TrialScheduler` that works with any searcher, OptunaSearch included. The objectives at a rung are the metric the
trial reports (the proxy accuracy so far) plus cost values fixed by the config (conv MACs, parameters), read from
the trial's config: a cheap network with a middling accuracy is non-dominated and survives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.search.errors import SearchError

__all__ = ["ParetoRungs", "crowding_distance", "make_mo_asha_scheduler", "pareto_order", "rung_milestones"]


def rung_milestones(grace_period: int, max_t: int, reduction_factor: float) -> tuple[int, ...]:
    """ASHA's rungs: grace_period * eta^k below max_t (a trial that reaches max_t simply ends)."""
    if grace_period < 1 or max_t <= grace_period or reduction_factor <= 1:
        raise SearchError(
            f"MO-ASHA rungs grace_period={grace_period}, max_t={max_t}, reduction_factor={reduction_factor} are "
            "invalid; valid: 1 <= grace_period < max_t and reduction_factor > 1"
        )
    out, t = [], float(grace_period)
    while t < max_t:
        out.append(round(t))
        t *= reduction_factor
    return tuple(sorted(set(out)))


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def _fronts(values: np.ndarray) -> list[list[int]]:
    """Non-dominated sorting (minimising every column): lists of row indices, front 0 first."""
    n = len(values)
    dominated_by = [0] * n
    dominates: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if _dominates(values[i], values[j]):
                dominates[i].append(j)
                dominated_by[j] += 1
            elif _dominates(values[j], values[i]):
                dominates[j].append(i)
                dominated_by[i] += 1
    fronts, current = [], [i for i in range(n) if dominated_by[i] == 0]
    while current:
        fronts.append(current)
        nxt = []
        for i in current:
            for j in dominates[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(j)
        current = sorted(nxt)
    return fronts


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of one front: the sum over objectives of the normalised gap between
    its two neighbours; the extremes of each objective get infinity."""
    values = np.asarray(values, dtype=float)
    n, m = values.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for k in range(m):
        order = np.argsort(values[:, k], kind="stable")
        lo, hi = values[order[0], k], values[order[-1], k]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo:
            continue
        for pos in range(1, n - 1):
            dist[order[pos]] += (values[order[pos + 1], k] - values[order[pos - 1], k]) / (hi - lo)
    return dist


def pareto_order(values: object, directions: Sequence[str]) -> list[int]:
    """Row indices best first: by non-dominated rank, then by crowding distance (larger first), then by row."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[1] != len(directions):
        raise SearchError(f"values of shape {array.shape} do not match {len(directions)} objective directions")
    sign = np.array([-1.0 if d == "max" else 1.0 for d in directions])
    finite = np.flatnonzero(np.isfinite(array).all(axis=1))
    minimised = array[finite] * sign
    order: list[int] = []
    for front in _fronts(minimised):
        crowd = crowding_distance(minimised[front])
        order.extend(int(finite[i]) for _, i in sorted(zip(-crowd, front, strict=True)))
    # A row with a NaN or infinite value (a failed evaluation) ranks after every measured one.
    return order + [i for i in range(len(array)) if i not in set(finite.tolist())]


@dataclass
class ParetoRungs:
    """MO-ASHA's promotion decisions, without Ray: `decide(trial, t, values)` -> True to continue.

    `directions` ("max"/"min") match the `values` tuples. A trial is judged once per rung, when its reported
    time first reaches the rung's milestone; between rungs it always continues.
    """

    milestones: tuple[int, ...]
    directions: tuple[str, ...]
    reduction_factor: float = 3.0
    recorded: dict[int, dict[str, tuple[float, ...]]] = field(default_factory=dict)
    judged: dict[str, set[int]] = field(default_factory=dict)

    def decide(self, trial_id: str, t: float, values: Sequence[float]) -> bool:
        if len(values) != len(self.directions):
            raise SearchError(f"{len(values)} values for {len(self.directions)} objectives at a rung")
        done = self.judged.setdefault(trial_id, set())
        keep = True
        for milestone in self.milestones:
            if t < milestone or milestone in done:
                continue
            done.add(milestone)
            rung = self.recorded.setdefault(milestone, {})
            rung[trial_id] = tuple(float(v) for v in values)
            ids = list(rung)
            order = pareto_order([rung[i] for i in ids], self.directions)
            top = math.ceil(len(ids) / self.reduction_factor)
            keep = keep and ids.index(trial_id) in order[:top]
        return keep


def make_mo_asha_scheduler(
    metric: str = "accuracy",
    mode: str = "max",
    *,
    static: Mapping[str, str] | None = None,
    time_attr: str = "training_iteration",
    max_t: int = 4,
    grace_period: int = 1,
    reduction_factor: float = 3.0,
) -> Any:
    """A Ray Tune scheduler running MO-ASHA on the reported `metric` and the `static` config values.

    `static` maps keys of the trial's config to a direction, e.g. {"espnas_macs": "min"}: values fixed when the
    config is proposed (the analytic cost), so they need no measurement before a rung. Built lazily: importing
    this module does not import Ray.
    """
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    statics = dict(static if static is not None else {"espnas_macs": "min"})
    bad = [d for d in (mode, *statics.values()) if d not in ("max", "min")]
    if bad:
        raise SearchError(f"MO-ASHA direction {bad[0]!r} is invalid; valid: max, min")
    rungs = ParetoRungs(
        rung_milestones(grace_period, max_t, reduction_factor), (mode, *statics.values()), reduction_factor
    )

    class MOASHAScheduler(FIFOScheduler):
        """Successive halving by Pareto rank and crowding at each rung (see nas.search.mo_asha)."""

        def __init__(self) -> None:
            super().__init__()
            self.rungs = rungs
            self.stopped = 0

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            if metric not in result or time_attr not in result or result.get("espnas_final"):
                return TrialScheduler.CONTINUE
            values = (result[metric], *(float(trial.config[k]) for k in statics))
            if self.rungs.decide(trial.trial_id, float(result[time_attr]), values):
                return TrialScheduler.CONTINUE
            self.stopped += 1
            return TrialScheduler.STOP

        def debug_string(self) -> str:
            return f"MO-ASHA: rungs {self.rungs.milestones}, {self.stopped} stopped"

    return MOASHAScheduler()
