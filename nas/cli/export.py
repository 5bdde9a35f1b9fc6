"""`espnas export`: train a chosen config (a trial of a run, or a spec) and write a verified export directory."""

from __future__ import annotations

import argparse
from typing import Any

from nas.export.pipeline import DEFAULT_RTOL, FORMATS, export  # stdlib-only at import: `espnas --help` stays fast

FORMATS_HELP = ",".join(FORMATS)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="train a chosen config and export it (safetensors, ONNX, TorchScript, model card)",
        description=(
            "Train one config, from a search run (RUN with --trial, --knee or --where) or given directly "
            "(--config SPEC), check every exported format against the eager model, re-profile it here, and "
            "write the export directory atomically. Load it with nas.load(DIR)."
        ),
    )
    parser.add_argument("run_dir", nargs="?", metavar="RUN", help="a search run directory to pick the config from")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trial", metavar="ID", help="the trial id (or number) of RUN to export")
    which.add_argument("--knee", action="store_true", help="export the knee of RUN's Pareto front")
    which.add_argument(
        "--where", metavar="EXPR", help="export the best trial of RUN satisfying EXPR, e.g. 'latency_ms <= 3'"
    )
    which.add_argument(
        "--config", metavar="SPEC", help="export this config instead of a run's: preset, JSON file or compact string"
    )
    parser.add_argument("--data", metavar="PATH|digits", help="training data (default: the search's data, else digits)")
    parser.add_argument(
        "--image-size", type=int, metavar="N", help="training and export input side (default: the search's, or 32)"
    )
    parser.add_argument("--epochs", type=int, metavar="N", help="training epochs (default: the recipe's)")
    parser.add_argument(
        "--recipe", choices=("short", "paper"), default="short", help="training recipe (default: short)"
    )
    parser.add_argument("--batch-size", type=int, metavar="N", help="training batch size (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="training and check seed (default: 0)")
    parser.add_argument(
        "--device", default="cpu", help="train and profile on this device: cpu, cuda, cuda:N (default: cpu)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads for training (default: the cores free now, by load average); re-profiling "
        "uses the search's measuring threads, or 1",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="export directory (default: exports/<run>-<trial>, exports/<preset> or exports/<arch_id>)",
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--formats",
        default=FORMATS_HELP,
        metavar="LIST",
        help=f"formats to write, comma-separated (default: {FORMATS_HELP}; safetensors is always written)",
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=DEFAULT_RTOL,
        help=f"bound on each format's max relative error against the eager model (default: {DEFAULT_RTOL:g})",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip re-profiling latency and energy here")
    parser.add_argument(
        "--runtime",
        metavar="NAME",
        help="re-profile latency in this runtime (profilers.runtimes; default: the search's, else deploy)",
    )
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep the training work directory")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import shlex

    from profilers.threads import choose_threads, using_threads
    from search_spaces.errors import Interrupted

    threads = choose_threads(args.threads, "train")
    if not args.quiet:
        print(f"threads for training: {threads}", flush=True)
    try:
        with using_threads(threads.threads):
            result = _export(args)
    except KeyboardInterrupt as stop:
        kept = getattr(stop, "kept", "nothing kept")
        again = shlex.join(["espnas", *getattr(args, "argv", ["export"])])
        if kept == "nothing kept":
            raise Interrupted("nothing was written; run the command again") from None
        raise Interrupted(
            f"nothing was written to the export yet; {kept}, and the same command resumes it", again
        ) from None
    print(result.summary())
    return 0


def _export(args: argparse.Namespace) -> Any:
    return export(
        args.config,
        run=args.run_dir,
        trial=args.trial,
        knee=args.knee,
        where=args.where,
        data=args.data,
        image_size=args.image_size,
        epochs=args.epochs,
        recipe=args.recipe,
        batch_size=args.batch_size,
        formats=args.formats,
        out=args.out,
        overwrite=args.force,
        profile=not args.no_profile,
        profile_runtime=args.runtime,
        device=args.device,
        seed=args.seed,
        rtol=args.rtol,
        keep_checkpoints=args.keep_checkpoints,
        progress=not args.quiet,
    )
