"""Analytic counting vs fvcore FlopCountAnalysis vs ptflops on the same configs, in one run.

Each counter is timed on what a user waits for: analytic `count(config)` from the config alone (no model);
fvcore and ptflops given an already-built model (building it is not charged to them). Prints the median time of
each and the speed ratios. Goal: analytic at least 1000x faster than fvcore.

    python benchmarks/counting.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from profilers.counting import count
from profilers.third_party import fvcore_counts, ptflops_counts
from search_spaces import PRESETS, build


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [n for n in PRESETS if not n.endswith(("-r1", "-r2"))]
    print(
        f"{'config':16s} {'analytic':>11s} {'fvcore':>10s} {'ptflops':>10s} {'fvcore/analytic':>16s} "
        f"{'ptflops/analytic':>17s}"
    )
    ratios_fv, ratios_pt = [], []
    for name in names:
        cfg = PRESETS[name]
        model = build(cfg).eval()
        size = cfg.input_size
        # Interleave the three counters so drift on a shared machine hits all of them alike.
        t_analytic, t_fv, t_pt = [], [], []
        for _ in range(args.repeats):
            t_analytic.append(_median_seconds(lambda cfg=cfg: count(cfg), 20))
            t_fv.append(_median_seconds(lambda m=model, s=size: fvcore_counts(m, s), 1))
            t_pt.append(_median_seconds(lambda m=model, s=size: ptflops_counts(m, s), 1))
        a, f, p = statistics.median(t_analytic), statistics.median(t_fv), statistics.median(t_pt)
        ratios_fv.append(f / a)
        ratios_pt.append(p / a)
        print(f"{name:16s} {a * 1e6:9.0f}us {f * 1e3:8.1f}ms {p * 1e3:8.1f}ms {f / a:15.0f}x {p / a:16.0f}x")
    print(
        f"median speed-up of analytic counting: {statistics.median(ratios_fv):.0f}x over fvcore, "
        f"{statistics.median(ratios_pt):.0f}x over ptflops (goal: >= 1000x over fvcore)"
    )


if __name__ == "__main__":
    main()
