"""Ctrl-C on a real search (Ray, Optuna, a subprocess with its output in a pipe, as in a cluster log)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigint_on_a_real_search_then_the_printed_resume(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "nas", "search", "--objectives", "latency,params", "--trials", "6",
           "--latency-budget", "0.3", "--run-dir", str(run_dir)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 900
    for line in proc.stdout:  # line-oriented progress: each finished trial's lines, flushed at once
        lines.append(line)
        if line.startswith("t0") and " complete:" in line:
            break
        assert time.monotonic() < deadline, "no trial finished in 15 minutes"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted;" in err
    command = err.split("resume with: ")[1].strip()
    assert command == f"espnas search --resume --run-dir {run_dir}"
    listed = subprocess.run([sys.executable, "-m", "nas", "runs", str(tmp_path), "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(listed.stdout)[0]["state"] == "interrupted"

    resumed = subprocess.run([sys.executable, "-m", "nas", *shlex.split(command)[1:]], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "note: resuming" in resumed.stdout.split("each finished trial, then the counts")[0]
    assert f"next: espnas pareto {run_dir}" in resumed.stdout.splitlines()
