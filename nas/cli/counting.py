"""`espnas presets` and `espnas count`."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from rich.table import Table

from nas.cli._console import console
from profilers.counting import count, preset_rows
from search_spaces.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "presets",
        help="the paper's models with their counts next to the paper's figures",
        description="List the paper's models (ESPNetv2 Tables 2, 4 and 5) with espnas's exact parameter and conv "
        "multiply-add counts at 224x224 next to the paper's figures.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run_presets)

    p = sub.add_parser(
        "count",
        help="exact parameters and multiply-adds of a config, instantly",
        description="Count the parameters, conv and linear multiply-adds and element-wise ops of a config from "
        "the config alone (no model is built); --cross-check also counts the built model with hooks, fvcore "
        "and ptflops (docs/counting.md).",
    )
    p.add_argument("spec", help="preset name, JSON file, inline JSON or compact string (eesp:...)")
    p.add_argument("--input-size", type=input_size, metavar="HxW", help="input resolution (default: the config's)")
    p.add_argument("--classes", type=int, metavar="N", help="number of classes (default: the config's)")
    p.add_argument("--by-layer", action="store_true", help="list every layer")
    p.add_argument("--cross-check", action="store_true", help="also count the built model with hooks, fvcore, ptflops")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads for --cross-check, which builds and runs the model (default: the cores free now, "
        "by load average; $ESPNAS_THREADS overrides; printed, and in --json); counting alone builds nothing",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    from nas.cli.predictor import add_predict_arguments

    add_predict_arguments(p, runtime_flag=True)
    p.set_defaults(run=run_count)


def input_size(text: str) -> tuple[int, int]:
    """'224' or '224x160' -> (H, W)."""
    parts = text.lower().split("x")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if len(sizes) == 1:
        sizes = (sizes[0], sizes[0])
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; valid: HxW or N, e.g. 224x224")
    return sizes  # type: ignore[return-value]


def _m(n: float) -> str:
    return f"{n / 1e6:.2f}M"


def run_presets(args: argparse.Namespace) -> None:
    rows = preset_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    from nas.cli._console import Column, fitted_table

    out = console()
    columns = [Column(c, "left" if c in ("preset", "source") else "right") for c in ("preset", "params", "paper", "Δ")]
    columns += [Column("conv MACs"), Column("paper"), Column("Δ"), Column("source", "left", priority=1)]
    cells = [
        [
            r["preset"],
            _m(r["params"]),
            _m(r["paper_params"]),
            f"{r['params_rel_diff']:+.2%}",
            _m(r["conv_macs"]),
            _m(r["paper_macs"]),
            f"{r['macs_rel_diff']:+.2%}",
            r["source"],
        ]
        for r in rows
    ]
    title = "ESPNetv2 presets, 224x224, 1000 classes (conv MACs = the paper's FLOPs)"
    table, dropped = fitted_table(columns, cells, out.width, title=title)
    if dropped:
        table.caption = "source (the paper's table) not shown at this width; --json has it"
    out.print(table)


@contextlib.contextmanager
def _cross_check_threads(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """torch's threads for the cross-check (chosen as for training: it builds and runs models), printed unless
    --json; yields what goes into the result's "threads"."""
    from profilers.threads import choose_threads, using_threads

    choice = choose_threads(args.threads, "train")
    if not args.json:
        console().print(f"threads for the cross-check: {choice}", markup=False, highlight=False)
    with using_threads(choice.threads):
        yield {"threads": choice.threads, "reason": choice.reason}


def _check_threads_flag(args: argparse.Namespace) -> None:
    if args.threads is not None and not args.cross_check:
        raise ConfigError(
            f"--threads {args.threads} applies only with --cross-check (counting from the config builds no model); "
            "valid: add --cross-check or drop --threads"
        )


def run_count(args: argparse.Namespace) -> None:
    _check_threads_flag(args)
    from search_spaces import resolve
    from search_spaces.eru_config import is_language_spec
    from search_spaces.segmentation import is_segmentation_spec

    if is_segmentation_spec(args.spec):
        _run_count_segmentation(args)
        return
    if is_language_spec(args.spec) or str(args.spec).strip().startswith("lstm:"):
        _run_count_language(args)
        return
    cfg = resolve(args.spec)
    if args.classes is not None:
        if args.classes < 1:
            raise ConfigError(f"--classes {args.classes} is invalid; valid: a positive integer")
        cfg = cfg.replace(num_classes=args.classes)
    counts = count(cfg, args.input_size)
    result = counts.to_dict(by_layer=args.by_layer)
    if getattr(args, "predict", False):
        from nas.cli.predictor import prediction

        result["predicted_latency"] = prediction(
            args, counts.config, runtime=args.predict_runtime, batch=args.predict_batch, threads=args.predict_threads
        )
    if args.cross_check:
        from profilers.crosscheck import cross_check  # builds models: torch

        with _cross_check_threads(args) as threads:
            result["cross_check"] = {**cross_check(counts.config), "threads": threads}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    _print_counts(result, counts.config.to_compact())
    if "predicted_latency" in result:
        pl = result["predicted_latency"]
        flag = f" [flagged: {pl['flag']}]" if pl.get("flag") else ""
        console().print(
            f"predicted latency: {pl['latency_ms']:.3f} ms ({pl['runtime']}, batch {pl['batch_size']}, "
            f"{pl['threads']} thread(s)){flag}",
            markup=False,
        )


def _run_count_segmentation(args: argparse.Namespace) -> None:
    """`espnas count espnetv2-seg-0.5`: the segmentation network (docs/segmentation.md)."""
    from profilers.segmentation_counting import count_segmentation

    if args.classes is not None and args.classes < 1:
        raise ConfigError(f"--classes {args.classes} is invalid; valid: a positive integer")
    counts = count_segmentation(args.spec, args.input_size, args.classes)
    result = counts.to_dict(by_layer=args.by_layer)
    if args.cross_check:
        from profilers.segmentation_counting import cross_check_segmentation  # builds the model: torch

        with _cross_check_threads(args) as threads:
            check = {**cross_check_segmentation(counts.config), "threads": threads}
        result["cross_check"] = check
        if not args.json:
            state = "equal" if check["agrees"] else "DIFFERENT"
            console().print(f"cross-check: analytic and hook counts are {state}")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    result.pop("cross_check", None)
    _print_counts(result, counts.config.to_compact())


def _run_count_language(args: argparse.Namespace) -> None:
    """`espnas count eru-7m` (or `lstm:eru-7m`, the LSTM of equal size): parameters and multiply-adds per token
    (docs/language.md); the input size does not apply, --classes neither (the vocabulary is the config's)."""
    from profilers.language_counting import count_language

    if args.classes is not None:
        raise ConfigError("--classes does not apply to a language model; its vocabulary is part of the config")
    counts = count_language(args.spec)
    result = counts.to_dict(by_layer=args.by_layer)
    if args.cross_check:
        from profilers.language_hooks import count_language_model  # builds the model: torch
        from search_spaces.eru import build_language_model

        with _cross_check_threads(args) as threads:
            hooked = count_language_model(build_language_model(counts.config).eval())
        keys = ("params", "macs_per_token")
        result["cross_check"] = {
            "hooks": {k: hooked.to_dict()[k] for k in keys},
            "agrees": all(hooked.to_dict()[k] == result[k] for k in keys),
            "threads": threads,
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    out = console()
    out.print(f"[bold]{result['compact']}[/bold]\narch_id {result['arch_id']}, per token", soft_wrap=True)
    table = Table(show_header=True)
    table.add_column("count")
    table.add_column("value", justify="right")
    for key in ("params", "macs_per_token", "conv_macs_per_token", "linear_macs_per_token",
                "decoder_macs_per_token", "elementwise_ops_per_token"):  # fmt: skip
        table.add_row(key.replace("_", " "), f"{result[key]:,}")
    out.print(table)
    if "cross_check" in result:
        state = "equal" if result["cross_check"]["agrees"] else "DIFFERENT"
        out.print(f"cross-check: analytic and hook counts are {state}")


def _print_counts(result: dict, compact: str) -> None:
    out = console()
    h, w = result["input_size"]
    out.print(f"[bold]{compact}[/bold]\narch_id {result['arch_id']}, input {h}x{w}", soft_wrap=True)
    table = Table(show_header=True)
    for col in ("stage", "params", "conv MACs", "linear MACs", "element-wise"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, row in result["by_stage"].items():
        table.add_row(
            stage,
            f"{row['params']:,}",
            f"{row['conv_macs']:,}",
            f"{row['linear_macs']:,}",
            f"{row['elementwise_ops']:,}",
        )
    table.add_row(
        "[bold]total",
        f"[bold]{result['params']:,}",
        f"[bold]{result['conv_macs']:,}",
        f"[bold]{result['linear_macs']:,}",
        f"[bold]{result['elementwise_ops']:,}",
    )
    out.print(table)
    kinds = ", ".join(f"{k} {v:,}" for k, v in result["elementwise_ops_by_kind"].items())
    out.print(f"element-wise ops by kind: {kinds}")
    if "layers" in result:
        from nas.cli._console import Column, fitted_table

        columns = [Column("layer", "left", fold=True), Column("kind", "left", priority=2), Column("output", "left")]
        columns += [Column("params"), Column("MACs"), Column("element-wise ops", priority=1)]
        cells = [
            [
                layer["name"],
                layer["kind"],
                "x".join(map(str, layer["output_shape"])),
                f"{layer['params']:,}",
                f"{layer['macs']:,}",
                f"{layer['elementwise_ops']:,}",
            ]
            for layer in result["layers"]
        ]
        layers, dropped = fitted_table(columns, cells, out.width)
        if dropped:
            layers.caption = f"not shown at {out.width} columns: {', '.join(dropped)} (see --json)"
        out.print(layers)
    if "cross_check" in result:
        cc = result["cross_check"]
        table = Table("counter", "params", "MACs / 'FLOPs'", "what it counts", title="cross-check")
        a, hk = cc["analytic"], cc["hooks"]
        table.add_row("analytic", f"{a['params']:,}", f"{a['macs']:,}", "conv + linear MACs")
        table.add_row(
            "hooks (built model)",
            f"{hk['params']:,}",
            f"{hk['macs']:,}",
            "conv + linear MACs" + (" (equal)" if cc["agrees"] else " [red](DIFFERS)"),
        )
        table.add_row(
            "fvcore",
            "n/a",
            f"{cc['fvcore']['total']:,}",
            "counts FLOPs only (no params); + 2/BN elem + global pool; skips PReLU, avg_pool, add",
        )
        table.add_row(
            "ptflops (pytorch)",
            f"{cc['ptflops']['params']:,}",
            f"{cc['ptflops']['macs']:,}",
            "+ bias, 2/BN elem, PReLU and pooling counted twice",
        )
        table.add_row(
            "ptflops (aten)",
            f"{cc['ptflops_aten']['params']:,}",
            f"{cc['ptflops_aten']['macs']:,}",
            "+ linear bias",
        )
        out.print(table)
        out.print("conventions: docs/counting.md")
