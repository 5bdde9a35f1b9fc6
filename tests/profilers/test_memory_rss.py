"""CPU peak memory from the resident set: the kernel's high-water mark where clear_refs may reset it, else a
thread sampling VmRSS every millisecond; and what the backend says when neither can be read.

The workload holds 64 MiB of written pages for a while and frees them well before it returns, so only the
peak taken during the run can see them (not the resident set after it, nor the last sample). 64 MiB is above
glibc's largest dynamic mmap threshold (32 MiB on 64-bit), so the block is always a fresh mmap, resident
when written and unmapped when freed: no reuse of freed heap pages can hide it (the trouble with activations
of a few MB, see test_compare_memory_fingerprint.py).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

import profilers.memory as memory
from profilers.backend import BackendUnavailable
from profilers.memory import MEMORY_BACKENDS, cpu_peak_growth, measure_peak_memory

HELD_MB = 64


def hold_and_free() -> None:
    block = b"\xff" * (HELD_MB * 1024 * 1024)  # written, so resident
    time.sleep(0.1)  # long against the 1 ms sampling period, even on a busy machine
    del block
    time.sleep(0.05)  # the run goes on after the peak: the last sample is not the peak


@pytest.fixture
def no_clear_refs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A kernel that refuses to reset the high-water mark: writing clear_refs fails."""
    monkeypatch.setattr(memory, "_CLEAR_REFS", tmp_path / "no-such-dir" / "clear_refs")


def test_sampling_sees_memory_held_only_during_the_run(no_clear_refs: None) -> None:
    baseline, peak, method = cpu_peak_growth(hold_and_free)
    assert method == "rss-sampled-1ms"  # says it sampled, since the high-water mark could not be reset
    assert 0.9 * HELD_MB <= peak - baseline <= HELD_MB + 16
    assert memory.rss_mb() - baseline < 0.5 * HELD_MB  # freed again: only the sampler could have seen it


def test_the_high_water_mark_sees_the_same_peak() -> None:
    if not memory._reset_hwm():
        pytest.skip("this kernel refuses clear_refs; the sampling test covers this machine")
    baseline, peak, method = cpu_peak_growth(hold_and_free)
    assert method == "rss-hwm"
    assert 0.9 * HELD_MB <= peak - baseline <= HELD_MB + 16


@pytest.mark.parametrize("refused", [True, False])
def test_a_run_that_allocates_nothing_shows_no_growth(request: pytest.FixtureRequest, refused: bool) -> None:
    if refused:
        request.getfixturevalue("no_clear_refs")
    baseline, peak, _ = cpu_peak_growth(lambda: time.sleep(0.02))
    assert 0 <= peak - baseline < 4


def test_a_refused_reset_is_said_in_the_backend_and_the_result(no_clear_refs: None, tiny, monkeypatch) -> None:
    # The tensor count is another figure (its first dispatch-mode run costs seconds): left out here.
    monkeypatch.setattr(memory, "cpu_tensor_peak_mb", lambda run: 0.0)
    availability = MEMORY_BACKENDS["cpu"].is_available("cpu")
    assert availability.ok and availability.reason == "VmRSS sampling"
    res = measure_peak_memory(tiny, (3, 16, 16), threads=1)
    assert res.method == "rss-sampled-1ms" and res.backend == "memory-cpu-rss"


def test_an_unreadable_resident_set_makes_the_backend_unavailable(monkeypatch, tmp_path: Path, tiny) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  100 kB\n")  # no VmRSS line, as a stripped-down /proc might give
    monkeypatch.setattr(memory, "_status_kb", functools.partial(memory._status_kb, status=status))
    availability = MEMORY_BACKENDS["cpu"].is_available("cpu")
    assert not availability.ok
    assert availability.reason == f"cannot read the resident set from /proc/self/status: VmRSS not in {status}"
    with pytest.raises(BackendUnavailable) as info:
        measure_peak_memory(tiny, (3, 16, 16), threads=1)
    assert str(info.value) == f"backend 'memory-cpu-rss' on cpu: unavailable: {availability.reason}"
