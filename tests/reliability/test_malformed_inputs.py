"""Malformed inputs across the CLI, table-driven: each gives exit status 2 and one line naming the problem
(with a fragment of the expected message), and leaves nothing behind in the working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas.cli import main
from tests.reliability.runs import small_run

# (argv, fragment of the one-line error). RUN is the stored run, FILE an existing file, DIR an existing dir.
CASES = [
    # search: every setting checked before a run directory exists
    (["search", "--seed", "-1"], "--seed -1 is invalid; valid: an integer from 0 to 2147483647"),
    (["search", "--seed", "9" * 30], "valid: an integer from 0 to 2147483647"),
    (["search", "--image-size", "16"], "--image-size 16 is invalid; valid: an integer, 32 or more"),
    (["search", "--image-size", "0"], "--image-size 0 is invalid"),
    (["search", "--latency-budget", "0"], "--latency-budget 0.0 is invalid; valid: a finite number, more than 0"),
    (["search", "--latency-budget", "nan"], "--latency-budget nan is invalid"),
    (["search", "--measure-threads", "0"], "--measure-threads 0 is invalid"),
    (["search", "--concurrency", "0"], "--concurrency 0 is invalid"),
    (["search", "--proxy-max-steps", "0"], "--proxy-max-steps 0 is invalid"),
    (["search", "--proxy-epochs", "0"], "--proxy-epochs 0 is invalid"),
    (["search", "--cpus-per-trial", "0"], "--cpus-per-trial 0.0 is invalid"),
    (["search", "--cpus-per-trial", "100000"], "is more than this machine's"),
    (["search", "--gpus-per-trial", "-1"], "--gpus-per-trial -1.0 is invalid"),
    (["search", "--retries", "-1"], "--retries -1 is invalid"),
    (["search", "--trials", "0"], "--trials 0 is invalid"),
    (["search", "--storage", "bogus://x"], "--storage 'bogus://x' is invalid; valid: an RDB URL"),
    (["search", "--storage", "not a url"], "--storage 'not a url' is invalid"),
    (["search", "--run-dir", "FILE"], "is a file; valid: a directory"),
    (["search", "--run-dir", "FILE/below"], "is a file; valid: a directory"),
    (["search", "--name", "../../x"], "--name '../../x' is invalid"),
    (["search", "--name", "/abs"], "--name '/abs' is invalid"),
    (["search", "--name", ".."], "--name '..' is invalid"),
    (["search", "--data", "/nonexistent/data"], "not found"),
    (["search", "--sampler", "nosuchmodule:Sampler"], "cannot be imported"),
    (["search", "--sampler", "bogus"], "unknown sampler 'bogus'"),
    (["search", "EMPTY_SPACE"], "varies no knob"),
    (["search", "--resume", "--run-dir", "DIR"], "no run to resume"),
    # train: checked before a model is built or --out is written
    (["train", "espnetv2-0.5", "--seed", "-1"], "--seed -1 is invalid"),
    (["train", "espnetv2-0.5", "--seed", "9" * 30], "valid: an integer from 0 to 2147483647"),
    (["train", "espnetv2-0.5", "--label-smoothing", "5"], "valid: a number in [0, 1)"),
    (["train", "espnetv2-0.5", "--label-smoothing", "-1"], "--label-smoothing -1.0 is invalid"),
    (["train", "espnetv2-0.5", "--label-smoothing", "nan"], "--label-smoothing nan is invalid"),
    (["train", "espnetv2-0.5", "--image-size", "0"], "--image-size 0 is invalid"),
    (["train", "espnetv2-0.5", "--image-size", "16"], "--image-size 16 is invalid"),
    (["train", "espnetv2-0.5", "--out", "FILE"], "--out 'FILE' is invalid"),
    (["train", "espnetv2-0.5", "--batch-size", "1"], "--batch-size 1 is invalid"),
    (["train", "espnetv2-0.5", "--epochs", "0"], "--epochs 0 is invalid"),
    (["train", "espnetv2-0.5", "--data", "ONE_CLASS"], "has one class"),
    # reading runs
    (["pareto", "RUN", "--plot", "FILE/x.png"], "is a file, not a directory"),
    (["pareto", "RUN", "--plot", "DIR"], "must end in"),
    (["pareto", "RUN", "--plot", "DIR.png"], "is a directory"),
    (["select", "RUN", "--knee", "--all"], "--all goes with --where"),
    (["select", "RUN", "--knee", "--by", "accuracy"], "--by accuracy goes with --where"),
    (["select", "RUN", "--where", "latency_ms <= 0x" + "f" * 400], "is too large"),
    (["select", "RUN", "--where", "not " * 5000 + "latency_ms < 1"], "at most 2000"),
    (["select", "RUN", "--where", "not " * 60 + "latency_ms < 1"], "nested too deeply"),
    (["runs", "/nonexistent/runs"], "no directory"),
    # export: checked before any data is loaded or anything is trained
    (["export", "--config", "espnetv2-0.5", "--seed", "-1"], "--seed -1 is invalid"),
    (["export", "--config", "espnetv2-0.5", "--image-size", "16"], "--image-size 16 is invalid"),
    (["export", "--config", "espnetv2-0.5", "--batch-size", "1"], "--batch-size 1 is invalid"),
    (["export", "--config", "espnetv2-0.5", "--out", "ONE_CLASS", "--force"], "is not an espnas export"),
    (["export", "--config", "espnetv2-0.5", "--out", "FILE", "--force"], "is not a directory"),
    # profiling
    (["profile", "espnetv2-0.5", "--out", "DIR"], "is a directory; valid: a file path"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Path("FILE").write_text("a file\n")
    Path("DIR").mkdir()
    Path("DIR.png").mkdir()
    Path("EMPTY_SPACE").write_text('name = "fixed"\n')
    from tests.nas.datafiles import write_folder

    write_folder(Path("ONE_CLASS"), {"cat": 4})
    small_run(tmp_path, "RUN")
    return tmp_path


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("argv", "fragment"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_malformed_input_is_one_line_exit_2_and_writes_nothing(workdir, argv, fragment, capsys):
    before = _snapshot(workdir)
    assert main([*argv, "--no-progress"] if argv[0] in ("search", "train") else argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"espnas {argv[0]}: error:"), err
    assert "\n" not in err and "Traceback" not in err, err
    assert fragment in err, err
    assert _snapshot(workdir) == before  # no stub run, checkpoint or plot left behind
    assert not any(name.startswith(".") and name.endswith(".tmp") for name in os.listdir(workdir))
