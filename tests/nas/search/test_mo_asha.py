"""MO-ASHA's promotion logic without Ray (hand-worked rungs), and the Ray scheduler with fake trials."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.search.errors import SearchError
from nas.search.mo_asha import ParetoRungs, crowding_distance, pareto_order, rung_milestones

MAX_MIN = ("max", "min")  # (accuracy, conv MACs)


def test_milestones_are_asha_rungs() -> None:
    assert rung_milestones(1, 4, 3) == (1, 3)
    assert rung_milestones(1, 10, 2) == (1, 2, 4, 8)
    assert rung_milestones(2, 20, 3) == (2, 6, 18)
    with pytest.raises(SearchError, match="valid: 1 <= grace_period < max_t"):
        rung_milestones(3, 3, 3)


def test_crowding_distance_by_hand() -> None:
    # Front (minimised) sorted on x: (0, 4), (1, 2), (3, 1), (4, 0); ranges 4 and 4.
    # Inner points: (1,2): (3-0)/4 + (4-1)/4 = 1.5 ; (3,1): (4-1)/4 + (2-0)/4 = 1.25.
    got = crowding_distance(np.array([[1.0, 2.0], [0.0, 4.0], [4.0, 0.0], [3.0, 1.0]]))
    assert got[0] == pytest.approx(1.5) and got[3] == pytest.approx(1.25)
    assert math.isinf(got[1]) and math.isinf(got[2])


def test_pareto_order_rank_first_then_crowding() -> None:
    # (accuracy max, macs min). Rows 0, 1, 2, 3 form the front; row 4 is dominated by row 1; row 5 by all.
    values = [(0.9, 300), (0.8, 100), (0.85, 200), (0.5, 10), (0.7, 150), (0.1, 400)]
    order = pareto_order(values, MAX_MIN)
    assert set(order[:4]) == {0, 1, 2, 3} and order[4:] == [4, 5]
    # Within the front the extremes (0 and 3) come before the inner points; row 1's gap is the larger:
    # minimised sorted on -acc: 0 (-0.9, 300), 2 (-0.85, 200), 1 (-0.8, 100), 3 (-0.5, 10)
    # row 2: (0.8-0.9... ) -> (-0.8+0.9)/0.4 + (300-100)/290 = 0.25 + 0.690 = 0.940
    # row 1: (-0.5+0.85)/0.4 + (200-10)/290 = 0.875 + 0.655 = 1.530
    assert order[:2] in ([0, 3], [3, 0]) and order[2:4] == [1, 2]


def test_nan_is_worst() -> None:
    assert pareto_order([(math.nan, 1.0), (0.1, 5.0)], MAX_MIN) == [1, 0]


def test_rungs_keep_the_cheap_network_that_single_metric_asha_would_stop() -> None:
    rungs = ParetoRungs((1, 3), MAX_MIN, reduction_factor=2)
    assert rungs.decide("big", 1, (0.90, 280e6))  # first at the rung: continues
    assert not rungs.decide("mid", 1, (0.85, 300e6))  # dominated by big; n = 2 keeps ceil(2/2) = 1
    # Below the median accuracy (ASHA would stop it) but far cheaper: non-dominated, kept (n = 3 keeps 2)
    assert rungs.decide("tiny", 1, (0.60, 30e6))
    # n = 4 keeps 2: big and tiny, the front; the new one is dominated by tiny.
    assert not rungs.decide("worse", 1, (0.55, 40e6))


def test_single_metric_rungs_are_plain_asha() -> None:
    # With one objective the order is by value: keep iff in the top ceil(n/2) so far.
    rungs = ParetoRungs((1,), ("max",), reduction_factor=2)
    assert [rungs.decide(f"t{i}", 1, (v,)) for i, v in enumerate((0.5, 0.4, 0.6, 0.3, 0.55))] == [
        True,
        False,
        True,
        False,
        True,
    ]


def test_each_rung_judges_once_and_between_rungs_trials_continue() -> None:
    rungs = ParetoRungs((1, 3), MAX_MIN, reduction_factor=3)
    assert rungs.decide("a", 1, (0.9, 100))
    assert not rungs.decide("b", 1, (0.5, 200))
    # b's later reports between rungs are not judged again at rung 1 (ASHA's decision is final there, but
    # Ray has already stopped it); a at t=2 (no milestone) continues, at t=3 it is judged at rung 3.
    assert rungs.decide("a", 2, (0.1, 100))
    assert list(rungs.recorded[1]) == ["a", "b"] and 3 not in rungs.recorded
    assert rungs.decide("a", 3, (0.95, 100))
    assert list(rungs.recorded[3]) == ["a"]


def test_a_trial_that_skips_a_milestone_is_judged_at_every_rung_it_passed() -> None:
    rungs = ParetoRungs((1, 3), MAX_MIN, reduction_factor=3)
    assert rungs.decide("a", 5, (0.9, 100))
    assert set(rungs.recorded) == {1, 3}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(1, 1e9)), min_size=1, max_size=16))
def test_kept_iff_in_the_top_third_and_dominated_points_never_rank_first(points: list[tuple[float, float]]) -> None:
    rungs = ParetoRungs((1,), MAX_MIN, reduction_factor=3)
    for i, p in enumerate(points):
        kept = rungs.decide(f"t{i}", 1, p)
        assert kept == (i in pareto_order(points[: i + 1], MAX_MIN)[: math.ceil((i + 1) / 3)])
    order = pareto_order(points, MAX_MIN)
    pos = {row: k for k, row in enumerate(order)}
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1]):
                assert pos[i] < pos[j]


def test_ray_scheduler_stops_by_pareto_rank_and_reads_static_costs_from_the_config() -> None:
    from ray.tune.schedulers import TrialScheduler

    from nas.search.mo_asha import make_mo_asha_scheduler

    sched = make_mo_asha_scheduler(
        "accuracy", "max", static={"espnas_macs": "min"}, max_t=4, grace_period=1, reduction_factor=2
    )

    def trial(name: str, macs: float) -> SimpleNamespace:
        return SimpleNamespace(trial_id=name, config={"espnas_macs": macs})

    big, mid, tiny = trial("big", 280e6), trial("mid", 300e6), trial("tiny", 30e6)
    assert sched.on_trial_result(None, big, {"accuracy": 0.9, "training_iteration": 1}) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, mid, {"accuracy": 0.85, "training_iteration": 1}) == TrialScheduler.STOP
    assert sched.on_trial_result(None, tiny, {"accuracy": 0.6, "training_iteration": 1}) == TrialScheduler.CONTINUE
    # The trial's final report (after measuring) is never judged.
    final = {"accuracy": 0.0, "training_iteration": 3, "espnas_final": True}
    assert sched.on_trial_result(None, tiny, final) == TrialScheduler.CONTINUE
    assert sched.stopped == 1 and "MO-ASHA" in sched.debug_string()
