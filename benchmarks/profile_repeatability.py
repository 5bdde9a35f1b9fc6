"""Repeatability of the latency profiler: the same model measured in five separate, interleaved runs.

Each "run" is its own freshly built model and timing session; the sessions take turns (A B C D E, repeated)
so that drift from other processes hits all of them alike. Prints each run's median and the max relative
spread (max - min) / median. Goal (issue 3): at most 5% on CPU, 1% on a GPU.

    python benchmarks/profile_repeatability.py [--spec espnetv2-1.0] [--device cpu|cuda] [--runs 5] [--rounds 10]
"""

from __future__ import annotations

import argparse

from profilers.compare import compare_latency
from profilers.stats import relative_spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="espnetv2-1.0")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--budget", type=float, default=6.0, help="seconds per run (warm-up included)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared machine)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args()
    goal = 0.05 if args.device == "cpu" else 0.01

    cmp = compare_latency(
        [args.spec] * args.runs,
        None,
        args.device,
        rounds=args.rounds,
        time_budget_s=args.budget,
        batch_size=args.batch_size,
        threads=args.threads,
    )
    medians = [r.median_ms for r in cmp.results]
    fp = cmp.fingerprint
    print(f"{args.spec}, batch {args.batch_size}, {fp['threads']} thread(s), {fp['device_name']}")
    for i, r in enumerate(cmp.results, 1):
        lo, hi = r.ci95_ms
        print(f"  run {i}: median {r.median_ms:.3f} ms  IQR {r.iqr_ms:.3f}  CI95 [{lo:.3f}, {hi:.3f}]  n={r.n_samples}")
    spread = relative_spread(medians)
    print(f"max relative spread of medians: {spread:.2%} (goal <= {goal:.0%}: {'met' if spread <= goal else 'MISSED'})")


if __name__ == "__main__":
    main()
