"""The paper's six presets against configs of the "stages" space, trained and measured the same way (issue 12).

    python benchmarks/beat_the_paper.py [--results runs/bench/scenes_ranking.json] [--budget long]

Reads benchmarks/scenes_ranking.py's results (same task, same recipe, same budget, same seeds for every config)
and compares, on (mean accuracy: max, conv MACs at 224x224: min):
- the hypervolume of the presets' front and of the other configs' front (reference: accuracy 0 and 1.05 x the
  largest MACs), and their ratio;
- each preset, and the configs that dominate or match it (accuracy >= and MACs <=);
- the training seconds behind each side (the cost of finding the other front vs training the six presets once).
The other configs are what scenes_ranking.py trained: random in-band samples of the stages space unless a
search's front is put there; the printout says how many there are.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from results.pareto import hypervolume, non_dominated

PRESETS = ("espnetv2-0.5", "espnetv2-1.0", "espnetv2-1.25", "espnetv2-1.5", "espnetv2-1.75", "espnetv2-2.0")
DIRECTIONS = ["max", "min"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("runs/bench/scenes_ranking.json"))
    parser.add_argument("--key", help="which stored setting (default: the one with the most configs)")
    parser.add_argument("--budget", choices=("proxy", "long"), default="long")
    args = parser.parse_args()
    stored = json.loads(args.results.read_text())
    key = args.key or max(stored, key=lambda k: len(stored[k]))
    points, seconds = {}, {}
    for name, row in stored[key].items():
        runs = row.get(args.budget, {})
        if runs:
            points[name] = (statistics.mean(r["accuracy"] for r in runs.values()), row["macs_224"])
            seconds[name] = sum(r["seconds"] for r in runs.values())
    presets = {n: p for n, p in points.items() if n in PRESETS}
    others = {n: p for n, p in points.items() if n not in PRESETS}
    if not presets or not others:
        raise SystemExit(f"{args.results} [{key}] needs presets and other configs with {args.budget} results")
    reference = [0.0, 1.05 * max(p[1] for p in points.values())]
    hv_p = hypervolume(list(presets.values()), DIRECTIONS, reference)
    hv_o = hypervolume(list(others.values()), DIRECTIONS, reference)
    print(f"{key}, {args.budget} budget: {len(presets)} presets vs {len(others)} stages configs")
    print(f"hypervolume: presets {hv_p:.4g}, stages configs {hv_o:.4g}, ratio {hv_o / hv_p:.3f}")
    beaten = 0
    for name, (acc, macs) in sorted(presets.items(), key=lambda kv: kv[1][1]):
        better = [n for n, (a, m) in others.items() if a >= acc and m <= macs]
        beaten += bool(better)
        shown = ", ".join(f"{n} ({others[n][0]:.3f}, {others[n][1] / 1e6:.0f}M)" for n in better[:3]) or "none"
        print(f"  {name:14s} acc {acc:.3f} at {macs / 1e6:5.0f}M MACs: dominated or matched by {shown}")
    front = [n for n, keep in zip(others, non_dominated(list(others.values()), DIRECTIONS), strict=True) if keep]
    print(f"{beaten} of {len(presets)} presets dominated or matched; stages front: {', '.join(front)}")
    print(
        f"training seconds: presets {sum(seconds[n] for n in presets):.0f}, "
        f"stages configs {sum(seconds[n] for n in others):.0f} ({args.budget} budget, every seed)"
    )


if __name__ == "__main__":
    main()
