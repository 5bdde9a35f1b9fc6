"""`espnas search`: run (or resume) a hardware-aware search; prints the front and the run directory."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from nas.search.band import band_text, parse_band
from nas.search.driver import DEFAULT_TRIALS, SearchSettings, run_search
from search_spaces.errors import EspnasError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search",
        help="search the EESP family for the Pareto-best variants in a FLOP band (Ray Tune + Optuna)",
        description="Search EESP variants in a FLOP band for accuracy, latency and energy. With no arguments: "
        "the digits data, the stages space, 16 trials of 3 proxy epochs: about a minute a trial on an idle "
        "2-core AMD EPYC machine (16 min 14 s for 16 on the paper's space; 5 min 16 s on a 2-core Intel Xeon); "
        "`make demo` (--trials 8 --proxy-epochs 2) took 4 min 17 s on the AMD machine. The time is mostly proxy "
        "training, so it grows with the load, --trials and --proxy-epochs; the progress output prints an ETA. "
        "HV, the front's hypervolume, is scaled over the complete trials so far, so it can fall when a new trial "
        "widens an objective's range (README, Hypervolume). Ctrl-C keeps every finished trial and prints the "
        "command that resumes.",
    )
    p.add_argument("space", nargs="?", metavar="SPACE_FILE", help="search-space TOML (default: the task's space)")
    p.add_argument(
        "--task",
        choices=("classification", "segmentation", "language"),
        help="what the networks do (default classification; segmentation: docs/segmentation.md; language: the "
        "ERU, docs/language.md)",
    )
    p.add_argument("--trials", type=int, help=f"trials to train and measure (default {DEFAULT_TRIALS})")
    p.add_argument(
        "--flops",
        help="conv-MAC band at 224x224 (default 28M:284M, 1000 classes; segmentation 54M:543M, 20 classes)",
    )
    p.add_argument(
        "--objectives",
        help="comma-separated: accuracy, latency, energy, peak_memory, params, macs "
        "(default: accuracy,latency and energy where a power source exists)",
    )
    p.add_argument(
        "--data",
        help="proxy data: digits (default), scenes (digit scenes that separate networks; use with "
        "--proxy-recipe proxy-adam), an image folder or a CIFAR directory; segmentation: scenes "
        "(default), a Cityscapes root or an image-and-mask folder",
    )
    p.add_argument("--image-size", type=int, default=32, help="proxy training resolution (default 32)")
    p.add_argument(
        "--proxy-epochs",
        type=int,
        default=SearchSettings.proxy_epochs,
        help="proxy training epochs per trial (default 3)",
    )
    p.add_argument("--proxy-max-steps", type=int, help="cap on proxy optimiser steps per trial")
    p.add_argument(
        "--proxy-recipe",
        help="classification proxy recipe: proxy (SGD, the default) or proxy-adam (AdamW; what --data scenes "
        "is measured with, benchmarks/README.md)",
    )
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda or cuda:N for training and local measurement (default: cpu)"
    )
    p.add_argument("--targets", help="comma-separated Ray custom resources / accelerator types to measure on")
    p.add_argument("--target-objective", default="worst", help="'worst' over targets or one target's name")
    p.add_argument("--address", help="join this Ray cluster (started with 'ray start --head')")
    p.add_argument("--run-dir", help="run directory (default runs/search-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the search in --run-dir (or the latest run)")
    p.add_argument("--seed", type=int, default=0, help="sampler and training seed (default 0)")
    p.add_argument("--sampler", default="tpe", help="tpe (default), nsga2, random, or an Optuna sampler class")
    p.add_argument("--storage", help="Optuna RDB URL (default sqlite in the run directory)")
    p.add_argument("--concurrency", type=int, help="parallel trials (default: 1 when measuring on this CPU)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="Ray CPUs per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, help="Ray GPUs per trial (default 1 on cuda)")
    p.add_argument("--retries", type=int, default=1, help="re-attempts of a failing trial (default 1)")
    p.add_argument(
        "--early-stop",
        choices=("none", "asha", "median", "mo-asha"),
        default="none",
        help="stop hopeless trials on their accuracy curve; mo-asha ranks accuracy and MACs together (default: none)",
    )
    p.add_argument(
        "--zero-cost-rung",
        metavar="MEASURE",
        help="score each proposal with this zero-cost measure (e.g. synflow) and train only the best --zero-cost-keep",
    )
    p.add_argument("--zero-cost-keep", type=float, help="fraction of proposals the zero-cost rung trains (1/3)")
    p.add_argument(
        "--latency-budget",
        dest="latency_budget_s",
        metavar="LATENCY_BUDGET",
        type=float,
        default=1.0,
        help="seconds per latency measurement (default: 1.0)",
    )
    p.add_argument(
        "--threads",
        "--measure-threads",
        dest="measure_threads",
        type=int,
        metavar="N",
        default=1,
        help="torch CPU threads for CPU measurements (default: 1, steady on a shared machine; recorded); "
        "trials train with --cpus-per-trial threads",
    )
    p.add_argument(
        "--runtime",
        default="deploy",
        metavar="NAME",
        help="runtime latency is measured in, checked against eager first: deploy (default), eager, compile, "
        "onnxruntime, onnxruntime-cuda, onnxruntime-trt, tensorrt",
    )
    p.add_argument(
        "--target-runtime",
        dest="target_runtimes",
        action="append",
        metavar="TARGET=NAME",
        help="measure one of --targets in another runtime (repeatable)",
    )
    p.add_argument(
        "--predictor-table",
        metavar="FILE",
        help="latency table for the latency_pred objective (default: this machine's; espnas predictor build)",
    )
    p.add_argument(
        "--two-stage",
        action="store_true",
        help="search on latency_pred, then measure only the trials near the predicted front (two_stage.json)",
    )
    p.add_argument(
        "--two-stage-margin", type=float, default=0.1, metavar="F", help="slack on predicted latency (default 0.1)"
    )
    p.add_argument("--name", help="run name (default: the directory name)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (default: a live table at a terminal; in a log or pipe each finished trial and the counts)",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(run=cmd_search)


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """The library settings for parsed arguments (shared with tests). Options are named as the settings'
    fields (`dest`), so they pass through; only the band, the lists and the progress switch are converted."""
    from nas.search.tasks import get_task

    # only settings: the parser's own entries (command, run, ...) and the CLI switches are not
    # (tests/nas/search/test_settings.py checks that every option is one or the other)
    settings = {f.name for f in dataclasses.fields(SearchSettings)}
    values = {key: value for key, value in vars(args).items() if value is not None and key in settings}
    task = get_task(getattr(args, "task", None))
    values.setdefault("data", task.default_data)
    values.update(
        flops=parse_band(args.flops) if args.flops else task.default_band,
        objectives=_names(args.objectives),
        targets=_names(args.targets) or (),
        progress=not args.no_progress and not args.json,
    )
    return SearchSettings.from_dict(values)


def _names(text: str | None) -> tuple[str, ...] | None:
    """'a, b,' -> ('a', 'b'); None or '' -> None."""
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text else None


def cmd_search(args: argparse.Namespace) -> int:
    from nas.cli._console import console, line, prose
    from nas.cli._reports import front_table
    from results.pareto import run_hypervolume
    from results.store import open_run

    settings = settings_from_args(args)
    out = console()
    shown: list[str] = []

    def note(text: str) -> None:  # notes appear when they arise, wrapped between words (never inside a path)
        shown.append(text)
        prose(out, f"note: {text}")

    if not args.json:
        what = "resuming" if settings.resume else "searching"
        line(out, f"espnas search: {what}; FLOP band {band_text(settings.flops, settings.task)}")
    outcome = run_search(settings, on_note=None if args.json else note)
    try:
        hv = run_hypervolume(open_run(outcome.run_dir)) if len(outcome.front) else None
    except EspnasError:
        hv = None
    if args.json:
        front = outcome.front.to_dict(orient="records") if len(outcome.front) else []
        print(
            json.dumps(
                {
                    "run_dir": str(outcome.run_dir),
                    "objectives": outcome.objectives,
                    "counts": outcome.counts,
                    "hypervolume": None if hv is None else hv.value,
                    "hypervolume_raw": None if hv is None else hv.raw,
                    "hypervolume_detail": None if hv is None else hv.to_dict(),
                    "notes": outcome.notes,
                    "elapsed_s": outcome.elapsed_s,
                    "ray_startup_s": outcome.ray_startup_s,
                    "front": front,
                },
                default=str,
            )
        )
        return 0
    for text in outcome.notes:
        if text not in shown:
            note(text)
    hv_text = "-" if hv is None else f"{hv.value:.4g}"
    title = f"Pareto front ({len(outcome.front)} trials, HV {hv_text})"
    empty = "no complete trial: nothing on the front"
    out.print(front_table(outcome.objectives, outcome.front, out.width, title=title, empty=empty))
    if hv is not None:
        prose(out, f"HV (hypervolume): {hv.definition}")
    busy = _disturbed_trials(outcome.run_dir)
    if busy:
        prose(out, busy)
    c = outcome.counts
    prose(
        out,
        f"{c.get('complete', 0)} complete, {c.get('failed', 0)} failed, {c.get('pruned', 0)} pruned, "
        f"{c.get('infeasible', 0)} infeasible (outside the band, not trained) in {outcome.elapsed_s:.0f}s "
        f"(Ray start-up {outcome.ray_startup_s:.1f}s)",
    )
    line(out, f"run directory: {outcome.run_dir}")
    line(out, f"next: espnas pareto {outcome.run_dir}")
    return 0


def _disturbed_trials(run_dir: Any) -> str | None:
    """One warning line when trials' latencies spread as on a busy machine (profilers.disturbance), or None."""
    from profilers.disturbance import CI_LIMIT, IQR_LIMIT, disturbed
    from results.store import open_run

    try:
        trials = open_run(run_dir).complete()
    except EspnasError:
        return None
    if "latency_ms" not in trials or "latency_ms_iqr" not in trials:
        return None
    import pandas as pd

    def num(row: Any, key: str) -> float | None:
        value = row.get(key)
        return None if value is None or pd.isna(value) else float(value)

    bad = 0
    for _, row in trials.iterrows():
        lo, hi = num(row, "latency_ms_ci_lo"), num(row, "latency_ms_ci_hi")
        ci = None if lo is None or hi is None else (lo, hi)
        bad += disturbed(num(row, "latency_ms"), num(row, "latency_ms_iqr"), ci)
    if not bad:
        return None
    return (
        f"warning: {bad} of {len(trials)} trials' latencies spread as on a busy machine (IQR above "
        f"{IQR_LIMIT:.0%} or 95% CI above {CI_LIMIT:.0%} of the median), so their latency ranking is uncertain; "
        "search when the machine is quieter (see `uptime`) or give a longer --latency-budget"
    )


__all__ = ["DEFAULT_TRIALS", "EspnasError", "register"]
