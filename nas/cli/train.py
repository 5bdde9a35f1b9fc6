"""`espnas train`: train a config on the digits, an image folder or CIFAR, with checkpoints and --resume."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from nas.train.trainer import RECIPES, TrainResult, train
from search_spaces import resolve

DEFAULT_RUNS = Path("runs") / "train"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a config (paper or short recipe); checkpoints every epoch, --resume",
        description="Train one config on the digits, an image folder or CIFAR, writing a checkpoint after every "
        "epoch. Ctrl-C keeps the last checkpoint and prints the command that resumes from it.",
    )
    p.add_argument("spec", help="preset name, JSON file, inline JSON or compact string (eesp:...)")
    p.add_argument("--data", default="digits", help="'digits' (built in), an image folder, or a CIFAR directory")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs (default: the recipe's, or the checkpoint's)")
    p.add_argument("--batch-size", type=int, metavar="N", help="batch size (default: the recipe's)")
    p.add_argument("--image-size", type=int, metavar="N", help="input side (default: 32 for digits, else 224)")
    p.add_argument("--recipe", choices=list(RECIPES), default="short", help="training recipe (default: short)")
    p.add_argument("--out", type=Path, metavar="DIR", help=f"checkpoint directory (default: {DEFAULT_RUNS}/ID-DATA)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--label-smoothing", type=float, metavar="E", help="override the recipe's label smoothing")
    p.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: the cores free now, by load average)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


def default_out(spec: str, data: str) -> Path:
    """runs/train/<arch id>-<data name>: the same command always finds its own checkpoint."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(data)).name or str(data))
    return DEFAULT_RUNS / f"{resolve(spec).arch_id}-{name}"


def run_train(args: argparse.Namespace) -> None:
    from nas.cli._resume import resume_command
    from profilers.threads import choose_threads, using_threads
    from search_spaces.errors import Interrupted

    out = args.out or default_out(args.spec, args.data)
    threads = choose_threads(args.threads, "train")
    if not args.no_progress:
        print(f"threads: {threads}", flush=True)
    try:
        with using_threads(threads.threads):
            result = _train(args, out)
    except Interrupted as stop:
        resume = resume_command(getattr(args, "argv", ["train", args.spec]), {"--out": str(out)})
        if stop.kept == "nothing kept":
            raise Interrupted("no epoch had finished, so nothing was kept (run the command again)") from None
        raise Interrupted(stop.kept, resume) from None
    last = result.history[-1]
    print(
        f"trained {result.config.arch_id} on {result.data_name}: {len(result.history)} epochs, "
        f"val top-1 {result.final_top1:.4f}, top-5 {result.final_top5:.4f}, "
        f"{last['images_per_s']:.0f} images/s, {result.seconds:.1f} s, {threads}"
    )
    print(f"checkpoint: {result.checkpoint}")


def _train(args: argparse.Namespace, out: Path) -> TrainResult:
    return train(
        args.spec,
        args.data,
        recipe=args.recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        out_dir=out,
        resume=args.resume,
        seed=args.seed,
        device=args.device,
        progress=not args.no_progress,
        image_size=args.image_size,
        label_smoothing=args.label_smoothing,
    )
