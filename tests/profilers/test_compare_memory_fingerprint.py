from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profilers.compare import compare_latency, ratio_ci
from profilers.fingerprint import comparable, fingerprint
from search_spaces.errors import EspnasError


def test_compare_interleaves_and_reports_ratios(fakes):
    log: list[str] = []
    a, b = fakes.SleepNet(2.0, log, "A"), fakes.SleepNet(4.0, log, "B")
    cmp = compare_latency([a, b], (3, 2, 2), rounds=4, time_budget_s=0.4, threads=1)
    assert cmp.ratios[0] == 1.0
    assert 1.5 < cmp.ratios[1] < 2.5
    lo, hi = cmp.ratio_ci95[1]
    assert lo <= cmp.ratios[1] <= hi
    switches = sum(1 for x, y in itertools.pairwise(log) if x != y)
    assert switches >= 2 * 4 - 1  # A-block B-block per round, after warm-up
    assert all(r.fingerprint == cmp.fingerprint for r in cmp.results)
    assert cmp.to_dict()["rounds"] == 4


def test_compare_validates(fakes):
    SleepNet = fakes.SleepNet
    with pytest.raises(EspnasError):
        compare_latency([], (3, 2, 2))
    with pytest.raises(EspnasError):
        compare_latency([SleepNet(1.0)], (3, 2, 2), rounds=0)
    with pytest.raises(EspnasError, match="flags"):
        compare_latency([SleepNet(1.0)], (3, 2, 2), deploy=[True, False])


def test_ratio_ci_of_identical_samples_is_one():
    assert ratio_ci([2.0] * 10, [2.0] * 10) == (1.0, 1.0)


_PEAK_MEMORY_PROBE = """
import json, torch
from tests.profilers.conftest import TinyNet
from profilers.memory import measure_peak_memory
torch.manual_seed(0)
tiny = TinyNet().eval()
small = measure_peak_memory(tiny, (3, 32, 32), batch_size=1, threads=1)
big = measure_peak_memory(tiny, (3, 256, 256), batch_size=8, threads=1)
print(json.dumps({"small": small.to_dict(), "big": big.to_dict()}, default=str))
"""


def test_cpu_peak_memory_sees_activations():
    # In a fresh process: after hundreds of tests this process's heap holds freed pages that the allocator
    # reuses without the resident set growing, which would hide the activations from an RSS measurement.
    # A fixed mmap threshold: glibc's default raises it after the warm-up frees a large block, and the measured
    # forward then reuses heap pages that are already resident (growth 0.0, about one full-suite run in four).
    # RSS cannot see reused pages; this pins the measuring logic, not glibc's reuse (see profilers/memory.py).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    small, big = result["small"], result["big"]
    assert small["unit"] == "MB" and small["backend"] == "memory-cpu-rss"
    assert big["peak_mb"] >= big["baseline_mb"]
    # 8 x 8 x 256 x 256 fp32 activations are 16 MB: the growth must see at least half.
    assert big["growth_mb"] > 8
    assert big["weights_mb"] < 0.01
    assert "fingerprint" in big


def test_fingerprint_has_the_fields_that_make_figures_comparable():
    fp = fingerprint("cpu", threads=3)
    for key in ("device_name", "torch", "threads", "host", "time", "cpu"):
        assert fp[key] is not None
    assert fp["threads"] == 3
    assert comparable(fp, fp) == []
    assert comparable(fp, {**fp, "threads": 4}) == ["threads"]
    with pytest.raises(EspnasError):
        fingerprint("tpu")
