"""MO-ASHA vs ASHA vs full fidelity, replayed on recorded learning curves (issue 12).

    python benchmarks/mo_asha_replay.py [--results runs/bench/scenes_ranking.json] [--orders 20] [--eta 3]

Reads the long-budget runs of benchmarks/scenes_ranking.py (each config's per-epoch validation accuracy and its
seconds). Successive halving stops a trial part-way through the same training, so replaying a recorded curve
up to the epoch where a scheduler stops it is what a real run would have spent; the decisions are those of
`nas.search.mo_asha.ParetoRungs` (with one objective it is plain ASHA). Trials arrive one at a time in a random
order (one per `--orders` seed). For each scheduler: the training seconds spent (fraction of full fidelity) and
the hypervolume of the front of (final accuracy, conv MACs) over the trials that ran to the end, as a ratio
of full fidelity's (every trial to the end). Reference point: accuracy 0, 1.05 x the largest MACs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from nas.search.mo_asha import ParetoRungs, rung_milestones
from results.pareto import hypervolume

DIRECTIONS = ["max", "min"]


def replay(rows: list[dict], order: list[int], objectives: tuple[str, ...] | None, eta: float) -> tuple[float, list]:
    """Seconds spent and the completed (accuracy, macs) points of one arrival order under one scheduler."""
    epochs = len(rows[0]["curve"])
    rungs = None
    if objectives is not None:
        rungs = ParetoRungs(rung_milestones(1, epochs, eta), objectives, eta)
    spent, done = 0.0, []
    for i in order:
        row = rows[i]
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
    args = parser.parse_args()
    stored = json.loads(args.results.read_text())
    key = args.key or max(stored, key=lambda k: len(stored[k]))
    rows = [
        {
            "name": n,
            "curve": r["long"][str(args.seed)]["curve"],
            "seconds": r["long"][str(args.seed)]["seconds"],
            "macs": r["macs_224"],
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
    for label, objectives in (("ASHA (accuracy)", ("max",)), ("MO-ASHA (accuracy, MACs)", ("max", "min"))):
        fractions, ratios = [], []
        for o in range(args.orders):
            order = list(range(len(rows)))
            random.Random(o).shuffle(order)
            spent, pts = replay(rows, order, objectives, args.eta)
            fractions.append(spent / full_s)
            ratios.append(hypervolume(pts, DIRECTIONS, reference) / full_hv if pts else 0.0)
        print(
            f"{label:26s}: compute {statistics.mean(fractions):.1%} of full (min {min(fractions):.1%}, "
            f"max {max(fractions):.1%}); HV {statistics.mean(ratios):.3f} of full (min {min(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
