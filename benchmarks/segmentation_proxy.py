"""The segmentation proxy's validation mIoU per epoch at the paper's learning rate and at the proxy's.

Usage: OMP_NUM_THREADS=1 python benchmarks/segmentation_proxy.py [--epochs 3] [--spec espnetv2-seg-0.5]
Prints one line per learning rate: the per-epoch mIoU curve on the embedded scenes (1000 train, 200 val,
32x32, seed 0) and the wall time, with the thread count and the load average it ran under.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from nas.train.data.segmentation import load_segmentation_data
from nas.train.segmentation import LEARNING_RATE, PROXY_LEARNING_RATE, proxy_miou


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--spec", default="espnetv2-seg-0.5")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_segmentation_data("scenes", 32, seed=0)
    print(f"threads 1, load average at start {os.getloadavg()[0]:.1f}")
    for lr in (LEARNING_RATE, PROXY_LEARNING_RATE):
        start = time.perf_counter()
        got = proxy_miou(args.spec, data, epochs=args.epochs, lr=lr, seed=0)
        curve = ", ".join(f"{v:.4f}" for v in got.curve)
        print(f"lr {lr:g}: mIoU per epoch {curve} ({time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
