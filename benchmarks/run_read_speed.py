"""Reading a run of N trial records and printing its front: in-process and as the `espnas pareto` command.

Writes a run of --trials records (real config JSON, fingerprint, spreads, ~10% failed/infeasible) with
RunWriter in batches of --batch records (one Parquet file per batch), then times
  1. in-process: results.report.pareto_report (open_run + front + table text), median of --repeats;
  2. the command `python -m nas pareto RUN` end to end (interpreter start and imports included).

    python benchmarks/run_read_speed.py [--trials 100000] [--batch 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.progress import track

from results.report import pareto_report
from results.store import RunWriter

# Registers an empty `search_spaces` package so importing search_spaces.errors does not run its __init__
# (which imports torch): what `espnas pareto` would cost with a lazy search_spaces/__init__.py.
STUB = (
    "import sys, types; pkg = types.ModuleType('search_spaces'); "
    "pkg.__path__ = [{root!r}]; sys.modules['search_spaces'] = pkg; "
)
ROOT = Path(__file__).resolve().parents[1]
METRICS = {"accuracy": "%", "latency_ms": "ms", "energy_mj": "mJ", "peak_memory_mb": "MB"}


def write_run(path: Path, n: int, batch: int) -> float:
    from search_spaces.config import EESPConfig

    configs = [EESPConfig.from_scale(s, dropout=d) for s in (0.5, 1.0, 1.5, 2.0) for d in (0.0, 0.1, 0.2)]
    texts = [(c.to_json(), c.arch_id) for c in configs]
    fingerprint = json.dumps({"device": "NVIDIA H100 80GB HBM3", "driver": "570.00", "torch": "2.13.0"})
    meta = {
        "name": path.name,
        "objectives": [
            {"name": "accuracy", "direction": "max", "unit": "%"},
            {"name": "latency_ms", "direction": "min", "unit": "ms"},
            {"name": "energy_mj", "direction": "min", "unit": "mJ"},
        ],
        "metrics": METRICS,
    }
    rng = np.random.default_rng(0)
    writer = RunWriter(path, meta)
    start = time.perf_counter()
    for lo in track(range(0, n, batch), description=f"writing {n} records"):
        records = []
        for i in range(lo, min(n, lo + batch)):
            cost = rng.uniform(0.5, 6.0)
            text, arch = texts[i % len(texts)]
            record = {"trial_id": f"t{i:06d}", "number": i, "config_json": text, "arch_id": arch,
                      "params": int(1e6 + cost * 3e5), "macs": int(5e7 + cost * 4e7), "fingerprint_json": fingerprint,
                      "started_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T00:00:09+00:00",
                      "duration_s": 9.0}  # fmt: skip
            if i % 10 == 3:
                record.update(status="failed", reason="CUDA out of memory")
            else:
                lat = cost * rng.uniform(0.8, 1.2)
                record.update(status="complete", accuracy=60 + 15 * np.log1p(cost) + rng.normal(0, 2),
                              latency_ms=lat, latency_ms_iqr=0.02 * lat, energy_mj=cost * 4 * rng.uniform(0.7, 1.3),
                              peak_memory_mb=20 + cost)  # fmt: skip
            records.append(record)
        writer.append(records)
    writer.finish()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per appended batch (file)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", help="write the run here and keep it (default: a temporary directory)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or tmp) / "bench-run"
        wrote = write_run(path, args.trials, args.batch)
        files = len(list((path / "trials").glob("*.parquet")))
        size = sum(f.stat().st_size for f in (path / "trials").iterdir()) / 1e6
        print(f"wrote {args.trials} records in {files} files ({size:.1f} MB) in {wrote:.2f} s")

        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            text = pareto_report(path)
            times.append(time.perf_counter() - start)
        front = len(text.splitlines()) - 2
        print(f"in-process read + front + text: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}), front of {front} trials")  # fmt: skip

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        script = f"from results.report import pareto_report; print(pareto_report({str(path)!r}))"
        commands = {
            "`python -m nas pareto RUN`": [sys.executable, "-m", "nas", "pareto", str(path)],
            "fresh interpreter, results.report only": [sys.executable, "-c", script],
            "  of which interpreter + imports": [sys.executable, "-c", "import results.report"],
            # What results/ costs by itself: search_spaces/__init__ imports torch, which results/ never needs.
            "fresh interpreter, results.report, search_spaces without torch": [
                sys.executable,
                "-c",
                STUB.format(root=str(ROOT / "search_spaces")) + script,
            ],
        }
        for label, command in commands.items():
            walls = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
                walls.append(time.perf_counter() - start)
            print(f"{label} end to end: median {statistics.median(walls):.3f} s "
                  f"(min {min(walls):.3f}, max {max(walls):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
