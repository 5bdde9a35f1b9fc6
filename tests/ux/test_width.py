"""Output that reads in a log and at 80 columns: no table wider than 80, no header or cell cut with an
ellipsis, paths and commands never broken, no colour inside paths."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nas.cli import _console

from .conftest import run_cli


@pytest.fixture(autouse=True)
def eighty(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def assert_fits(text: str, width: int = 80, unbroken: tuple[str, ...] = ()) -> None:
    """Every line fits `width` except the lines that are exactly one of `unbroken` (a path or command line)."""
    assert "…" not in text
    for line in text.splitlines():
        if line in unbroken:
            continue
        assert len(line) <= width, f"{len(line)} columns: {line!r}"


@pytest.mark.parametrize(
    "argv",
    [("presets",), ("count", "espnetv2-1.0"), ("count", "espnetv2-0.5", "--by-layer")],
)
def test_tables_fit_80_columns(capsys, argv):
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    compact = [line for line in out.splitlines() if line.startswith("eesp:")]  # a spec: printed whole
    assert_fits(out, unbroken=tuple(compact))
    if "--by-layer" in argv:
        assert "stages.1.units.0.reduce.conv" in out  # a layer name is never cut


def test_without_a_terminal_the_width_is_columns_or_80(monkeypatch):
    assert _console.console().width == 80
    monkeypatch.setenv("COLUMNS", "132")
    assert _console.console().width == 132
    monkeypatch.delenv("COLUMNS")
    assert _console.console().width == 80


def test_paths_are_neither_broken_nor_coloured(monkeypatch):
    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdout", stream)
    out = _console.console()
    path = "runs/search-20261201-201500/" + "x" * 90
    _console.line(out, f"next: espnas pareto {path}")
    assert stream.getvalue() == f"next: espnas pareto {path}\n"  # one line, no escape codes around the digits


def test_runs_table_fits_and_says_interrupted(make_run, capsys, tmp_path):
    from results.store import RunWriter

    make_run("finished")
    make_run("busy", ended=False)
    RunWriter.open_existing(make_run("stopped", ended=False)).interrupt()
    code, out, _ = run_cli(capsys, "runs", str(tmp_path))
    assert code == 0
    assert_fits(out)
    states = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in out.splitlines() if "│" in line}
    assert out.splitlines()[0] == f"runs under {tmp_path}:"
    assert states == {"busy": "running", "finished": "ended", "stopped": "interrupted"}
    assert "outside" in out and "not shown at 80 columns: objectives" in " ".join(out.split())  # dropped: named


LONG = "search-20261201-201500-" + "a-long-run-name-" * 3  # 71 characters


def test_pareto_and_compare_print_tables_that_fit(make_run, capsys):
    a, b = make_run(LONG), make_run("b", points=[(0.95, 20.0), (0.4, 2.0)])
    code, out, _ = run_cli(capsys, "pareto", str(a))
    assert code == 0
    assert_fits(out, unbroken=(f"path: {a}",))
    assert f"path: {a}" in out.splitlines()  # the path whole, on its line
    assert "┃ trial  ┃ accuracy ┃ latency_ms ┃" in out and "t00002" in out  # a table like the other commands'
    code, out, _ = run_cli(capsys, "compare", str(a), str(b), "--where", "latency_ms <= 9")
    assert code == 0
    assert_fits(out)
    lines = out.splitlines()
    runs = next(i for i, line in enumerate(lines) if "┃ #  ┃ run" in line)
    for header in ("trials", "front", "hypervolume", "alone"):  # a long name folds: no column is dropped
        assert header in lines[runs]
    name = "".join(line.split("│")[2].strip() for line in lines[runs + 2 : runs + 5])
    assert name == LONG and "C(row, col)" in out  # folded in its cell, nothing of it lost
    assert f"{LONG}: trial t00002" in " ".join(out.split())  # the best trial under the constraint


def test_narrow_reports_drop_columns_and_say_which(make_run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    a, b = make_run("a"), make_run("b", points=[(0.95, 20.0), (0.4, 2.0)])
    code, out, _ = run_cli(capsys, "pareto", str(a))
    assert code == 0 and "┃ trial" in out
    assert_fits(out, 50, unbroken=(f"path: {a}",))
    assert "not shown at 50 columns: params, conv MACs" in " ".join(out.split())  # counts first, then the id
    code, out, _ = run_cli(capsys, "compare", str(a), str(b))
    assert code == 0
    assert_fits(out, 50)
    assert "not shown at 50 columns: params" in " ".join(out.split())


def test_pareto_and_compare_json_are_unchanged(make_run, capsys):
    from results.report import compare_report, pareto_report

    a, b = make_run("a"), make_run("b", points=[(0.95, 20.0), (0.4, 2.0)])
    assert run_cli(capsys, "pareto", str(a), "--json")[1] == pareto_report(a, as_json=True) + "\n"
    assert run_cli(capsys, "compare", str(a), str(b), "--json")[1] == compare_report([a, b], as_json=True) + "\n"


def _outcome(run_dir: Path, notes: list[str]):
    from nas.search.driver import SearchOutcome

    front = pd.DataFrame(
        [{"trial_id": "t00007", "accuracy": 0.975, "latency_ms": 12.33, "macs": 128_900_000, "params": 1_916_000,
          "arch_id": "0a0e75510a60"}]
    )  # fmt: skip
    objectives = [{"name": "accuracy", "direction": "max", "unit": "fraction"},
                  {"name": "latency_ms", "direction": "min", "unit": "ms"}]  # fmt: skip
    counts = {"complete": 16, "failed": 0, "pruned": 0, "infeasible": 2}
    return SearchOutcome(run_dir, objectives, front, counts, 0.5, notes, 315.0, 3.0)


def test_search_output_fits_and_notes_come_when_they_arise(monkeypatch, capsys, make_run):
    import nas.cli.search as cli

    run_dir = make_run("x" * 70)  # a long path: the hint lines must still hold it whole
    note = "energy is not an objective: no power source on cpu (NVML, RAPL or Jetson rails)"

    def fake(settings, on_note=None):
        on_note(note)
        print("t00001 complete (...)")  # what the progress lines print while the search runs
        return _outcome(run_dir, [note, "a note that arose at the end"])

    monkeypatch.setattr(cli, "run_search", fake)
    code, out, _ = run_cli(capsys, "search", "--run-dir", str(run_dir))
    assert code == 0
    lines = out.splitlines()
    first = "note: energy is not an objective: no power source on cpu (NVML, RAPL or Jetson"
    assert lines.count(first) == 1 and lines[lines.index(first) + 1] == "  rails)"  # wrapped between words
    assert lines.index(first) < lines.index("t00001 complete (...)")  # shown when it arose
    assert "note: a note that arose at the end" in lines
    assert f"run directory: {run_dir}" in lines and f"next: espnas pareto {run_dir}" in lines
    assert_fits(out, unbroken=(f"run directory: {run_dir}", f"next: espnas pareto {run_dir}"))
    assert "HV (hypervolume): each objective scaled to [0, 1]" in " ".join(out.split())


def test_search_json_has_the_raw_hypervolume(monkeypatch, capsys, make_run):
    import nas.cli.search as cli

    run_dir = make_run("r")
    monkeypatch.setattr(cli, "run_search", lambda settings, on_note=None: _outcome(run_dir, []))
    code, out, _ = run_cli(capsys, "search", "--json")
    data = json.loads(out)
    assert code == 0 and data["hypervolume"] == pytest.approx(0.26) and data["hypervolume_raw"] == pytest.approx(0.52)
    assert "reference point 1.1" in data["hypervolume_detail"]["definition"]


def test_profile_table_drops_columns_by_priority_and_says_so():
    from rich.console import Console

    from nas.cli.profile import _table
    from profilers.profile import ProfileReport

    record = {"model": "torchvision:mobilenet_v3_small", "batch_size": 64, "metric": "latency", "value": 1234.5,
              "unit": "ms", "per_image": 19.29, "spread": {"iqr": 12.25, "ci95": [1220.25, 1250.75]},
              "n_samples": 120, "ratio": 1.2345, "backend": "cuda-graph-events"}  # fmt: skip
    report = ProfileReport([record], {"device": "cuda"}, {"device_name": "NVIDIA H200", "threads": 1, "torch": "2.13"})
    console = Console(width=80, record=True)
    console.print(_table(report, 80))
    text = console.export_text()
    assert_fits(text)
    assert "torchvision:mobilenet_v3_small" in text and "1.234" in text and "12.2" in text  # the IQR is kept
    assert "not shown at 80 columns: backend" in text


cells = st.text(alphabet="ab1 .:/Δ日", min_size=0, max_size=14)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(cells, st.integers(0, 3)), min_size=1, max_size=6),
    st.lists(st.lists(cells, min_size=6, max_size=6), min_size=0, max_size=5),
    st.integers(20, 90),
)
@example(  # ":a:" was drawn as an emoji two cells wide while the widths counted three
    spec=[("", 0)] * 5 + [("", 1)], rows=[[""] * 6] * 3 + [["", "", "", "", "", ":a:"]], width=25
)
def test_fitted_table_drops_exactly_what_rich_says_does_not_fit(spec, rows, width):
    """The widths fitted_table adds up itself agree with rich's own measurement of the table it returns: it
    fits (unless only undroppable columns are left), and the last column it dropped did not fit."""
    from rich.console import Console

    columns = [_console.Column(f"{i}{text}", priority=priority) for i, (text, priority) in enumerate(spec)]
    rows = [row[: len(columns)] for row in rows]
    table, dropped = _console.fitted_table(columns, rows, width, title="t")
    measure = Console(width=10_000).measure
    kept = [i for i, c in enumerate(columns) if c.header not in dropped]
    assert measure(table).maximum <= width or all(columns[i].priority == 0 for i in kept)
    if dropped:
        back = sorted([*kept, next(i for i, c in enumerate(columns) if c.header == dropped[-1])])
        wider, _ = _console.fitted_table([columns[i] for i in back], [[r[i] for i in back] for r in rows], 10_000)
        assert measure(wider).maximum > width


def test_a_cell_with_an_emoji_code_is_shown_as_written():
    from rich.console import Console

    table, _ = _console.fitted_table([_console.Column("run")], [["t:a:b :smile:"]], 80)
    console = Console(width=80, record=True)
    console.print(table)
    assert "t:a:b :smile:" in console.export_text()
