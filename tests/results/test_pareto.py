"""Fronts, ranks, hypervolume and knee against values worked out by hand, plus properties of the front."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from results.pareto import front, hypervolume, knee, knee_point, non_dominated, nondominated_sort, ranked
from results.store import RunError, open_run

# (1,4) (2,2) (4,1) form the front, (2,2) twice; (3,3) is behind (2,2), (5,5) behind (3,3).
POINTS = np.array([[1, 4], [2, 2], [4, 1], [3, 3], [2, 2], [5, 5]], dtype=float)


def dominates(a: np.ndarray, b: np.ndarray, maximise: np.ndarray) -> bool:
    a = np.where(maximise, -a, a)
    b = np.where(maximise, -b, b)
    return bool((a <= b).all() and (a < b).any())


def test_front_by_hand_with_duplicates():
    assert non_dominated(POINTS, ["min", "min"]).tolist() == [True, True, True, False, True, False]


def test_ranks_by_hand():
    assert nondominated_sort(POINTS, ["min", "min"]).tolist() == [0, 0, 0, 1, 0, 2]
    # maximising both: (5,5) alone is best; then (1,4), (4,1) and (3,3); then both copies of (2,2)
    assert nondominated_sort(POINTS, ["max", "max"]).tolist() == [1, 2, 1, 1, 2, 0]


def test_rows_with_missing_values_are_never_ranked():
    values = np.array([[1, 1], [np.nan, 0], [2, np.inf]])
    assert non_dominated(values, ["min", "min"]).tolist() == [True, False, False]
    assert nondominated_sort(values, ["min", "min"]).tolist() == [0, -1, -1]


def test_hypervolume_2d_by_hand():
    # Sweeping x: [1,2) height 1, [2,4) height 3, [4,5) height 4 -> 1 + 6 + 4 = 11.
    assert hypervolume(POINTS[:3], ["min", "min"], [5, 5]) == pytest.approx(11.0)
    # Dominated and duplicate points add nothing; a point beyond the reference adds nothing either.
    assert hypervolume(POINTS, ["min", "min"], [5, 5]) == pytest.approx(11.0)
    assert hypervolume([[6, 0]], ["min", "min"], [5, 5]) == 0.0


def test_hypervolume_mixed_directions_by_hand():
    # accuracy (max) and latency (min), reference (60 %, 4 ms). By latency bands: [1,2) width 80-60=20,
    # [2,3) width 85-60=25, [3,4) width 90-60=30: 20 + 25 + 30 = 75. (70, 2) is dominated by (80, 1).
    points = [[90, 3], [80, 1], [85, 2], [70, 2]]
    assert hypervolume(points, ["max", "min"], [60, 4]) == pytest.approx(75.0)


def test_hypervolume_3d_by_hand():
    assert hypervolume([[1, 1, 1]], ["min"] * 3, [2, 3, 4]) == pytest.approx(6.0)
    # boxes 2*2*2 = 8 and 3*1*1 = 3 overlapping in 2*1*1 = 2: union 9
    assert hypervolume([[1, 1, 1], [0, 2, 2]], ["min"] * 3, [3, 3, 3]) == pytest.approx(9.0)


def test_knee_by_hand():
    # front normalised to [0,1] on both axes; sums 1, .6, .4, .6, 1 -> (0.2, 0.2) is the knee
    values = [[0, 1], [0.1, 0.5], [0.2, 0.2], [0.5, 0.1], [1, 0], [0.9, 0.9]]
    assert knee_point(values, ["min", "min"]) == 2
    # flipping a direction (and the values) gives the same knee
    flipped = [[1 - a, b] for a, b in values]
    assert knee_point(flipped, ["max", "min"]) == 2


def test_knee_of_nothing_is_an_error():
    with pytest.raises(RunError, match="no front"):
        knee_point([[np.nan, 1.0]], ["min", "min"])


def test_bad_directions_are_refused():
    with pytest.raises(RunError, match="use 'max' or 'min'"):
        non_dominated(POINTS, ["min", "minimise"])
    with pytest.raises(RunError, match="2 objective columns but 1 directions"):
        non_dominated(POINTS, ["min"])


values_strategy = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 4)),
    elements=st.integers(0, 5).map(float),  # few distinct values: many ties and duplicates
)


@settings(max_examples=60, deadline=None)
@given(values=values_strategy, data=st.data())
def test_front_and_ranks_properties(values, data):
    m = values.shape[1]
    directions = data.draw(st.lists(st.sampled_from(["max", "min"]), min_size=m, max_size=m))
    maximise = np.array([d == "max" for d in directions])
    mask = non_dominated(values, directions)
    ranks = nondominated_sort(values, directions)
    assert mask.any()
    assert (mask == (ranks == 0)).all()
    for i in range(len(values)):
        dominated_by = [j for j in range(len(values)) if dominates(values[j], values[i], maximise)]
        if mask[i]:
            assert not dominated_by  # no front point is dominated
        else:
            assert any(mask[j] for j in dominated_by)  # every other point is dominated by a front point
        if ranks[i] > 0:  # dominated by a point one rank better, and by none of its own rank or worse
            assert any(ranks[j] == ranks[i] - 1 for j in dominated_by)
        assert all(ranks[j] < ranks[i] for j in dominated_by)
    # every copy of a front point is on the front
    for i in np.flatnonzero(mask):
        same = (values == values[i]).all(axis=1)
        assert mask[same].all()


def test_front_of_a_run_uses_its_objectives_and_skips_failed(make_run, records):
    run = open_run(make_run("r", records(60)))
    table = front(run)
    assert (table["status"] == "complete").all()
    assert table["accuracy"].is_monotonic_decreasing  # best first by the first objective (max)
    two = front(run, "accuracy,latency_ms")
    full = ranked(run, ["accuracy", "latency_ms"])
    assert set(two["trial_id"]) == set(full[full["pareto_rank"] == 0]["trial_id"])
    assert knee(run)["trial_id"] in set(table["trial_id"])


def test_unknown_objective_and_missing_direction_are_one_line_errors(make_run, records):
    run = open_run(make_run("r", records(10)))
    with pytest.raises(RunError, match=r"unknown objective 'acc'.*valid: accuracy"):
        front(run, "acc,latency_ms")
    with pytest.raises(RunError, match="peak_memory_mb:max or peak_memory_mb:min"):
        front(run, "accuracy,peak_memory_mb")
    assert len(front(run, "accuracy,peak_memory_mb:min,macs")) >= 1
