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


def _run(acc: float, curve: tuple[float, ...] = ()) -> dict:
    return {"accuracy": acc, "curve": list(curve or (acc,)), "seconds": 1.0}


def test_summarise_seed_noise_spread_and_rankings_by_hand():
    summarise = _script("scenes_ranking").summarise
    rows = {
        # two presets with two long seeds each; one stages config with seed 0 only
        "espnetv2-0.5": {
            "macs_224": 1,
            "proxy": {"0": _run(0.2)},
            "long": {"0": _run(0.50, (0.3, 0.5)), "1": _run(0.52)},
        },
        "espnetv2-2.0": {
            "macs_224": 3,
            "proxy": {"0": _run(0.4)},
            "long": {"0": _run(0.70, (0.6, 0.7)), "1": _run(0.66)},
        },
        "stages-0": {"macs_224": 2, "proxy": {"0": _run(0.3)}, "long": {"0": _run(0.80, (0.2, 0.8))}},
        "untrained": {"macs_224": 9, "long": {"0": _run(0.9)}},  # no proxy result: not ranked
    }
    out = summarise(rows, seeds=2)
    assert out["configs"] == 3
    # preset means 0.51 and 0.68: spread 17 points
    assert out["preset_spread_points"] == pytest.approx(17.0)
    # stdev of (0.50, 0.52) is 0.01414, of (0.70, 0.66) 0.02828; only configs with two seeds count
    assert out["seed_std_configs"] == 2 and out["seed_std_points"] == pytest.approx(
        100 * (0.014142 + 0.028284) / 2, rel=1e-4
    )
    # proxy 0.2, 0.4, 0.3 (ranks 1, 3, 2) against long means 0.51, 0.68, 0.80 (ranks 1, 2, 3) -> rho 0.5
    assert out["proxy_spearman"] == pytest.approx(0.5)
    # epoch 1 of the seed-0 curves: 0.3, 0.6, 0.2 against 0.50, 0.70, 0.80 -> ranks (2, 3, 1) vs (1, 2, 3): -0.5
    assert out["seed0_long_epoch1_spearman"] == pytest.approx(-0.5)
    assert out["macs_spearman"] == pytest.approx(0.5)  # MACs 1, 3, 2 against ranks 1, 2, 3


def test_summarise_proxy_seed_noise_counts_only_configs_with_two_proxy_seeds():
    summarise = _script("scenes_ranking").summarise
    rows = {
        "a": {"macs_224": 1, "proxy": {"0": _run(0.40), "1": _run(0.44)}, "long": {"0": _run(0.5)}},
        "b": {"macs_224": 2, "proxy": {"0": _run(0.30)}, "long": {"0": _run(0.6)}},
    }
    out = summarise(rows, seeds=2)
    # stdev of (0.40, 0.44) is 0.028284; "b" has one proxy seed and no second long seed
    assert out["proxy_seed_std_configs"] == 1 and out["proxy_seed_std_points"] == pytest.approx(2.8284, rel=1e-4)
    assert "seed_std_points" not in out
