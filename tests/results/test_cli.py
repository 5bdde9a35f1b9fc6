"""`espnas runs | pareto | compare | select`, in-process: output, figures, and one-line errors."""

from __future__ import annotations

import json

import pytest

from nas.cli import main


@pytest.fixture
def two(make_run, records):
    a = make_run("h100", records(80, seed=0))
    b = make_run("cpu", records(60, seed=1, shift=-2.0), finish=False)  # still running
    return a, b


def test_runs_lists_each_run(two, tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "h100" in out and "cpu" in out and "running" in out and "ended" in out
    assert main(["runs", str(tmp_path), "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["h100"]["trials"] == 80


def test_pareto_prints_the_front(two, capsys):
    assert main(["pareto", str(two[0]), "--objectives", "accuracy,latency_ms"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run h100") and "front of" in out
    assert main(["pareto", str(two[0]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["front"] and all(row["trial_id"].startswith("s0-") for row in data["front"])


def test_compare_prints_and_plots(two, tmp_path, capsys):
    png, html = tmp_path / "fig" / "cmp.png", tmp_path / "fig" / "cmp.html"
    argv = ["compare", *map(str, two), "--where", "latency_ms <= 3", "--plot", str(png), "--plot", str(html)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "hypervolume" in out and "coverage" in out and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    page = html.read_text()
    assert "<html" in page and "plotly" in page and 'src="https://cdn' not in page  # works offline
    assert main(["compare", *map(str, two), "--json", "--reference-point", "60,8,40"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reference_point"]["raw"] == {"accuracy": 60.0, "latency_ms": 8.0, "energy_mj": 40.0}


def test_select_prints_configs(two, capsys):
    assert main(["select", str(two[0]), "--knee", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channels"]
    assert main(["select", str(two[0]), "--where", "latency_ms <= 3"]) == 0
    assert capsys.readouterr().out.startswith("trial s0-")
    assert main(["select", str(two[0]), "--rank", "0", "--json"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 2


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["pareto", "{tmp}/nope"], "no run directory"),
        (["pareto", "{tmp}/empty"], "has no complete trials (no trials yet)"),
        (["pareto", "{tmp}/h100", "--objectives", "accuracy,speed"], "unknown objective 'speed'"),
        (["select", "{tmp}/h100", "--where", "latency_ms <<= 3"], "malformed constraint"),
        (["compare", "{tmp}/h100"], "at least two runs"),
        (["compare", "{tmp}/h100", "{tmp}/cpu", "--reference-point", "1,2"], "must be 3 numbers"),
        (["pareto", "{tmp}/h100", "--plot", "{tmp}/x.pdf"], "must end in .png, .svg, .html"),
    ],
)
def test_mistakes_are_one_line_errors(two, make_run, tmp_path, capsys, argv, fragment):
    make_run("empty", [])
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"espnas {argv[0]}: error: ") and fragment in err
    assert err.count("\n") == 1
