"""Parallel scaling: training trials per hour with N Ray workers vs one, on a local Ray instance.

Each configuration runs the same search (same seed, accuracy only, so every trial is proxy training and
nothing is measured) with `--concurrency 1` and then `--concurrency N`, one CPU and one torch thread per
trial. Throughput = trials / (search time without Ray's start-up). Goal: throughput(N) >= 0.8 N x throughput(1).
On a machine shared with other jobs the cores are not really free and the figure says so.

    python benchmarks/search_scaling.py [--workers 2] [--trials 6] [--epochs 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from nas.search.driver import SearchSettings, run_search


def throughput(concurrency: int, trials: int, epochs: int, workers: int) -> float:
    run_dir = Path(tempfile.mkdtemp(prefix=f"espnas-scaling-{concurrency}-")) / "run"
    t = time.perf_counter()
    outcome = run_search(
        SearchSettings(
            trials=trials,
            objectives=("accuracy",),
            proxy_epochs=epochs,
            concurrency=concurrency,
            num_cpus=workers,
            cpus_per_trial=1.0,
            run_dir=str(run_dir),
            progress=False,
            seed=0,
        )
    )
    seconds = time.perf_counter() - t - outcome.ray_startup_s
    per_hour = trials / seconds * 3600
    print(f"concurrency {concurrency}: {trials} trials in {seconds:.1f}s -> {per_hour:.0f} trials/hour ({run_dir})")
    return per_hour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    one = throughput(1, args.trials, args.epochs, args.workers)
    many = throughput(args.workers, args.trials, args.epochs, args.workers)
    ratio = many / one
    goal = 0.8 * args.workers
    verdict = "met" if ratio >= goal else "NOT met"
    print(f"speed-up with {args.workers} workers: {ratio:.2f}x (goal >= {goal:.1f}x): {verdict}")


if __name__ == "__main__":
    main()
