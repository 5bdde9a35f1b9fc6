from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from profilers.compare import compare_latency, ratio_ci
from profilers.fingerprint import comparable, fingerprint
from search_spaces.errors import EspnasError

MB = 1024.0 * 1024.0


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
    assert big["method"] == "rss-hwm"  # this kernel lets clear_refs reset the high-water mark
    # By hand: TinyNet's largest live pair is BN's input and output, 8 x 8 x 256 x 256 fp32 = 16 MiB each.
    # The resident set must grow by about that (pages, not bytes: within a quarter), the small input not at all.
    activations_mb = 2 * 8 * 8 * 256 * 256 * 4 / MB
    assert big["tensor_peak_mb"] == activations_mb
    assert 0.75 * activations_mb < big["growth_mb"] < 1.25 * activations_mb
    assert small["growth_mb"] < 2
    assert big["peak_mb"] == pytest.approx(big["baseline_mb"] + big["growth_mb"])
    # The state dict by hand: conv 8x3x3x3 + 8, BN 4 x 8 (+ an int64 counter), conv 4x8 + 4.
    assert big["weights_mb"] * MB == (216 + 8 + 4 * 8 + 32 + 4) * 4 + 8


def test_fingerprint_fields_come_from_the_machine_and_comparable_names_what_differs():
    import socket

    import torch

    from profilers.fingerprint import COMPARABLE_KEYS
    from profilers.latency import thread_scope

    with thread_scope(2):
        fp = fingerprint("cpu")  # no thread count given: the one torch runs with now
    assert fp["threads"] == 2
    assert fp["torch"] == torch.__version__ and fp["host"] == socket.gethostname()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        if names:
            assert fp["device_name"] == fp["cpu"] == names[0]
    age_s = (datetime.now(UTC) - datetime.fromisoformat(fp["time"])).total_seconds()
    assert -1 <= age_s < 60  # stamped to the second
    assert fingerprint("cpu", threads=3)["threads"] == 3
    assert comparable(fp, fp) == []
    for key in COMPARABLE_KEYS:
        assert comparable(fp, {**fp, key: "something else"}) == [key]
    assert comparable(fp, {**fp, "host": "elsewhere", "time": "2000-01-01T00:00:00+00:00"}) == []
    with pytest.raises(EspnasError):
        fingerprint("tpu")
