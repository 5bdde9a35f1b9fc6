"""Slow search tests: a real search with proxy training, a multi-node Ray cluster with two device types,
and SIGKILL + --resume. Run with `pytest -m slow tests/nas/test_search_slow.py`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.search.driver import SearchSettings, run_search

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def test_real_tiny_search_with_proxy_training(tmp_path):
    pytest.importorskip("nas.train.proxy", reason="the proxy trainer (nas/proxy.py) is not there yet")
    outcome = run_search(
        SearchSettings(
            trials=3,
            objectives=("accuracy", "latency"),
            proxy_epochs=1,
            proxy_max_steps=5,
            latency_budget_s=0.1,
            run_dir=str(tmp_path / "run"),
            progress=False,
            early_stop="asha",
        )
    )
    trials = outcome.front
    assert len(trials) >= 1
    from results.store import open_run

    run = open_run(outcome.run_dir)
    done = run.trials[run.trials["status"] != "infeasible"]
    assert len(done) == 3
    complete = done[done["status"] == "complete"]
    assert len(complete) >= 1 and complete["accuracy"].between(0, 1).all()
    # The curve holds one validation accuracy per proxy epoch (here one), and the trial's accuracy is its last.
    for accuracy, curve_json in zip(complete["accuracy"], complete["curve_json"], strict=True):
        curve = json.loads(curve_json)
        assert len(curve) == 1 and curve[-1] == pytest.approx(accuracy)


def test_targets_are_measured_on_nodes_of_their_type(tmp_path):
    """Two worker nodes carry custom resources standing for two device types; every trial's measurement for
    target X ran on the node that has resource X."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    node_a = cluster.add_node(num_cpus=1, resources={"devA": 1})
    node_b = cluster.add_node(num_cpus=1, resources={"devB": 1})
    try:
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        cluster.wait_for_nodes()
        outcome = run_search(
            SearchSettings(
                trials=2,
                objectives=("latency", "params"),
                targets=("devA", "devB"),
                latency_budget_s=0.05,
                run_dir=str(tmp_path / "run"),
                progress=False,
            )
        )
        node_of = {"devA": node_a.node_id, "devB": node_b.node_id}
    finally:
        ray.shutdown()
        cluster.shutdown()
    from results.store import open_run

    run = open_run(outcome.run_dir)
    done = run.trials[run.trials["status"] == "complete"]
    assert len(done) == 2
    for _, row in done.iterrows():
        where = json.loads(row["fingerprint_json"])
        for target in ("devA", "devB"):
            assert where[target]["where"]["node_id"] == node_of[target]
            assert where[target]["where"]["target"] == target
        # the objective is the worst target; both per-target columns are recorded
        per = [row["latency_ms_deva"], row["latency_ms_devb"]]
        assert row["latency_ms"] == max(per)
    assert set(run.metadata["targets"]) == {"devA", "devB"}


def _records(run_dir: Path):
    from results.store import read_trials

    if not (run_dir / "run.json").exists():
        return None
    return read_trials(run_dir)


def test_sigkill_and_resume_loses_and_repeats_no_trial(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "nas",
        "search",
        "--objectives",
        "latency,params",
        "--trials",
        "6",
        "--latency-budget",
        "0.3",
        "--run-dir",
        str(run_dir),
        "--no-progress",
        "--seed",
        "5",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            frame = _records(run_dir)
            if frame is not None and (frame["status"] == "complete").sum() >= 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the search recorded no two trials in 300 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the search and every Ray process it started
        proc.wait()
    before = _records(run_dir)
    assert 2 <= (before["status"] == "complete").sum() < 6

    resumed = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _records(run_dir)
    feasible = after[after["status"] != "infeasible"]
    assert len(feasible) == 6 and set(feasible["status"]) == {"complete"}
    assert after["number"].is_unique and after["trial_id"].is_unique
    # nothing recorded before the kill was lost or changed
    kept = after.set_index("trial_id").loc[before["trial_id"]]
    assert list(kept["number"]) == list(before["number"])
    assert list(kept["status"]) == list(before["status"])
    assert kept["latency_ms"].fillna(-1).tolist() == before["latency_ms"].fillna(-1).tolist()
    import optuna

    study = optuna.load_study(study_name="espnas", storage=f"sqlite:///{run_dir / 'optuna.db'}")
    complete = [
        t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
    ]  # a proposal of a config already complete is told its values without a record (nas.search.searcher)
    assert len(complete) == len(after)  # every record (feasible or not) told exactly once
    # no configuration was evaluated twice: an interrupted trial re-runs under a new number only
    assert feasible["config_json"].notna().all()
