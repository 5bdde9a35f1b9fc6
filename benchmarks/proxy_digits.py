"""Proxy training on the embedded digits: espnetv2-0.5 at 32x32 should reach >= 90% validation accuracy in < 60 s.

    python benchmarks/proxy_digits.py [--epochs 4] [--image-size 32] [--threads 1] [--spec espnetv2-0.5]

Prints the per-epoch validation accuracy, the final accuracy and the wall-clock seconds of the whole proxy call
(data already cached, model build included).
"""

from __future__ import annotations

import argparse
import time

import torch

from nas.train.proxy import DEFAULT_EPOCHS, DEFAULT_IMAGE_SIZE, proxy_accuracy, proxy_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="espnetv2-0.5")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = proxy_data("digits", args.image_size, args.seed)
    start = time.perf_counter()
    result = proxy_accuracy(
        args.spec,
        data,
        epochs=args.epochs,
        max_steps=args.max_steps,
        seed=args.seed,
        report=lambda e, a: print(f"epoch {e}: val top-1 {a:.4f} ({time.perf_counter() - start:.1f} s)", flush=True),
    )
    print(
        f"{args.spec} digits {args.image_size}x{args.image_size}, {args.epochs} epochs, {result.steps} steps, "
        f"{args.threads} thread(s): ok={result.ok} accuracy {result.accuracy:.4f}, {result.seconds:.1f} s"
        + (f" ({result.reason})" if not result.ok else "")
    )
    goal = result.ok and result.accuracy >= 0.90 and result.seconds < 60
    print(f"goal (>= 0.90 in < 60 s): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
