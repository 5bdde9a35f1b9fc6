"""`espnas profile`: latency (and energy, memory) of one or more models across batch sizes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from nas.cli._console import console
from nas.cli.counting import input_size
from nas.cli.predictor import positive_seconds
from profilers.models import DTYPES
from profilers.profile import ProfileReport, parse_batch_sizes, profile
from results.files import write_text_atomic
from search_spaces.errors import EspnasError


def _batch_sizes(text: str) -> list[int]:
    try:
        return parse_batch_sizes(text)
    except EspnasError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _runtimes(text: str) -> list[str]:
    from profilers.runtimes import parse_runtimes

    try:
        return parse_runtimes(text)
    except EspnasError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="measure latency (and energy, memory) against batch size; several models are interleaved",
        description="Measure inference latency (median, IQR, bootstrap 95% CI) of one or more models; "
        "several models are timed interleaved and reported as ratios against the first. CPU timing uses one "
        "thread unless --threads says otherwise, and warns when the spread says the machine was busy.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="preset, JSON file, compact string, or torchvision:NAME")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--batch-sizes", type=_batch_sizes, default=[1], metavar="B,B,...", help="default: 1")
    p.add_argument("--input-size", type=input_size, metavar="HxW", help="default: the config's")
    p.add_argument(
        "--dtype", choices=list(DTYPES), default="fp32", help="weights and inputs in this precision (default: fp32)"
    )
    p.add_argument("--deploy", action="store_true", help="time the deploy form (BN folded)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument("--cuda-graph", action="store_true", help="replay the forward as a CUDA graph")
    p.add_argument(
        "--runtime",
        type=_runtimes,
        metavar="NAME[,NAME]",
        help="time in these runtimes, interleaved, each checked against eager first: eager, deploy, compile, "
        "onnxruntime, onnxruntime-cuda, onnxruntime-trt, tensorrt (replaces --deploy/--compile)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: 1, steady on a shared machine; recorded in every record)",
    )
    p.add_argument("--energy", action="store_true", help="also energy per image and power (needs NVML/RAPL/INA)")
    p.add_argument("--memory", action="store_true", help="also peak memory of one forward")
    p.add_argument(
        "--seq-len",
        type=int,
        metavar="T",
        help="language models (eru-7m, lstm:eru-7m, ...): tokens per row and call (default: 1, one step)",
    )
    p.add_argument(
        "--time-budget",
        type=positive_seconds,
        default=2.0,
        metavar="S",
        help="seconds per model per batch size (default: 2.0)",
    )
    p.add_argument("--rounds", type=int, default=5, metavar="N", help="interleaved rounds when comparing (default: 5)")
    p.add_argument("--json", action="store_true", help="print one JSON record per line instead of a table")
    from nas.cli.predictor import add_predict_arguments

    add_predict_arguments(p, runtime_flag=False)
    p.add_argument("--out", metavar="FILE", help="also write the records (JSON lines) to FILE")
    p.add_argument("--plot", metavar="FILE", help="draw latency and power vs batch size (.png/.pdf/.svg)")
    p.set_defaults(run=run_profile)


def run_profile(args: argparse.Namespace) -> None:
    from profilers.disturbance import disturbances, warning_line
    from profilers.threads import choose_threads

    threads = choose_threads(args.threads, "measure").threads if args.device == "cpu" else args.threads
    if args.rounds < 1:
        raise EspnasError(f"--rounds {args.rounds} is invalid; valid: a positive integer")
    for path in (args.out, args.plot):
        if path and Path(path).is_dir():
            raise EspnasError(f"{path!r} is a directory; valid: a file path to write")
        if path and not Path(path).resolve().parent.is_dir():
            raise EspnasError(f"directory of {path!r} does not exist")
    err = console(stderr=True)
    with err.status("profiling ...") as status:
        report = profile(
            args.specs,
            device=args.device,
            batch_sizes=args.batch_sizes,
            input_size=args.input_size,
            dtype=args.dtype,
            deploy=args.deploy,
            channels_last=args.channels_last,
            compile=args.compile,
            cuda_graph=args.cuda_graph,
            threads=threads,
            energy=args.energy,
            memory=args.memory,
            time_budget_s=args.time_budget,
            rounds=args.rounds,
            on_step=lambda text: status.update(f"profiling: {text}"),
            runtimes=args.runtime,
            seq_len=args.seq_len,
        )
    if args.predict:
        _add_predictions(args, report.records)
    lines = [json.dumps(r, sort_keys=True) for r in report.records]
    if args.out:
        write_text_atomic(Path(args.out), "\n".join(lines) + "\n")
    if args.plot:
        from profilers.figure import plot_profile

        plot_profile(report.records, args.plot)
    warning = warning_line(disturbances(report.records), report.fingerprint.get("threads"))
    if args.json:
        print("\n".join(lines))
    else:
        out = console()
        out.print(_table(report, out.width))
    if warning:
        err.print(warning, soft_wrap=True, markup=False)


def _add_predictions(args: argparse.Namespace, records: list[dict[str, Any]]) -> None:
    """Each latency record gets the latency its runtime's table predicts (`predicted`, with the error)."""
    from nas.cli.predictor import prediction
    from search_spaces import resolve

    for rec in records:
        if rec["metric"] != "latency":
            continue
        options = rec.get("options", {})
        runtime = rec.get("runtime") or ("deploy" if options.get("deploy") else "eager")
        config = resolve(rec["model"].split(" [", 1)[0])
        config = config.replace(input_size=tuple(options.get("input_shape", [0, 0, *config.input_size])[2:]))
        threads = int(rec.get("fingerprint", {}).get("threads") or 1)
        pred = prediction(args, config, runtime=runtime, batch=int(rec["batch_size"]), threads=threads)
        pred["error"] = pred["latency_ms"] / rec["value"] - 1
        rec["predicted"] = pred


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _table(report: ProfileReport, width: int = 80) -> Table:
    """One row per record; when narrow the backend, per-image, n and CI columns go first, in that order (IQR, the
    spread the busy-machine warning speaks of, goes last)."""
    from nas.cli._console import Column, fitted_table

    fp = report.fingerprint
    n = fp.get("threads")
    threads = f"{n} thread{'' if n == 1 else 's'}"
    title = f"{fp.get('device_name', report.settings['device'])}, {threads}, torch {fp.get('torch')}"
    columns = [
        Column("model", "left", fold=True),
        Column("batch"),
        Column("metric", "left"),
        Column("value"),
        Column("per image", priority=5),
        Column("IQR", priority=1),
        Column("95% CI", priority=3),
        Column("n", priority=4),
        Column("ratio"),
        Column("backend", "left", priority=6),
    ]
    rows = []
    for r in report.records:
        spread = r.get("spread") or {}
        ci = spread.get("ci95")
        rows.append(
            [
                r["model"],
                str(r["batch_size"]),
                r["metric"],
                f"{_fmt(r['value'])} {r['unit']}",
                _fmt(r.get("per_image")),
                _fmt(spread.get("iqr")),
                f"{_fmt(ci[0])}-{_fmt(ci[1])}" if ci else "-",
                str(r.get("n_samples", "-")),
                f"{r['ratio']:.3f}" if "ratio" in r else "-",
                r["backend"],
            ]
        )
    table, dropped = fitted_table(columns, rows, width, title=title)
    if dropped:
        table.caption = f"not shown at {width} columns: {', '.join(dropped)} (--json has every field)"
    return table
