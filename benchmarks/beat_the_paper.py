"""The paper's six presets against configs of the "stages" space, trained and measured the same way (issue 12).

    python benchmarks/beat_the_paper.py [--results runs/bench/scenes_ranking.json] [--budget long]
                                        [--cost macs | --cost latency [--latency-file F] [--rounds 5]]

Reads benchmarks/scenes_ranking.py's results (same task, same recipe, same budget, same seeds for every config)
and compares, on (mean accuracy: max, cost: min), where cost is conv MACs at 224x224 (exact) or, with
`--cost latency`, the median CPU latency of the deploy form at 1x3x224x224 on 1 thread, every config measured
in each of `--rounds` interleaved rounds on this machine (median of the rounds' medians; stored in
`--latency-file` and reused, so measure once on a quiet machine):
- the hypervolume of the presets' front and of the other configs' front, and their ratio, for two reference
  points: the nadir of all compared points, and accuracy 0 with 1.05 x the largest cost;
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
from search_spaces import resolve

PRESETS = ("espnetv2-0.5", "espnetv2-1.0", "espnetv2-1.25", "espnetv2-1.5", "espnetv2-1.75", "espnetv2-2.0")
DIRECTIONS = ["max", "min"]


def measured_latency(specs: dict[str, str], path: Path, rounds: int) -> dict[str, float]:
    """Median deploy-form latency (ms) per config, measured interleaved; cached in `path` with the load."""
    import os

    import torch

    from profilers.latency import measure_latency

    stored = json.loads(path.read_text()) if path.is_file() else {"latency_ms": {}}
    todo = [n for n in specs if n not in stored["latency_ms"]]
    if todo:
        torch.set_num_threads(1)
        per: dict[str, list[float]] = {n: [] for n in todo}
        for r in range(rounds):
            for name in todo if r % 2 == 0 else reversed(todo):
                res = measure_latency(resolve(specs[name]), (1, 3, 224, 224), deploy=True, time_budget_s=1.0, threads=1)
                per[name].append(res.median_ms)
            print(f"latency round {r + 1}/{rounds} done (load {os.getloadavg()[0]:.2f})", flush=True)
        stored["latency_ms"].update({n: statistics.median(v) for n, v in per.items()})
        stored.setdefault("load", []).append(os.getloadavg()[0])
        path.write_text(json.dumps(stored, indent=1) + "\n")
    return {n: stored["latency_ms"][n] for n in specs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("runs/bench/scenes_ranking.json"))
    parser.add_argument("--key", help="which stored setting (default: the one with the most configs)")
    parser.add_argument("--budget", choices=("proxy", "long"), default="long")
    parser.add_argument("--seed", help="use this training seed's accuracy only (default: each config's mean)")
    parser.add_argument("--cost", choices=("macs", "latency"), default="macs")
    parser.add_argument("--latency-file", type=Path, default=Path("runs/bench/beat_the_paper_latency.json"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--search-run", type=Path, help="compare only this search run's front (trained by scenes_ranking --from-run)"
    )
    args = parser.parse_args()
    stored = json.loads(args.results.read_text())
    key = args.key or max(stored, key=lambda k: len(stored[k]))
    rows = {name: row for name, row in stored[key].items() if row.get(args.budget)}
    if args.seed is not None:
        rows = {n: {**r, args.budget: {args.seed: r[args.budget][args.seed]}} for n, r in rows.items()
                if args.seed in r[args.budget]}  # fmt: skip
    search_seconds = None
    if args.search_run:
        from scenes_ranking import searched_front  # the same front that `scenes_ranking.py --from-run` trains

        from results.store import open_run

        wanted = {spec: name for name, spec in searched_front(args.search_run)}
        missing = sorted(name for spec, name in wanted.items() if spec not in {r["spec"] for r in rows.values()})
        if missing:
            raise SystemExit(f"{args.results} [{key}] lacks the front's configs {', '.join(missing)}; run --from-run")
        rows = {n: r for n, r in rows.items() if n in PRESETS or r["spec"] in wanted}
        search_seconds = float(open_run(args.search_run).complete()["duration_s"].sum())
    cost = {name: row["macs_224"] for name, row in rows.items()}
    if args.cost == "latency":
        cost = measured_latency({n: r["spec"] for n, r in rows.items()}, args.latency_file, args.rounds)
    points, seconds = {}, {}
    for name, row in rows.items():
        runs = row[args.budget]
        points[name] = (statistics.mean(r["accuracy"] for r in runs.values()), cost[name])
        seconds[name] = sum(r["seconds"] for r in runs.values())
    presets = {n: p for n, p in points.items() if n in PRESETS}
    others = {n: p for n, p in points.items() if n not in PRESETS}
    if not presets or not others:
        raise SystemExit(f"{args.results} [{key}] needs presets and other configs with {args.budget} results")
    unit, scale = ("M MACs", 1e6) if args.cost == "macs" else (" ms", 1.0)
    print(f"{key}, {args.budget} budget, cost {args.cost}: {len(presets)} presets vs {len(others)} other configs")
    # Two reference points: the nadir of every compared point (the worst accuracy, the largest cost; as in
    # search_sample_efficiency.py), where the ratio shows what one side adds over the other, and accuracy 0
    # with 1.05 x the largest cost, where every point's whole accuracy counts and ratios stay near 1.
    label = "the search's front" if args.search_run else "the other configs"
    for ref_name, reference in (
        ("nadir of all points", [min(p[0] for p in points.values()), max(p[1] for p in points.values())]),
        ("accuracy 0, 1.05 x max cost", [0.0, 1.05 * max(p[1] for p in points.values())]),
    ):
        hv_p = hypervolume(list(presets.values()), DIRECTIONS, reference)
        hv_o = hypervolume(list(others.values()), DIRECTIONS, reference)
        print(f"hypervolume, reference {ref_name}: presets {hv_p:.4g}, {label} {hv_o:.4g}, ratio {hv_o / hv_p:.3f}")
    beaten = 0
    for name, (acc, c) in sorted(presets.items(), key=lambda kv: kv[1][1]):
        better = [n for n, (a, m) in others.items() if a >= acc and m <= c]
        beaten += bool(better)
        shown = ", ".join(f"{n} ({others[n][0]:.3f}, {others[n][1] / scale:.1f}{unit})" for n in better[:3])
        print(f"  {name:14s} acc {acc:.3f} at {c / scale:6.1f}{unit}: dominated or matched by {shown or 'none'}")
    front = [n for n, keep in zip(others, non_dominated(list(others.values()), DIRECTIONS), strict=True) if keep]
    print(f"{beaten} of {len(presets)} presets dominated or matched; front of the others: {', '.join(front)}")
    print(
        f"training seconds: presets {sum(seconds[n] for n in presets):.0f}, "
        f"other configs {sum(seconds[n] for n in others):.0f} ({args.budget} budget, every seed)"
    )
    if search_seconds is not None:
        once = sum(rows[n][args.budget]["0"]["seconds"] for n in presets if "0" in rows[n][args.budget])
        print(
            f"search cost: {search_seconds:.0f} s of trial wall time (sum over its complete trials) against "
            f"{once:.0f} s to train the {len(presets)} presets once ({args.budget} budget, seed 0): "
            f"ratio {search_seconds / once:.2f}"
        )


if __name__ == "__main__":
    main()
