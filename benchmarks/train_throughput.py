"""Trainer throughput vs a bare PyTorch loop: same model, batch and data, interleaved in one run.

    python benchmarks/train_throughput.py [--spec espnetv2-0.5] [--batch-size 64] [--image-size 32] [--rounds 5]

Each round trains one epoch with `nas.train.trainer.Trainer` (short recipe: per-step LR, gradient clipping, label
smoothing, metrics, NaN check) and one epoch with a bare loop (forward, cross-entropy, backward, SGD step) over
the same pre-built batches; the two alternate so that background load hits both alike. Reports the median
images/s of each and their ratio (goal: >= 0.9).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from nas.train.data import load_data
from nas.train.trainer import RECIPES, Trainer, adapt_config
from search_spaces import build, resolve


def bare_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, batches: list) -> float:
    model.train()
    images = 0
    start = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        images += len(y)
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="espnetv2-0.5")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data("digits", args.image_size)
    cfg = adapt_config(resolve(args.spec), data)
    torch.manual_seed(0)
    model = build(cfg)
    bare_model = copy.deepcopy(model)
    bare_opt = torch.optim.SGD(bare_model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    trainer = Trainer(model, data, RECIPES["short"], epochs=args.rounds + 1, batch_size=args.batch_size)
    # The bare loop gets its batches for free (built beforehand); the trainer builds them as it goes.
    batches = list(data.loader("train", args.batch_size, seed=0, epoch=0))
    trainer.train_epoch(0)  # warm-up, not timed
    bare_epoch(bare_model, bare_opt, batches)
    ours, bare = [], []
    for r in range(args.rounds):
        ours.append(trainer.train_epoch(r + 1)["images_per_s"])
        bare.append(bare_epoch(bare_model, bare_opt, batches))
        print(f"round {r + 1}: trainer {ours[-1]:.0f} images/s, bare loop {bare[-1]:.0f} images/s", flush=True)
    t, b = statistics.median(ours), statistics.median(bare)
    print(
        f"{args.spec} {args.image_size}x{args.image_size} batch {args.batch_size}, {args.threads} thread(s): "
        f"trainer {t:.0f} images/s, bare {b:.0f} images/s, ratio {t / b:.3f} (goal >= 0.9)"
    )


if __name__ == "__main__":
    main()
