"""`espnas search`: run (or resume) a hardware-aware search; prints the front and the run directory."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nas.search.band import band_text, fmt_count, parse_band
from nas.search.driver import DEFAULT_TRIALS, SearchSettings, run_search
from search_spaces.errors import EspnasError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search",
        help="search the EESP family for the Pareto-best variants in a FLOP band (Ray Tune + Optuna)",
        description="Search EESP variants in a FLOP band for accuracy, latency and energy. With no arguments: "
        "the digits data, the paper's space, a run that takes about five minutes on a 2-core machine.",
    )
    p.add_argument("space", nargs="?", metavar="SPACE_FILE", help="search-space TOML (default: the task's space)")
    p.add_argument(
        "--task",
        choices=("classification", "segmentation"),
        help="what the networks do (default classification; segmentation: docs/segmentation.md)",
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
        help="proxy data: digits (default), an image folder or a CIFAR directory; segmentation: scenes "
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
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (training and local measurement)")
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
        help="stop hopeless trials; mo-asha ranks accuracy and MACs together",
    )
    p.add_argument(
        "--latency-budget",
        dest="latency_budget_s",
        metavar="LATENCY_BUDGET",
        type=float,
        default=1.0,
        help="seconds per latency measurement",
    )
    p.add_argument("--measure-threads", type=int, default=1, help="CPU threads for CPU measurements (default 1)")
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
    p.add_argument("--no-progress", action="store_true", help="no live table")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(run=cmd_search)


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """The library settings for parsed arguments (shared with tests). Options are named as the settings'
    fields (`dest`), so they pass through; only the band, the lists and the progress switch are converted."""
    from nas.search.tasks import get_task

    values = {key: value for key, value in vars(args).items() if value is not None}
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
    from nas.cli._console import console

    settings = settings_from_args(args)
    out = console()
    if not args.json:
        what = "resuming" if settings.resume else "searching"
        out.print(f"espnas search: {what}; FLOP band {band_text(settings.flops, settings.task)}")
    outcome = run_search(settings)
    if args.json:
        front = outcome.front.to_dict(orient="records") if len(outcome.front) else []
        print(
            json.dumps(
                {
                    "run_dir": str(outcome.run_dir),
                    "objectives": outcome.objectives,
                    "counts": outcome.counts,
                    "hypervolume": outcome.hypervolume,
                    "notes": outcome.notes,
                    "elapsed_s": outcome.elapsed_s,
                    "ray_startup_s": outcome.ray_startup_s,
                    "front": front,
                },
                default=str,
            )
        )
        return 0
    for note in outcome.notes:
        out.print(f"note: {note}")
    out.print(front_table(outcome))
    c = outcome.counts
    out.print(
        f"{c.get('complete', 0)} complete, {c.get('failed', 0)} failed, {c.get('pruned', 0)} pruned, "
        f"{c.get('infeasible', 0)} infeasible (outside the band, not trained) in {outcome.elapsed_s:.0f}s "
        f"(Ray start-up {outcome.ray_startup_s:.1f}s)"
    )
    out.print(f"run directory: {outcome.run_dir}  (espnas pareto {outcome.run_dir})")
    return 0


def front_table(outcome: Any) -> Any:
    """The front as a rich table: objectives first, then MACs, params and the architecture id."""
    from rich.table import Table

    hv = "-" if outcome.hypervolume is None else f"{outcome.hypervolume:.4g}"
    table = Table(title=f"Pareto front ({len(outcome.front)} trials, hypervolume {hv})", header_style="bold")
    names = [o["name"] for o in outcome.objectives]
    for col in ("trial", *[f"{o['name']} ({o['unit']})" for o in outcome.objectives], "conv MACs", "params", "arch"):
        table.add_column(col, justify="left" if col in ("trial", "arch") else "right")
    for _, row in outcome.front.iterrows():
        cells = [str(row["trial_id"])]
        for name in names:
            value = row.get(name)
            cells.append("-" if value is None else (fmt_count(value) if name in ("params", "macs") else f"{value:.4g}"))
        cells += [fmt_count(row["macs"]), fmt_count(row["params"]), str(row["arch_id"])]
        table.add_row(*cells)
    if not len(outcome.front):
        table.caption = "no complete trial: nothing on the front"
    return table


__all__ = ["DEFAULT_TRIALS", "EspnasError", "register"]
