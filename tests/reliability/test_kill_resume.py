"""kill -9 of a real search at four moments, then --resume: nothing recorded is lost or changed, no config
that completed is trained again, the run ends with exactly the requested trials, and no temporary file is
left. Slow (a real Ray search per moment, twice): `pytest -m slow tests/reliability/test_kill_resume.py`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TRIALS = 4


def _complete(run_dir: Path) -> int:
    from results.store import RunError, read_trials

    if not (run_dir / "run.json").exists():
        return -1
    try:
        frame = read_trials(run_dir)
    except RunError:
        return -1
    return int((frame["status"] == "complete").sum())


def _batches(run_dir: Path) -> int:
    trials = run_dir / "trials"
    return len(list(trials.glob("*.parquet"))) if trials.is_dir() else 0


# When to kill: a predicate over the run directory (polled every 20 ms), and a pause after it holds.
MOMENTS = {
    "before the first record": (lambda d: (d / "run.json").exists(), 0.0),
    "after the first record": (lambda d: _batches(d) >= 1, 0.0),
    "during a trial": (lambda d: _complete(d) >= 1, 0.4),  # the next trial is being measured
    "before the last trial ends": (lambda d: _complete(d) >= TRIALS - 1, 0.0),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_9_then_resume_repeats_no_complete_config(tmp_path, moment):
    from results.store import read_trials

    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "nas", "search", "--objectives", "latency,params", "--trials", str(TRIALS),
        "--latency-budget", "0.2", "--run-dir", str(run_dir), "--no-progress", "--seed", "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ready, pause = MOMENTS[moment]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 400
        while time.time() < deadline and proc.poll() is None and not ready(run_dir):
            time.sleep(0.02)
        time.sleep(pause)
        assert proc.poll() is None, "the search ended before the moment to kill it"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the search and every Ray process it started
        proc.wait()
    before = read_trials(run_dir) if (run_dir / "run.json").exists() else None

    resumed = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = read_trials(run_dir)
    complete = after[after["status"] == "complete"]
    assert len(complete) == TRIALS
    assert complete["arch_id"].is_unique, "a config that completed was trained again"
    assert after["number"].is_unique and after["trial_id"].is_unique
    if before is not None and len(before):
        kept = after.set_index("trial_id").loc[before["trial_id"]]
        assert list(kept["status"]) == list(before["status"])  # nothing recorded was lost or changed
        assert kept["latency_ms"].fillna(-1).tolist() == before["latency_ms"].fillna(-1).tolist()
    leftovers = [p for p in run_dir.rglob(".*.tmp") if "ray" not in p.relative_to(run_dir).parts]
    assert not leftovers
