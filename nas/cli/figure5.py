"""`espnas figure5`: the paper's Figure 5 measured here (ESPNetv2 against ShuffleNetV2 and MobileNetV2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from nas.cli._console import console
from results.files import write_text_atomic
from search_spaces.errors import EspnasError


def _batch_sizes(text: str) -> list[int]:
    from profilers.profile import parse_batch_sizes

    try:
        return parse_batch_sizes(text)
    except EspnasError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "figure5",
        help="the paper's Figure 5: latency, power and energy per image against batch size, ESPNetv2 vs baselines",
        description="Measure ESPNetv2 (0.5, 1.0, 1.5, 2.0) against ShuffleNetV2-1.0 and MobileNetV2 (from "
        "torchvision, where it imports) at each batch size: latency with its 95% CI and, where the device has "
        "a power source, power and energy per image with 95% intervals. Baselines that cannot be built are "
        "named with the reason.",
    )
    p.add_argument("--device", default="cuda", help="cpu, cuda or cuda:N (default: cuda)")
    p.add_argument("--batch-sizes", type=_batch_sizes, default=[1, 2, 4, 8, 16, 32, 64], metavar="B,B,...")
    p.add_argument("--models", nargs="+", metavar="SPEC", help="instead of the presets and baselines")
    p.add_argument("--no-energy", action="store_true", help="latency only")
    p.add_argument("--cuda-graph", action="store_true", help="replay each forward as a CUDA graph")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's current)")
    p.add_argument("--time-budget", type=float, default=2.0, metavar="S", help="latency seconds per point")
    p.add_argument("--json", action="store_true", help="print one JSON row per line instead of a table")
    p.add_argument("--out", metavar="FILE", help="also write the report (JSON)")
    p.add_argument("--plot", metavar="FILE", help="draw latency, power and energy vs batch size (.png/.pdf/.svg)")
    p.set_defaults(run=run_figure5)


def run_figure5(args: argparse.Namespace) -> None:
    from profilers.figure5 import figure5, plot_figure5

    if args.threads is not None and args.threads < 1:
        raise EspnasError(f"--threads {args.threads} is invalid; valid: a positive integer")
    if args.time_budget <= 0:
        raise EspnasError(f"--time-budget {args.time_budget} is invalid; valid: a positive number of seconds")
    for path in (args.out, args.plot):
        if path and not Path(path).resolve().parent.is_dir():
            raise EspnasError(f"directory of {path!r} does not exist")
    err = console(stderr=True)
    with err.status("measuring ...") as status:
        fig = figure5(
            args.device,
            models=args.models,
            batch_sizes=args.batch_sizes,
            energy=False if args.no_energy else None,
            cuda_graph=args.cuda_graph,
            threads=args.threads,
            time_budget_s=args.time_budget,
            on_step=lambda text: status.update(f"measuring: {text}"),
        )
    for model, reason in fig.skipped.items():
        err.print(f"skipped {model}: {reason}")
    if fig.energy_note:
        err.print(fig.energy_note)
    if args.out:
        report = {"rows": fig.rows, "skipped": fig.skipped, "settings": fig.settings, "fingerprint": fig.fingerprint}
        write_text_atomic(Path(args.out), json.dumps(report, indent=1, default=str) + "\n")
    if args.plot:
        plot_figure5(fig, args.plot)
    if args.json:
        print("\n".join(json.dumps(r, sort_keys=True) for r in fig.rows))
        return
    console().print(_table(fig))


def _table(fig) -> Table:
    energy = any("power_w" in r for r in fig.rows)
    table = Table(title=f"Figure 5 on {fig.fingerprint.get('device_name', fig.settings['device'])}")
    for col in ("model", "batch", "ms", "95% CI") + (("W", "mJ/img", "95% CI", "net") if energy else ()):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in fig.rows:
        cells = [r["model"].removeprefix("torchvision:"), str(r["batch_size"]), f"{r['latency_ms']:.3g}"]
        cells.append(_ci(r["latency_ci95"]))
        if energy:
            cells += [f"{r['power_w']:.0f}", f"{r['energy_mj_per_image']:.3g}", _ci(r["energy_ci95"])]
            cells.append(f"{r['energy_mj_per_image_net']:.3g}")
        table.add_row(*cells)
    return table


def _ci(ci) -> str:
    import math

    return "-" if not all(math.isfinite(v) for v in ci) else f"{ci[0]:.3g}-{ci[1]:.3g}"
