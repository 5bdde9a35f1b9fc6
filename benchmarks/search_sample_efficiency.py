"""Sample efficiency: hypervolume of the multi-objective samplers vs random search at an equal trial budget.

The objectives are analytic so the benchmark runs in a minute: maximise conv MACs (a stand-in for accuracy,
which in the paper's Table 2 rises with FLOPs) and minimise a roofline latency surrogate computed from the
per-layer counts (each layer costs max(MACs / compute rate, bytes moved / bandwidth) plus a fixed launch
cost, so depth-wise, memory-bound and many small layers are slow for their MACs). The FLOP band constraint,
the space and the ask / check / tell loop are exactly the search's (`nas.search.driver.check_band`, constraints via
`Trial.set_constraint`); infeasible proposals do not count toward the budget (they cost no evaluation in a
real search either). Hypervolume uses one reference point for all runs: the band's lower edge for MACs and
1.1 x the worst latency any run saw.

    python benchmarks/search_sample_efficiency.py [--trials 80] [--seeds 5] [--space paper|stages|FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import optuna

from nas.search.driver import DEFAULT_BAND, check_band, make_sampler
from nas.search.space import load_space
from profilers.counting import count
from results.pareto import hypervolume

COMPUTE_MACS_PER_S = 20e9  # a modest CPU core with SIMD
BANDWIDTH_BYTES_PER_S = 10e9
LAUNCH_S = 20e-6
DIRECTIONS = ["max", "min"]


def latency_surrogate_ms(config) -> float:
    """Roofline estimate from the analytic per-layer counts (fp32 activations and weights)."""
    total = 0.0
    for layer in count(config).layers:
        c, h, w = layer.output_shape
        moved = 4 * (layer.params + 2 * c * h * w)  # weights + output written + input of similar size read
        total += max(layer.macs / COMPUTE_MACS_PER_S, moved / BANDWIDTH_BYTES_PER_S) + LAUNCH_S
    return total * 1e3


def run(sampler_name: str, seed: int, budget: int, space) -> np.ndarray:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(sampler_name, seed))
    points = []
    proposals = 0
    while len(points) < budget and proposals < 50 * budget:
        proposals += 1
        trial = study.ask()
        verdict = check_band(space.suggest(trial), space, DEFAULT_BAND)
        for key, value in verdict.constraints.items():
            trial.set_constraint(key, value)
        if not verdict.feasible:
            study.tell(trial, [0.0, 1e12])
            continue
        values = [float(verdict.conv_macs), latency_surrogate_ms(verdict.config)]
        study.tell(trial, values)
        points.append(values)
    return np.asarray(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samplers", default="nsga2,tpe")
    parser.add_argument("--ceiling", type=int, default=3000, help="feasible random points for the near-true front")
    parser.add_argument("--space", default="paper", help="a shipped space name (paper, stages) or a TOML file")
    args = parser.parse_args()
    space = load_space(args.space)
    names = ["random", *args.samplers.split(",")]
    t0 = time.perf_counter()
    fronts = {(n, s): run(n, s, args.trials, space) for n in names for s in range(args.seeds)}
    # Reference: the nadir of every point any run evaluated (fewest MACs, slowest), the usual choice when
    # comparing samplers on one problem; the band's edge instead would let the area below it dominate.
    everything = np.concatenate(list(fronts.values()))
    reference = [float(everything[:, 0].min()), float(everything[:, 1].max())]
    hv = {k: hypervolume(p, DIRECTIONS, reference) for k, p in fronts.items()}
    knobs = len(space.searched)
    print(f"space: {space.name} ({knobs} searched knobs); band {DEFAULT_BAND}; budget {args.trials} feasible")
    print(f"reference point: macs {reference[0]:.3g}, latency surrogate {reference[1]:.3g} ms")
    base = statistics.mean(hv[("random", s)] for s in range(args.seeds))
    for n in names:
        per_seed = [hv[(n, s)] for s in range(args.seeds)]
        mean = statistics.mean(per_seed)
        ratios = [hv[(n, s)] / hv[("random", s)] for s in range(args.seeds)]
        print(
            f"{n:>7}: mean HV {mean:.4g}  ratio to random (of means) {mean / base:.3f}  "
            f"per-seed ratios {', '.join(f'{r:.2f}' for r in ratios)}"
        )
    # What any sampler could reach at most: the front of a large random sample stands in for the true front.
    ceiling = hypervolume(run("random", 10_000, args.ceiling, space), DIRECTIONS, reference)
    print(f"ceiling: the front of {args.ceiling} random feasible configs has {ceiling / base:.3f}x random's HV")
    print(f"took {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
