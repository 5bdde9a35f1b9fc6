"""The smaller things a new user met: each fixed, each with a test that fails if it comes back."""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_figures_written_into_the_working_directory_are_ignored_by_git():
    for name in ("front.png", "fronts.svg", "front.html", "profile.pdf"):
        got = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, check=False)
        assert got.returncode == 0, f"{name} is not ignored"
    assert subprocess.run(["git", "check-ignore", "-q", "docs/figure.png"], cwd=ROOT, check=False).returncode == 1


def test_the_readme_python_snippet_runs_as_pasted():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"The same things from Python:\s*```python\n(.*?)```", text, re.S)
    assert block, "the README's Python snippet moved"
    exec(compile(block.group(1), "README.md", "exec"), {})  # our own README, as a user would paste it


def test_export_summary_explains_the_ratio_before_it():
    from nas.export.result import ExportResult
    from search_spaces import PRESETS

    profile = {
        "comparison": [{"metric": "latency_ms", "measured": 16.1, "search": 10.0, "ratio": 1.61}],
        "search_form": {"input_shape": [1, 3, 224, 224]},
    }
    text = ExportResult(Path("exports/x"), PRESETS["espnetv2-0.5"], [], [], {}, profile).summary()
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "latency_ms" in line)
    assert "here = 1.61 x search" in lines[row]
    assert "measured here vs the search's values" in lines[row - 1] and "1x3x224x224" in lines[row - 1]
    assert "x1.61" not in text


def test_count_cross_check_says_why_fvcore_has_no_params(capsys):
    from nas.cli.counting import _print_counts

    stage = {"params": 1, "conv_macs": 2, "linear_macs": 3, "elementwise_ops": 4}
    result = {"input_size": [224, 224], "arch_id": "a", "by_stage": {"L1": stage}, **stage,
              "elementwise_ops_by_kind": {"add": 4},
              "cross_check": {"analytic": {"params": 1, "macs": 5}, "hooks": {"params": 1, "macs": 5}, "agrees": True,
                              "fvcore": {"total": 7}, "ptflops": {"params": 1, "macs": 8},
                              "ptflops_aten": {"params": 1, "macs": 9}}}  # fmt: skip
    _print_counts(result, "eesp:x")
    fvcore = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("│ fvcore"))
    assert "n/a" in fvcore and "FLOPs only" in fvcore


def test_no_token_banner_when_starting_ray(monkeypatch, caplog):
    import ray

    from nas.search.ray_session import ray_session

    banner = "ray._private.authentication.authentication_token_setup"

    def init(**kw):  # what ray.init does on a local start: warn through that module's logger
        logging.getLogger(banner).warning("Token authentication is enabled for this Ray cluster.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with caplog.at_level(logging.WARNING), ray_session(None, 1):
        pass
    assert not [r for r in caplog.records if r.name == banner]
    assert logging.getLogger(banner).level == logging.NOTSET  # put back as it was


def test_front_points_in_plots_carry_trial_ids(make_run, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.axes import Axes

    from results.plots import plot_runs
    from results.store import open_run

    texts: list[str] = []
    real = Axes.annotate

    def spy(self, text, *args, **kw):
        texts.append(str(text))
        return real(self, text, *args, **kw)

    monkeypatch.setattr(Axes, "annotate", spy)
    plot_runs([open_run(make_run("a"))], tmp_path / "front.png")
    assert {"t00000", "t00001", "t00002"} <= set(texts)
