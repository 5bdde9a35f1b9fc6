"""Two-stage search against measuring every trial: the front of (params, latency) over the held-out configs of
benchmarks/predictor_accuracy.py, found by measuring all of them or only those near the predicted front.

    python benchmarks/predictor_accuracy.py      # first: builds the tables and measures the held-out configs
    python benchmarks/two_stage.py               # then: the screen at several margins, per runtime and batch

Both arms use the same measured latencies (from --work/heldout.json), so the comparison isolates the choice
of what to measure; the measuring time of an arm is the number of configs it measures times the per-config
cost (every measurement had the same budget). Hypervolume: both objectives minimised, reference point 1.1x
the largest params and latency among the candidates (results.pareto.hypervolume).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/espnas-predictor-bench")
    ap.add_argument("--margins", default="0,0.05,0.1,0.2")
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--fit", type=int, default=12)
    args = ap.parse_args()

    from nas.search.predicted import near_front, space_configs
    from profilers.counting import count
    from profilers.predictor import LatencyTable
    from results.pareto import hypervolume

    work = Path(args.work)
    measured = json.loads((work / "heldout.json").read_text())
    fit_ids = {c.arch_id for c in space_configs(None, args.fit, seed=1_000_003)}
    pool = space_configs(None, args.held_out + len(fit_ids), seed=777)
    held = [c for c in pool if c.arch_id not in fit_ids][: args.held_out]
    tables = [LatencyTable.load(p) for p in sorted((work / "tables").glob("*.json"))]
    print(f"{'setting':<16} {'margin':>6} {'measured':>9} {'time':>6} {'HV two-stage / all':>19} {'front kept':>10}")
    for table in tables:
        key = f"{table.runtime}/b{table.batch}"
        cands = [c for c in held if key in measured.get(c.arch_id, {})]
        if len(cands) < 10 or table.overhead.fitted_on == 0:
            continue
        params = [float(count(c).params) for c in cands]
        meas = [measured[c.arch_id][key] for c in cands]
        pred = [table.predict(c).latency_ms for c in cands]
        ref = [1.1 * max(params), 1.1 * max(meas)]
        all_points = [[p, m] for p, m in zip(params, meas, strict=True)]
        hv_all = hypervolume(all_points, ["min", "min"], ref)
        true_front = set(near_front(all_points, 0.0))
        for margin in [float(m) for m in args.margins.split(",")]:
            chosen = near_front([[p, q] for p, q in zip(params, pred, strict=True)], margin)
            hv = hypervolume([all_points[i] for i in chosen], ["min", "min"], ref)
            kept = len(true_front & set(chosen)) / len(true_front)
            print(
                f"{key:<16} {margin:>6.2f} {len(chosen):>4}/{len(cands):<4} {len(chosen) / len(cands):>6.0%} "
                f"{hv / hv_all:>19.4f} {kept:>10.0%}"
            )


if __name__ == "__main__":
    main()
