"""Timing against a reference, so that a table measured on a shared machine stays consistent.

A unit timed for a moment takes whatever the machine gives it at that moment: on a loaded machine the same
unit measured a minute later can take twice as long, so a table of 392 such moments adds up to no network
at any load. Here every sample of an item is taken between two samples of a fixed reference (a unit of the
same runtime, form and batch), and the item is stored as its time relative to the reference: a slowdown that
lasts longer than one item-reference pair hits both and cancels. The table keeps the ratios and one absolute
reference time, so its sums are consistent however the load moved during the build.

The clock: with one thread every runtime here runs the whole forward on the calling thread (onnxruntime with
one intra-op thread creates no pool; torch with one thread runs in place), so the thread's CPU time
(`time.thread_time`) counts the forward and not the time spent waiting for a core that another process
holds. With more threads or on a GPU only the wall clock is right.

This module is torch-free; the callables it times do the work.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from profilers.predictor.table import PredictorError
from profilers.stats import iqr

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}
#: Rounds per unit (each one reference-item-reference triple) and per whole network.
UNIT_ROUNDS = 15
NETWORK_ROUNDS = 7


def default_clock(threads: int, device: str = "cpu") -> str:
    """`cpu` (the thread's CPU time) for one thread on the CPU, where it excludes waiting; else `wall`."""
    return "cpu" if threads == 1 and str(device).split(":", 1)[0] == "cpu" else "wall"


def clock_function(name: str) -> Callable[[], float]:
    try:
        return CLOCKS[name]
    except KeyError:
        raise PredictorError(f"clock {name!r} is invalid; valid: {', '.join(CLOCKS)}") from None


@dataclass
class Relative:
    """An item's time relative to the reference (median over rounds), with the absolute times it came from."""

    ratio: float
    ms: float  # the item's own median, in the clock's ms
    ref_ms: float  # the reference's median over the same rounds
    ratio_iqr: float
    rounds: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def time_relative(
    step: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    rounds: int = UNIT_ROUNDS,
    warmup: int = 2,
    clock: Callable[[], float] = time.thread_time,
    sync: Callable[[], None] | None = None,
) -> Relative:
    """Time `step` in `rounds` rounds, each sample between two samples of `reference`.

    The ratio of a round is the item's time over the geometric mean of the reference before and after it
    (so a slowdown that grows or shrinks across the pair is split evenly); the stored ratio is the median of
    the rounds'. The sequence is reference, item, reference, item, ..., reference: each item sample sits
    between the two reference samples it is divided by.
    """
    if rounds < 1:
        raise PredictorError(f"rounds {rounds} is invalid; valid: 1 or more")
    done = sync or (lambda: None)

    def once(fn: Callable[[], Any]) -> float:
        t0 = clock()
        fn()
        done()
        return clock() - t0

    for _ in range(warmup):
        reference()
        step()
    done()
    ratios, items, refs = [], [], []
    before = once(reference)
    refs.append(before)
    for _ in range(rounds):
        t = once(step)
        after = once(reference)
        refs.append(after)
        items.append(t)
        ratios.append(t / math.sqrt(max(before, 1e-12) * max(after, 1e-12)))
        before = after
    return Relative(
        ratio=statistics.median(ratios),
        ms=1e3 * statistics.median(items),
        ref_ms=1e3 * statistics.median(refs),
        ratio_iqr=iqr(ratios),
        rounds=rounds,
    )
