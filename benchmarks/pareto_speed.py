"""Pareto front and non-dominated sort of N trials x 3 objectives: results.pareto (moocore) vs optuna.

Both sides get the same array. Optuna's numeric cores are the functions its studies use for
`study.best_trials` (`_is_pareto_front`) and for NSGA-II ranks (`_fast_non_domination_rank`); timing the cores
leaves out optuna's FrozenTrial overhead, which only favours optuna. Prints the median of --repeats runs.

    python benchmarks/pareto_speed.py [--trials 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from results.pareto import non_dominated, nondominated_sort

DIRECTIONS = ["max", "min", "min"]  # accuracy, latency_ms, energy_mj


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    """Search-like data: accuracy rises with cost, latency and energy track cost with noise; ties included."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0.5, 6.0, n)
    accuracy = np.round(60 + 15 * np.log1p(cost) + rng.normal(0, 2, n), 2)  # rounded like a real metric
    latency = np.round(cost * rng.uniform(0.8, 1.2, n), 3)
    energy = np.round(cost * 4 * rng.uniform(0.7, 1.3, n), 2)
    return np.column_stack([accuracy, latency, energy])


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--optuna-rank-repeats", type=int, default=1, help="optuna's full sort is slow")
    args = parser.parse_args()

    from optuna.study._multi_objective import _fast_non_domination_rank, _is_pareto_front

    values = synthetic(args.trials)
    loss = values * np.array([-1.0, 1.0, 1.0])  # optuna minimises: negate the maximised objective
    print(f"{args.trials} trials x 3 objectives, median of {args.repeats} runs")

    t_front, ours = timed(lambda: non_dominated(values, DIRECTIONS), args.repeats)
    t_front_opt, theirs = timed(lambda: _is_pareto_front(loss, assume_unique_lexsorted=False), args.repeats)
    assert (np.asarray(ours) == np.asarray(theirs)).all(), "fronts differ"
    print(f"front:  espnas {t_front * 1e3:8.1f} ms   optuna {t_front_opt * 1e3:8.1f} ms   "
          f"optuna/espnas {t_front_opt / t_front:6.1f}x   ({int(np.sum(ours))} on the front)")  # fmt: skip

    t_rank, ranks = timed(lambda: nondominated_sort(values, DIRECTIONS), args.repeats)
    t_rank_opt, ranks_opt = timed(lambda: _fast_non_domination_rank(loss), args.optuna_rank_repeats)
    assert (np.asarray(ranks) == np.asarray(ranks_opt)).all(), "ranks differ"
    print(f"ranks:  espnas {t_rank * 1e3:8.1f} ms   optuna {t_rank_opt * 1e3:8.1f} ms   "
          f"optuna/espnas {t_rank_opt / t_rank:6.1f}x   ({int(np.max(ranks)) + 1} ranks)")  # fmt: skip
    both = t_front + t_rank
    print(f"front + ranks (espnas): {both * 1e3:.1f} ms  ({'under' if both < 1 else 'OVER'} the 1 s goal)")


if __name__ == "__main__":
    main()
