"""MO-ASHA vs ASHA vs full fidelity, replayed on recorded learning curves (issue 12).

    python benchmarks/mo_asha_replay.py [--results runs/bench/scenes_ranking.json] [--orders 20] [--eta 3]
                                        [--zero-cost MEASURE] [--keep 0.33]

Reads the long-budget runs of benchmarks/scenes_ranking.py (each config's per-epoch validation accuracy and its
seconds). Successive halving stops a trial part-way through the same training, so replaying a recorded curve
up to the epoch where a scheduler stops it is what a real run would have spent; the decisions are those of
`nas.search.mo_asha.ParetoRungs` (with one objective it is plain ASHA). Trials arrive one at a time in a random
order (one per `--orders` seed). For each scheduler: the training seconds spent (fraction of full fidelity) and
the hypervolume of the front of (final accuracy, conv MACs) over the trials that ran to the end, as a ratio
of full fidelity's (every trial to the end). Reference point: accuracy 0, 1.05 x the largest MACs.

With `--zero-cost MEASURE`, two more schedulers put the zero-cost first rung (nas.search.zero_cost_rung: the
recorded score at initialisation and the MACs, keep `--keep`) before full fidelity and before MO-ASHA; their
compute includes the scoring seconds of every trial (all measures' seconds: an upper bound for one).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from nas.search.mo_asha import ParetoRungs, rung_milestones
from nas.search.zero_cost_rung import ZeroCostRung
from results.pareto import hypervolume

DIRECTIONS = ["max", "min"]


def replay(
    rows: list[dict],
    order: list[int],
    objectives: tuple[str, ...] | None,
    eta: float,
    zero_cost: tuple[str, float] | None = None,
) -> tuple[float, list]:
    """Seconds spent and the completed (accuracy, macs) points of one arrival order under one scheduler.
    `zero_cost` (measure, keep): the zero-cost first rung decides first which trials train at all."""
    epochs = len(rows[0]["curve"])
    rungs = None
    if objectives is not None:
        rungs = ParetoRungs(rung_milestones(1, epochs, eta), objectives, eta)
    screen = None
    if zero_cost is not None:
        screen = ZeroCostRung(lambda row: row["zero_cost"][zero_cost[0]], keep=zero_cost[1])
    spent, done = 0.0, []
    for i in order:
        row = rows[i]
        if screen is not None:
            spent += row["zero_cost_seconds"]
            if not screen.admit(str(i), row, row["macs"])[0]:
                continue
        per_epoch = row["seconds"] / epochs
        for t, acc in enumerate(row["curve"], start=1):
            spent += per_epoch
            if rungs is None or t == epochs:
                continue
            values = (acc,) if len(objectives) == 1 else (acc, row["macs"])
            if not rungs.decide(str(i), t, values):
                break
        else:
            done.append((row["curve"][-1], row["macs"]))
    return spent, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("runs/bench/scenes_ranking.json"))
    parser.add_argument("--key", help="which stored setting (default: the one with the most configs)")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0, help="which training seed's curves to replay")
    parser.add_argument("--zero-cost", help="also replay the zero-cost first rung with this measure")
    parser.add_argument("--keep", type=float, default=1 / 3, help="the fraction the zero-cost rung trains")
    args = parser.parse_args()
    stored = json.loads(args.results.read_text())
    key = args.key or max(stored, key=lambda k: len(stored[k]))
    rows = [
        {
            "name": n,
            "curve": r["long"][str(args.seed)]["curve"],
            "seconds": r["long"][str(args.seed)]["seconds"],
            "macs": r["macs_224"],
            "zero_cost": r.get("zero_cost", {}),
            "zero_cost_seconds": r.get("zero_cost_seconds", 0.0),
        }
        for n, r in stored[key].items()
        if str(args.seed) in r.get("long", {})
    ]
    rows = [r for r in rows if len(r["curve"]) == len(rows[0]["curve"])]
    reference = [0.0, 1.05 * max(r["macs"] for r in rows)]
    full_s, full_pts = replay(rows, list(range(len(rows))), None, args.eta)
    full_hv = hypervolume(full_pts, DIRECTIONS, reference)
    print(f"{key}: {len(rows)} configs, {len(rows[0]['curve'])} epochs, eta {args.eta}, {args.orders} orders")
    print(f"full fidelity: {full_s:.0f} s of training, HV {full_hv:.4g}")
    schedulers: list[tuple[str, tuple[str, ...] | None, tuple[str, float] | None]] = [
        ("ASHA (accuracy)", ("max",), None),
        ("MO-ASHA (accuracy, MACs)", ("max", "min"), None),
    ]
    if args.zero_cost:
        zc = (args.zero_cost, args.keep)
        schedulers += [
            (f"{args.zero_cost} rung, then full", None, zc),
            (f"{args.zero_cost} rung, MO-ASHA", ("max", "min"), zc),
        ]
    for label, objectives, zero_cost in schedulers:
        fractions, ratios = [], []
        for o in range(args.orders):
            order = list(range(len(rows)))
            random.Random(o).shuffle(order)
            spent, pts = replay(rows, order, objectives, args.eta, zero_cost)
            fractions.append(spent / full_s)
            ratios.append(hypervolume(pts, DIRECTIONS, reference) / full_hv if pts else 0.0)
        print(
            f"{label:26s}: compute {statistics.mean(fractions):.1%} of full (min {min(fractions):.1%}, "
            f"max {max(fractions):.1%}); HV {statistics.mean(ratios):.3f} of full (min {min(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
