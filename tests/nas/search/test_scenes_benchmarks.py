"""The issue-12 benchmark scripts' logic on hand-made results: merging per-seed files, and the MO-ASHA replay
with the zero-cost first rung (which trials train, what the replay charges)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _row(curve: list[float], seconds: float, macs: int, score: float) -> dict:
    return {"curve": curve, "seconds": seconds, "macs": macs, "zero_cost": {"m": score}, "zero_cost_seconds": 0.5}


ROWS = [
    _row([0.1, 0.2, 0.3, 0.4], 4.0, 100, 1.0),
    _row([0.5, 0.6, 0.7, 0.8], 8.0, 200, 0.0),  # dominated at rung 0: lower score and more MACs than row 0
    _row([0.2, 0.3, 0.4, 0.9], 12.0, 300, 2.0),
]


def test_full_fidelity_replay_trains_everything_to_the_end():
    replay = _script("mo_asha_replay").replay
    spent, done = replay(ROWS, [0, 1, 2], None, 3.0)
    assert spent == pytest.approx(24.0) and done == [(0.4, 100), (0.8, 200), (0.9, 300)]


def test_the_zero_cost_rung_skips_the_dominated_trial_and_charges_the_scoring():
    replay = _script("mo_asha_replay").replay
    spent, done = replay(ROWS, [0, 1, 2], None, 3.0, zero_cost=("m", 0.5))
    # Row 1 is not trained; every row is scored (0.5 s each); rows 0 and 2 train to the end.
    assert spent == pytest.approx(3 * 0.5 + 4.0 + 12.0) and done == [(0.4, 100), (0.9, 300)]


def test_merge_joins_the_seeds_of_two_files(tmp_path):
    merge = _script("scenes_ranking").merge
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"k": {"c": {"spec": "x", "zero_cost": {"m": 1.0}, "long": {"0": {"accuracy": 0.5}}}}}))
    b.write_text(json.dumps({"k": {"c": {"spec": "x", "long": {"1": {"accuracy": 0.7}}, "proxy": {"1": {}}}}}))
    merged = merge([a, b])["k"]["c"]
    assert merged["zero_cost"] == {"m": 1.0} and merged["spec"] == "x"
    assert merged["long"] == {"0": {"accuracy": 0.5}, "1": {"accuracy": 0.7}} and merged["proxy"] == {"1": {}}
