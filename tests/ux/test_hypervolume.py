"""One hypervolume: the console, `espnas pareto`, its plot and `espnas compare` (each run alone) give the same
number for a run, and say how it is normalised; the raw-unit value is in --json."""

from __future__ import annotations

import itertools
import json

import pytest

from results.pareto import HV_REFERENCE, front_hypervolume

from .conftest import POINTS, run_cli

DIRECTIONS = ["max", "min"]
# POINTS by hand: accuracy spans 0.5..0.9, latency 5..10, so normalised (0 best) t0 = (0, 1), t1 = (1, 0) and
# t2 = (0.75, 0.8), all three on the front. Their boxes up to (1.1, 1.1): 0.11 + 0.11 + 0.105, minus the
# pairwise overlaps 0.01 + 0.035 + 0.03, plus the triple overlap 0.01 = 0.26.
EXPECTED = 0.26
# In raw units each normalised unit is 0.4 (accuracy) x 5 ms (latency): 0.26 * 2 = 0.52.
EXPECTED_RAW = 0.52


def test_the_definition_by_hand():
    hv = front_hypervolume(POINTS, DIRECTIONS, over="three trials")
    assert hv.value == pytest.approx(EXPECTED) and hv.raw == pytest.approx(EXPECTED_RAW)
    assert hv.reference_raw == pytest.approx([0.9 - HV_REFERENCE * 0.4, 5 + HV_REFERENCE * 5])
    assert "scaled to [0, 1] over three trials" in hv.definition and "reference point 1.1" in hv.definition


def test_two_points_by_hand():
    hv = front_hypervolume([(0.9, 10.0), (0.5, 5.0)], DIRECTIONS, over="x")
    assert hv.value == pytest.approx(0.21) and hv.raw == pytest.approx(0.42)


def test_console_pareto_plot_and_compare_agree(make_run, capsys, tmp_path):
    from nas.search.objectives import select_objectives
    from nas.search.recorder import Recorder
    from results.plots import _Scene
    from results.store import open_run

    run = make_run("a")
    recorder = Recorder(type("W", (), {"path": tmp_path})(), select_objectives(("accuracy", "latency"), "cpu"), [], {})
    recorder.points = [list(p) for p in POINTS]
    assert recorder.front_summary() == (3, pytest.approx(EXPECTED))  # the live table and the search's summary

    code, out, _ = run_cli(capsys, "pareto", str(run), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["hypervolume"] == pytest.approx(EXPECTED)
    assert data["hypervolume_detail"]["raw"] == pytest.approx(EXPECTED_RAW)
    code, out, _ = run_cli(capsys, "pareto", str(run))
    assert f"hypervolume {EXPECTED:.4g}: each objective scaled to [0, 1] over the run's 3" in out.replace("\n", " ")

    history = _Scene([open_run(run)], None, None, None).history["a"]
    assert history["hypervolume"].iloc[-1] == pytest.approx(EXPECTED)  # the plot's last point

    other = make_run("b", points=[(0.95, 20.0), (0.4, 2.0)])
    _, out, _ = run_cli(capsys, "compare", str(run), str(other), "--json")
    data = json.loads(out)
    assert data["hypervolume_alone"]["a"] == pytest.approx(EXPECTED)
    assert data["hypervolume"]["a"] != pytest.approx(EXPECTED)  # on the union's scale: a different number...
    assert "union" in data["hypervolume_definition"]  # ...and it says so
    assert set(data["hypervolume_raw"]) == {"a", "b"}
    _, out, _ = run_cli(capsys, "compare", str(run), str(other))
    assert "alone" in out and f"{EXPECTED:.4f}" in out


def test_the_running_value_can_fall_as_the_front_improves_but_the_plotted_curve_cannot(make_run):
    """What the README says (Hypervolume): a fourth trial (0.95, 10 ms) dominates t00000 (0.9, 10 ms), yet the
    value over the trials so far falls, because accuracy's 0 moves from 0.9 to 0.95 and t00002 scores worse."""
    from results.plots import _Scene
    from results.store import open_run

    after = front_hypervolume([*POINTS, (0.95, 10.0)], DIRECTIONS, over="four trials")
    # by hand: t3 = (0, 1), t2 = (7/9, 0.8), t1 = (1, 0); boxes 0.11 + 0.11 + (2.9/9) * 0.3, overlaps
    # (2.9/9) * 0.1 + 0.01 + 0.03, triple 0.01
    assert after.value == pytest.approx(0.19 + 0.58 / 9) and after.value < EXPECTED
    history = _Scene([open_run(make_run("a", points=[*POINTS, (0.95, 10.0)]))], None, None, None).history["a"]
    curve = history["hypervolume"].tolist()
    assert all(b >= a for a, b in itertools.pairwise(curve)) and curve[-1] == pytest.approx(after.value)


def test_the_search_help_says_why_the_value_can_fall():
    from nas.cli import build_parser

    text = " ".join(build_parser("search")._subparsers._group_actions[0].choices["search"].description.split())
    assert "it can fall when a new trial widens an objective's range" in text
