"""Latency predictor accuracy on held-out configs of the default space, per (runtime, batch), with the table
build time, the prediction time, and transfer with N calibration networks.

    python benchmarks/predictor_accuracy.py                       # eager + onnxruntime, batch 1 and 8, 100 held out
    python benchmarks/predictor_accuracy.py --held-out 20 --runtimes onnxruntime --batches 1   # a quick look

Tables are built (or resumed) in --work; held-out configs are drawn from the paper space with a seed no table
uses and are never used to build or fit a table. Each held-out config is measured in every (runtime, batch)
one after the other, so that drift on a shared machine hits all settings alike. Everything measured is kept in
--work/heldout.json, so a killed run resumes. Transfer: the overhead of table A (one runtime) is refitted on N
networks measured in runtime B (HELP's setting, with a runtime standing in for a second device) and checked on
the rest of the held-out set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _metrics(pred: list[float], meas: list[float]) -> dict[str, float]:
    from scipy.stats import spearmanr

    errs = [p / m - 1 for p, m in zip(pred, meas, strict=True)]
    return {
        "n": len(errs),
        "mape": statistics.fmean(abs(e) for e in errs),
        "within_10": sum(abs(e) <= 0.10 for e in errs) / len(errs),
        "within_5": sum(abs(e) <= 0.05 for e in errs) / len(errs),
        "spearman": float(spearmanr(pred, meas).statistic) if len(errs) > 2 else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtimes", default="eager,onnxruntime")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--fit", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--unit-budget", type=float, default=0.2)
    ap.add_argument("--network-budget", type=float, default=0.5)
    ap.add_argument("--work", default="/tmp/espnas-predictor-bench")
    ap.add_argument("--calibrate", default="2,5,10,20", help="N values for the transfer check")
    ap.add_argument(
        "--no-measure", action="store_true", help="report on the held-out configs already measured, measure nothing"
    )
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from nas.cli.predictor import DEFAULT_UNIT_CONFIGS
    from nas.search.predicted import space_configs
    from profilers.predictor import calibrate
    from profilers.predictor.build import build_table, measure_network

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    runtimes = args.runtimes.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    settings = [(r, b) for r in runtimes for b in batches]
    print(f"load average at start: {os.getloadavg()}, {args.threads} thread(s)", flush=True)

    unit_configs = space_configs(None, DEFAULT_UNIT_CONFIGS, seed=0)
    fit = space_configs(None, args.fit, seed=1_000_003)
    fit_ids = {c.arch_id for c in fit}
    pool = space_configs(None, args.held_out + len(fit), seed=777)
    held = [c for c in pool if c.arch_id not in fit_ids][: args.held_out]

    tables = {}
    for r, b in settings:
        t = time.perf_counter()
        tables[(r, b)] = build_table(
            unit_configs, fit, r, batch=b, threads=args.threads, directory=work / "tables",
            unit_budget_s=args.unit_budget, network_budget_s=args.network_budget,
        )  # fmt: skip
        tb = tables[(r, b)].build
        print(
            f"table {r} b{b}: {len(tables[(r, b)].entries)} units, {len(fit)} fit networks, "
            f"measuring {tb['seconds_units']:.0f}s units + {tb['seconds_networks']:.0f}s networks "
            f"(this call {time.perf_counter() - t:.0f}s), load {os.getloadavg()[0]:.1f}",
            flush=True,
        )

    store = work / "heldout.json"
    measured: dict[str, dict[str, float]] = json.loads(store.read_text()) if store.is_file() else {}
    loads = []
    if args.no_measure:
        held = [c for c in held if all(f"{r}/b{b}" in measured.get(c.arch_id, {}) for r, b in settings)]
    for i, cfg in enumerate(held):
        row = measured.setdefault(cfg.arch_id, {})
        for r, b in settings:
            key = f"{r}/b{b}"
            if key not in row:
                row[key] = measure_network(cfg, r, batch=b, threads=args.threads, budget_s=args.network_budget)
        loads.append(os.getloadavg()[0])
        if not args.no_measure:
            store.write_text(json.dumps(measured))
        if i % 10 == 9:
            print(f"held out: {i + 1}/{len(held)} measured, load {loads[-1]:.1f}", flush=True)

    report: dict[str, object] = {"threads": args.threads, "load_during_heldout": [min(loads), max(loads)]}
    when = "now (measured earlier; see that run's log)" if args.no_measure else "while measuring them"
    print(f"\nheld-out configs: {len(held)}; load average {when} {min(loads):.1f}..{max(loads):.1f}")
    print(f"{'runtime':<12} {'batch':>5} {'MAPE':>7} {'<=10%':>7} {'<=5%':>7} {'Spearman':>9} {'build':>7}")
    for r, b in settings:
        tab = tables[(r, b)]
        meas = [measured[c.arch_id][f"{r}/b{b}"] for c in held]
        pred = [tab.predict(c).latency_ms for c in held]
        m = _metrics(pred, meas)
        m["build_s"] = tab.build["seconds_units"] + tab.build["seconds_networks"]
        report[f"{r}/b{b}"] = m
        print(
            f"{r:<12} {b:>5} {m['mape']:>7.1%} {m['within_10']:>7.1%} {m['within_5']:>7.1%} "
            f"{m['spearman']:>9.3f} {m['build_s']:>6.0f}s"
        )

    # One prediction, end to end (decompose, look up, overhead), on distinct configs: the predictor's hot path.
    tab = tables[settings[0]]
    reps = 20
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(reps):
        for c in held:
            tab.predict(c)
    per_us = (time.perf_counter() - t) / (reps * len(held)) * 1e6
    cpu_us = (time.process_time() - cpu) / (reps * len(held)) * 1e6
    report["predict_us"], report["predict_cpu_us"] = per_us, cpu_us
    print(
        f"\none prediction: {per_us:.1f} us wall, {cpu_us:.1f} us of CPU time (mean over {reps} x {len(held)} "
        f"configs; on a loaded machine the wall time includes waiting for the core)"
    )

    # Transfer: table of runtime A, overhead refitted on N networks measured in runtime B.
    if len(runtimes) >= 2:
        ns = [int(n) for n in args.calibrate.split(",") if int(n) < len(held)]
        for b in batches:
            for src, dst in ((runtimes[0], runtimes[1]), (runtimes[1], runtimes[0])):
                tab = tables[(src, b)]
                meas = [measured[c.arch_id][f"{dst}/b{b}"] for c in held]
                line = []
                for n in ns:
                    over = calibrate(tab, held[:n], meas[:n])
                    saved, tab.overhead = tab.overhead, over
                    pred = [tab.predict(c).latency_ms for c in held[n:]]
                    tab.overhead = saved
                    m = _metrics(pred, meas[n:])
                    report[f"transfer {src}->{dst}/b{b}/N={n}"] = m
                    line.append(f"N={n}: MAPE {m['mape']:.1%}, <=10% {m['within_10']:.0%}, rho {m['spearman']:.3f}")
                print(f"transfer {src} table -> {dst}, batch {b}: " + "; ".join(line))
    print(f"load average at end: {os.getloadavg()}")
    (work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
