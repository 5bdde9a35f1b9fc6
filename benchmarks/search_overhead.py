"""Search overhead: the share of trial wall time that is neither training nor measuring.

Reads a run's `search_timings.jsonl` (one line per trial, written by the search driver): wall time from the
sampler's proposal to the record on disk, and the worker's own data / train / measure seconds. Everything
else (Ray scheduling and actor start, Optuna ask/tell, counting, result transport, the record append) is
overhead. Ray's one-off start-up is reported separately (it is per search, not per trial).

    python benchmarks/search_overhead.py RUN_DIR             # analyse an existing run
    python benchmarks/search_overhead.py --run [ARGS...]     # run `espnas search ARGS` first (default demo)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def analyse(run_dir: Path) -> dict[str, float]:
    lines = [json.loads(x) for x in (run_dir / "search_timings.jsonl").read_text().splitlines() if x.strip()]
    lines = [x for x in lines if x.get("wall_s")]
    wall = sum(x["wall_s"] for x in lines)
    train = sum(x["train_s"] for x in lines)
    measure = sum(x["measure_s"] for x in lines)
    data = sum(x["data_s"] for x in lines)
    record = sum(x["record_s"] for x in lines)
    dispatch = sum(x["worker_start"] - x["asked"] for x in lines if x.get("worker_start"))
    collect = sum(x["recorded"] - x["worker_end"] for x in lines if x.get("worker_end"))
    in_worker_other = sum(
        (x["worker_end"] - x["worker_start"]) - x["train_s"] - x["measure_s"] - x["data_s"]
        for x in lines
        if x.get("worker_end")
    )
    overhead = wall - train - measure
    return {
        "trials": len(lines),
        "wall_s": wall,
        "train_s": train,
        "measure_s": measure,
        "data_s": data,
        "dispatch_s (ask -> worker starts: Ray scheduling, actor start)": dispatch,
        "in_worker_other_s (config parse, thread setup, report)": in_worker_other,
        "collect_s (worker ends -> recorded: result transport, record append)": collect,
        "record_append_s": record,
        "overhead_s": overhead,
        "overhead_share": overhead / wall if wall else float("nan"),
        "median_trial_wall_s": statistics.median(x["wall_s"] for x in lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--run", nargs=argparse.REMAINDER, help="run `espnas search` with these arguments first")
    args = parser.parse_args()
    run_dir = args.run_dir
    if args.run is not None:
        from nas.cli import main as espnas

        run_dir = Path(tempfile.mkdtemp(prefix="espnas-overhead-")) / "run"
        t = time.perf_counter()
        status = espnas(["search", *args.run, "--run-dir", str(run_dir), "--no-progress"])
        print(f"search took {time.perf_counter() - t:.1f}s (exit {status})")
    if run_dir is None:
        sys.exit("give a RUN_DIR or --run")
    for key, value in analyse(run_dir).items():
        print(f"{key:>70}: {value:.4g}" if isinstance(value, float) else f"{key:>70}: {value}")


if __name__ == "__main__":
    main()
