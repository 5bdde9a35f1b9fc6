"""Latency predictor accuracy on held-out configs of the default space, per (runtime, batch), with the table
build time, the prediction time, and transfer to another runtime with N calibration networks.

    nice -n 5 python benchmarks/predictor_accuracy.py --runtimes eager --batches 1,8      # one process per runtime
    nice -n 5 python benchmarks/predictor_accuracy.py --runtimes onnxruntime --batches 1,8
    python benchmarks/predictor_accuracy.py --report      # both runtimes' figures and transfer, measuring nothing

Per (runtime, batch): build the table in --work/tables (resumed if there), then measure the held-out configs
(seed 777, never used to build or fit a table) one at a time, each in rounds alternating with the table's
reference unit, exactly as the table's units and fitting networks were (`profilers.predictor.timing`), one
thread, the thread's CPU time as the clock. Everything measured is kept in --work/heldout-<runtime>-b<batch>.json
with the load average at the time, so a killed run resumes.

Two scores per setting: against each held-out network's time normalised by the reference (its ratio to the
reference times the table's reference time: what the table predicts, so the load of the moment cancels), and
against its raw time (CPU-time median at the moment it was measured).

`--report` also writes --work/heldout.json (normalised times) for benchmarks/two_stage.py --work.

Transfer (`--report`, HELP's setting with a runtime standing in for the new device): the table of runtime A
with its overhead refitted on the first N held-out networks measured in runtime B (raw times), scored on
held-out configs 20 and on (the same for every N); N = 0 is table A used as it is.
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

HELD_SEED, FIT_SEED = 777, 1_000_003


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


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _configs(args: argparse.Namespace):
    from nas.search.predicted import space_configs

    fit = space_configs(None, args.fit, seed=FIT_SEED)
    fit_ids = {c.arch_id for c in fit}
    pool = space_configs(None, args.held_out + len(fit), seed=HELD_SEED)
    held = [c for c in pool if c.arch_id not in fit_ids][: args.held_out]
    return fit, held


def _store(work: Path, runtime: str, batch: int) -> Path:
    return work / f"heldout-{runtime}-b{batch}.json"


def measure(args: argparse.Namespace, work: Path) -> None:
    from nas.cli.predictor import DEFAULT_UNIT_CONFIGS
    from nas.search.predicted import space_configs
    from profilers.predictor.build import ReferenceTimer, build_table
    from results.files import write_json_atomic

    unit_configs = space_configs(None, DEFAULT_UNIT_CONFIGS, seed=0)
    fit, held = _configs(args)
    for r in args.runtimes.split(","):
        for b in (int(x) for x in args.batches.split(",")):
            load0 = _load()
            table = build_table(
                unit_configs, fit, r, batch=b, threads=args.threads, directory=work / "tables",
                unit_rounds=args.unit_rounds, network_rounds=args.network_rounds,
            )  # fmt: skip
            tb = table.build
            tb.setdefault("load_at_build", [load0, _load()])
            table.save()
            print(
                f"table {r} b{b}: {len(table.entries)} units, {len(fit)} fit networks, measuring "
                f"{tb['seconds_units']:.0f}s units + {tb['seconds_networks']:.0f}s networks; reference "
                f"{table.reference['ms']:.3f} ms; fit MAPE {table.overhead.fit_mape:.1%}; load {load0} -> {_load()}",
                flush=True,
            )
            path = _store(work, r, b)
            done: dict[str, dict] = json.loads(path.read_text()) if path.is_file() else {}
            todo = [c for c in held if c.arch_id not in done]
            with ReferenceTimer(r, batch=b, threads=args.threads) as timer:
                for i, cfg in enumerate(todo):
                    t = time.perf_counter()
                    rel = timer.network(cfg, args.network_rounds)
                    done[cfg.arch_id] = rel.to_dict() | {"load": _load(), "seconds": time.perf_counter() - t}
                    write_json_atomic(path, done)
                    if i % 10 == 9 or i == len(todo) - 1:
                        print(f"held out {r} b{b}: {len(done)}/{len(held)}, load {_load()}", flush=True)


def report(args: argparse.Namespace, work: Path) -> dict:
    from profilers.predictor import LatencyTable, calibrate
    from profilers.predictor.build import refit

    _, held = _configs(args)
    tables: dict[tuple[str, int], LatencyTable] = {}
    stores: dict[tuple[str, int], dict] = {}
    for path in sorted((work / "tables").glob("*.json")):
        t = LatencyTable.load(path)
        items = [*t.entries.values(), *t.networks.values()]
        settled = all("median_ms" in e or "latency_ms" in e for e in items)
        if t.networks and settled and t.build.get("units_total") == len(t.entries):  # a finished build
            refit(t)  # the overhead fitted by this version's fit_overhead on the table's own fitting networks
            tables[(t.runtime, t.batch)] = t
    for key in tables:
        p = _store(work, *key)
        stores[key] = json.loads(p.read_text()) if p.is_file() else {}
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": args.threads}
    print(f"{'runtime':<12} {'batch':>5} {'n':>4} {'MAPE':>7} {'<=10%':>7} {'<=5%':>7} {'Spearman':>9}  "
          f"{'raw MAPE':>8} {'raw <=10%':>9} {'raw rho':>8} {'build':>6} {'load':>10}")  # fmt: skip
    for (r, b), tab in sorted(tables.items()):
        got = stores[(r, b)]
        cfgs = [c for c in held if c.arch_id in got]
        if not cfgs:
            continue
        pred = [tab.predict(c).latency_ms for c in cfgs]
        norm = [got[c.arch_id]["ratio"] * tab.reference["ms"] for c in cfgs]
        raw = [got[c.arch_id]["ms"] for c in cfgs]
        m, mr = _metrics(pred, norm), _metrics(pred, raw)
        loads = [got[c.arch_id]["load"] for c in cfgs]
        build_s = tab.build["seconds_units"] + tab.build["seconds_networks"]
        out[f"{r}/b{b}"] = {
            "normalised": m, "raw": mr, "build_s": build_s, "load_heldout": [min(loads), max(loads)],
            "load_build": tab.build.get("load_at_build"), "fit": tab.overhead.__dict__, "reference": tab.reference,
        }  # fmt: skip
        print(
            f"{r:<12} {b:>5} {m['n']:>4} {m['mape']:>7.1%} {m['within_10']:>7.1%} {m['within_5']:>7.1%} "
            f"{m['spearman']:>9.3f}  {mr['mape']:>8.1%} {mr['within_10']:>9.1%} {mr['spearman']:>8.3f} "
            f"{build_s:>5.0f}s {min(loads):>4.1f}-{max(loads):<4.1f}"
        )
    if tables:  # one prediction, end to end (unit keys, look-ups, overhead), on distinct configs
        tab = next(iter(tables.values()))
        reps = 20
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(reps):
            for c in held:
                tab.predict(c)
        out["predict_us"] = (time.perf_counter() - t) / (reps * len(held)) * 1e6
        out["predict_cpu_us"] = (time.process_time() - cpu) / (reps * len(held)) * 1e6
        print(f"one prediction: {out['predict_us']:.1f} us wall, {out['predict_cpu_us']:.1f} us CPU (load {_load()})")
    # benchmarks/two_stage.py reads {arch id: {"<runtime>/b<batch>": ms}} from heldout.json: the normalised times
    legacy: dict[str, dict[str, float]] = {}
    for (r, b), got in stores.items():
        for arch, rel in got.items():
            legacy.setdefault(arch, {})[f"{r}/b{b}"] = rel["ratio"] * tables[(r, b)].reference["ms"]
    (work / "heldout.json").write_text(json.dumps(legacy))
    ns = [int(n) for n in args.calibrate.split(",")]
    scored = held[max(ns) :]
    for (src, b), tab in sorted(tables.items()):
        for (dst, b2), _ in sorted(tables.items()):
            got = stores[(dst, b2)]
            if b2 != b or dst == src or not all(c.arch_id in got for c in held):
                continue
            line = []
            for n in ns:
                saved = tab.overhead
                if n:
                    tab.overhead = calibrate(tab, held[:n], [got[c.arch_id]["ms"] for c in held[:n]])
                pred = [tab.predict(c).latency_ms for c in scored]
                tab.overhead = saved
                m = _metrics(pred, [got[c.arch_id]["ms"] for c in scored])
                out[f"transfer {src}->{dst}/b{b}/N={n}"] = m
                line.append(f"N={n}: MAPE {m['mape']:.1%}, <=10% {m['within_10']:.0%}, rho {m['spearman']:.3f}")
            print(f"transfer {src} table -> {dst}, batch {b} (scored on {len(scored)}): " + "; ".join(line))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtimes", default="eager,onnxruntime")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--fit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--unit-rounds", type=int, default=15)
    ap.add_argument("--network-rounds", type=int, default=5)
    ap.add_argument("--work", default="/tmp/espnas-predictor-bench-v2")
    ap.add_argument("--calibrate", default="0,5,10,20", help="N values for the transfer check")
    ap.add_argument("--report", action="store_true", help="report on what is measured, measure nothing")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: load {os.getloadavg()}, {args.threads} thread(s)")
    if not args.report:
        measure(args, work)
    else:
        (work / "report.json").write_text(json.dumps(report(args, work), indent=1, default=str))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
