"""The Pareto code at its edges, on hand-built fronts with hand-worked values: one objective, missing values,
a point on the reference, a constant objective, explicit normalisation bounds, a knee that depends on each
objective's own range, and a small run whose front, ranks, order and hypervolume are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from results.pareto import (
    front,
    front_hypervolume,
    hypervolume,
    knee,
    knee_point,
    non_dominated,
    nondominated_sort,
    normalise,
    ranked,
    resolve_objectives,
    run_hypervolume,
    sort_by_objectives,
)
from results.store import Objective, RunError, open_run

MIN2 = ["min", "min"]
ACC_LAT = ["max", "min"]


# ----- values in, masks and ranks out ---------------------------------------------------------------------


def test_one_objective_given_as_a_flat_list():
    assert non_dominated([3, 1, 2], ["min"]).tolist() == [False, True, False]
    assert nondominated_sort([3, 1, 2], ["min"]).tolist() == [2, 0, 1]
    assert nondominated_sort([3, 1, 2], ["max"]).tolist() == [0, 2, 1]


def test_a_missing_value_given_as_none_leaves_its_row_out():
    assert non_dominated([[1, 2], [None, 0], [2, 1]], MIN2).tolist() == [True, False, True]
    assert nondominated_sort([[1, 2], [None, 0], [3, 3]], MIN2).tolist() == [0, -1, 1]


def test_a_table_of_more_than_two_dimensions_is_refused_naming_its_shape():
    with pytest.raises(RunError) as err:
        non_dominated(np.zeros((2, 2, 2)), MIN2)
    assert str(err.value) == "values must be a 2-D table (points x objectives), got shape (2, 2, 2)"


# ----- hypervolume ----------------------------------------------------------------------------------------


def test_the_reference_may_be_given_as_a_one_row_table():
    # The three front points of test_pareto.py's POINTS: 11 by hand.
    assert hypervolume([[1, 4], [2, 2], [4, 1]], MIN2, np.array([[5, 5]])) == pytest.approx(11.0)


@pytest.mark.parametrize(("reference", "shown"), [
    ([5, None], "[5.0, nan]"), ([5, float("inf")], "[5.0, inf]"), ([5, 5, 5], "[5.0, 5.0, 5.0]"),
])  # fmt: skip
def test_a_reference_that_is_not_one_finite_number_per_objective_is_refused(reference, shown):
    with pytest.raises(RunError) as err:
        hypervolume([[1, 4]], MIN2, reference)
    assert str(err.value) == f"reference point {shown} must be 2 finite numbers, one per objective"


def test_no_complete_row_has_no_volume():
    assert hypervolume([[np.nan, 1.0]], MIN2, [5, 5]) == 0.0


def test_a_point_on_the_reference_adds_nothing():
    assert hypervolume([[5, 1]], MIN2, [5, 5]) == 0.0
    assert hypervolume([[5, 1], [1, 4]], MIN2, [5, 5]) == pytest.approx(4.0)  # (5 - 1) * (5 - 4)


def test_the_hypervolume_of_a_single_trial():
    # One trial: every objective is constant, so it is shifted to 0 (not scaled): (1.1 - 0) ** 2 = 1.21.
    # In raw units the span of a constant objective is 1: the same 1.1 x 1.1.
    hv = front_hypervolume([(0.9, 10.0)], ACC_LAT, over="one trial")
    assert hv.value == pytest.approx(1.21)
    assert hv.raw == pytest.approx(1.21)
    assert hv.reference_raw == pytest.approx([0.9 - 1.1, 10.0 + 1.1])
    assert front_hypervolume([(np.nan, 1.0)], ACC_LAT, over="nothing") is None


def test_a_constant_objective_keeps_a_unit_span():
    # Latency is 5 ms in both trials; (0.9, 5) dominates (0.5, 5). Normalised the front is (0, 0): 1.1 * 1.1.
    # Raw reference: accuracy 0.9 - 1.1 * 0.4 = 0.46, latency 5 + 1.1 * 1 = 6.1: (0.9 - 0.46) * 1.1 = 0.484.
    hv = front_hypervolume([(0.9, 5.0), (0.5, 5.0)], ACC_LAT, over="two trials")
    assert hv.value == pytest.approx(1.21)
    assert hv.reference_raw == pytest.approx([0.46, 6.1])
    assert hv.raw == pytest.approx(0.484)
    assert (hv.lower, hv.upper) == ([0.5, 5.0], [0.9, 5.0])


def test_explicit_bounds_replace_the_rows_own():
    # Over accuracy 0.5..1.0 and latency 0..10 ms: (0.9, 10) -> (0.2, 1.0), (0.5, 5) -> (1.0, 0.5).
    # Boxes to 1.1: 0.9 * 0.1 + 0.1 * 0.6 - 0.1 * 0.1 = 0.14; raw: 0.14 * (0.5 * 10) = 0.7.
    hv = front_hypervolume([(0.9, 10.0), (0.5, 5.0)], ACC_LAT, over="bounds", lower=[0.5, 0], upper=[1.0, 10])
    assert hv.value == pytest.approx(0.14)
    assert hv.raw == pytest.approx(0.7)
    assert hv.reference_raw == pytest.approx([0.45, 11.0])
    assert (hv.lower, hv.upper) == ([0.5, 0.0], [1.0, 10.0])


def test_the_hypervolume_as_a_dict():
    hv = front_hypervolume([(0.9, 10.0), (0.5, 5.0)], ACC_LAT, over="two trials")
    out = hv.to_dict()
    assert out == {
        "value": pytest.approx(0.21),
        "raw": pytest.approx(0.42),
        "reference_raw": pytest.approx([0.9 - 0.44, 5 + 5.5]),
        "normalised_over": "two trials",
        "lower": [0.5, 5.0],
        "upper": [0.9, 10.0],
        "reference_normalised": 1.1,
        "definition": "each objective scaled to [0, 1] over two trials (0 best, 1 worst), reference point 1.1 in each",
    }


# ----- normalisation and the knee -------------------------------------------------------------------------


def test_a_constant_objective_is_shifted_not_scaled():
    # lower == upper == 3 in the first objective: 4 maps to 4 - 3 = 1; the second spans 1..2.
    assert normalise([[4, 1.5], [3, 2]], MIN2, [3, 1], [3, 2]).tolist() == [[1.0, 0.5], [0.0, 1.0]]
    assert normalise([[4, 1.5]], ["max", "min"], [5, 1], [5, 2]).tolist() == [[1.0, 0.5]]


def test_the_knee_scales_each_objective_over_its_own_range():
    # Objective 1 spans 0..1, objective 2 spans 100..101. Per objective: A (0, 1), B (0.6, 0.3), C (1, 0);
    # sums 1, 0.9, 1: B is the knee. (Scaled over one common range, A or C would win.)
    assert knee_point([[0, 101], [0.6, 100.3], [1, 100]], MIN2) == 1


def test_no_front_no_knee_word_for_word():
    with pytest.raises(RunError) as err:
        knee_point([[np.nan, 1.0]], MIN2)
    assert str(err.value) == "no point with finite values for every objective; there is no front and no knee"


# ----- a small run by hand --------------------------------------------------------------------------------

# (accuracy %, latency ms, macs): t0 and t1 and t2 form the front; t3 is behind t1 (rank 1), t4 behind t3.
# The objectives declare % for accuracy, the metrics say fraction: an objective keeps its own unit.
METRICS = {"accuracy": "fraction", "latency_ms": "ms", "energy_mj": "mJ", "peak_memory_mb": "MB"}
TRIALS = [(90.0, 9.0, 300), (80.0, 4.0, 200), (70.0, 2.0, 100), (75.0, 5.0, 250), (60.0, 6.0, 400)]


@pytest.fixture
def hand_run(make_run, records):
    template = records(1)[0]  # a complete record's shape; its values are replaced
    rows = []
    for i, (acc, lat, macs) in enumerate(TRIALS):
        row = {**template, "trial_id": f"t{i}", "number": i, "accuracy": acc, "latency_ms": lat, "macs": macs}
        row["energy_mj"] = lat  # energy follows latency: it never changes the front
        rows.append(row)
    failed = {**template, "trial_id": "t5", "number": 5, "status": "failed", "reason": "out of memory"}
    for key in ("accuracy", "latency_ms", "energy_mj"):
        failed.pop(key)
    return open_run(make_run("hand", [*rows, failed], metrics=METRICS))


def test_ranked_puts_each_rank_in_order_best_first_within_it(hand_run):
    table = ranked(hand_run, "accuracy,latency_ms")
    assert table["trial_id"].tolist() == ["t0", "t1", "t2", "t3", "t4"]
    assert table["pareto_rank"].tolist() == [0, 0, 0, 1, 2]
    table = ranked(hand_run, "latency_ms,accuracy")  # by latency first: fastest first
    assert table["trial_id"].tolist() == ["t2", "t1", "t0", "t3", "t4"]


def test_a_front_led_by_a_minimised_objective_is_fastest_first(hand_run):
    assert front(hand_run, "latency_ms,accuracy")["trial_id"].tolist() == ["t2", "t1", "t0"]
    assert front(hand_run, "macs,accuracy")["trial_id"].tolist() == ["t2", "t1", "t0"]


def test_the_knee_of_a_run(hand_run):
    # Front normalised: t0 (0, 1), t1 (1/3, 2/7), t2 (2/3, 0): sums 1, 0.62, 0.67 -> t1.
    assert knee(hand_run, "accuracy,latency_ms")["trial_id"] == "t1"


def test_the_hypervolume_of_a_run(hand_run):
    # Front normalised (0 best; accuracy over 60..90, latency over 2..9): t0 (0, 1), t1 (1/3, 2/7), t2 (2/3, 0).
    # Sweeping the first objective to 1.1: [0, 1/3) height 1.1 - 1, [1/3, 2/3) height 1.1 - 2/7,
    # [2/3, 1.1) height 1.1.
    expected = (1 / 3) * 0.1 + (1 / 3) * (1.1 - 2 / 7) + (1.1 - 2 / 3) * 1.1
    hv = run_hypervolume(hand_run, "accuracy,latency_ms")
    assert hv.value == pytest.approx(expected)
    assert hv.raw == pytest.approx(expected * 30 * 7)  # accuracy spans 60..90, latency 2..9
    assert hv.over == "the run's 5 complete trials"
    assert (hv.lower, hv.upper) == ([60.0, 2.0], [90.0, 9.0])


def test_objectives_resolved_with_their_units(hand_run):
    assert resolve_objectives(hand_run, "params,macs:max,accuracy,latency_ms:max") == [
        Objective("params", "min", "count"),
        Objective("macs", "max", "MACs"),
        Objective("accuracy", "max", "%"),  # the objective's declared unit, not the metric's
        Objective("latency_ms", "max", "ms"),
    ]
    assert resolve_objectives(hand_run, "energy_mj:min") == [Objective("energy_mj", "min", "mJ")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "acc",
            "unknown objective 'acc' for run 'hand'; valid: accuracy, latency_ms, energy_mj, peak_memory_mb, "
            "params, macs",
        ),
        (
            " accuracy:up ",
            "objective 'accuracy:up': direction 'up' is not valid; use :max or :min",
        ),
        (" , ", "no objectives given; name at least one, e.g. accuracy,latency_ms"),
        ("accuracy,accuracy:min", "objectives repeat a name: ['accuracy', 'accuracy']"),
    ],
)
def test_objective_mistakes_word_for_word(hand_run, spec, message):
    with pytest.raises(RunError) as err:
        resolve_objectives(hand_run, spec)
    assert str(err.value) == message


def test_sort_by_objectives_without_rank(hand_run):
    frame = hand_run.complete()
    by_latency = sort_by_objectives(frame, [Objective("latency_ms", "min", "ms")])
    assert by_latency["trial_id"].tolist() == ["t2", "t1", "t3", "t4", "t0"]


def test_ties_keep_the_order_of_the_run():
    # 40 trials over 3 accuracy values: within a value, the trials stay in the order they ran.
    frame = pd.DataFrame({"trial_id": [f"t{i}" for i in range(40)], "accuracy": [float(i % 3) for i in range(40)]})
    ordered = sort_by_objectives(frame, [Objective("accuracy", "max", "%")])
    expected = [f"t{i}" for k in (2, 1, 0) for i in range(40) if i % 3 == k]
    assert ordered["trial_id"].tolist() == expected


def test_ranked_ties_keep_the_order_of_the_run(make_run, records):
    # The five trials of TRIALS, eight times over: each copy of a point shares its rank and its values, so
    # the copies follow each other in the order they ran.
    template = records(1)[0]
    rows = []
    for i in range(40):
        acc, lat, macs = TRIALS[i % 5]
        rows.append({**template, "trial_id": f"t{i:02d}", "number": i, "accuracy": acc, "latency_ms": lat})
        rows[-1].update(macs=macs, energy_mj=lat)
    run = open_run(make_run("ties", rows, metrics=METRICS))
    table = ranked(run, "accuracy,latency_ms")
    assert table["trial_id"].tolist() == [f"t{i:02d}" for k in range(5) for i in range(40) if i % 5 == k]


def test_a_run_without_complete_trials_has_no_knee(make_run, records):
    failed = {**records(1)[0], "status": "failed", "reason": "out of memory"}
    for key in ("accuracy", "latency_ms", "energy_mj", "peak_memory_mb"):
        failed.pop(key)
    run = open_run(make_run("empty", [failed]))
    with pytest.raises(RunError) as err:
        knee(run)
    assert str(err.value) == "run 'empty' has no complete trials; there is no front and no knee"
    assert run_hypervolume(run) is None
