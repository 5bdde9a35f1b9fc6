"""The deploy form against the eval-mode model, its previous version, onnxruntime and the roofline, side by side.

    python benchmarks/deploy_runtimes.py                       # espnetv2-1.0, 224x224, batch 1 and 8, 1 thread
    python benchmarks/deploy_runtimes.py --specs espnetv2-2.0 --batches 1

Every (model, runtime) pair is checked against the eval-mode model before timing (BN statistics randomised,
so that folding is really tested) and timed interleaved (profilers.runtimes.compare_runtimes). "deploy-before"
is the deploy form without this change's two steps (the residual added in the
expand's write-back, direct oneDNN conv calls). "compile" is torch.compile (inductor) of the deploy form: its
compile time (the first call, at load) is printed, and the timed calls are the steady state after it.
The roofline is the network's multiply-adds at this core's measured peak: a 1024^3 fp32 matrix product on the
same thread count, timed just before (2 flops per multiply-add).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_gflops(threads: int, n: int = 1024, repeats: int = 7) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _randomised(spec: str):
    import torch
    from torch import nn

    from search_spaces import build

    torch.manual_seed(0)
    model = build(spec).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return model


#: The deploy form's switches that this change added (search_spaces/folding.py); all off = "deploy-before".
_NEW_STEPS = ("RESIDUAL_IN_EXPAND", "DIRECT_ONEDNN")


def _register_before() -> None:
    from profilers import runtimes
    from search_spaces import folding

    class DeployBefore(runtimes.DeployForm):
        name, summary = "deploy-before", "the deploy form without the fused residual and direct oneDNN calls"

        def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
            saved = {k: getattr(folding, k) for k in _NEW_STEPS}
            for k in _NEW_STEPS:
                setattr(folding, k, False)
            try:
                loaded = super()._load(model, inputs, device, dtype, threads)
            finally:
                for k, v in saved.items():
                    setattr(folding, k, v)
            loaded.runtime, loaded.settings["form"] = self.name, "deploy-before"
            return loaded

    runtimes.RUNTIMES["deploy-before"] = DeployBefore()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--specs", default="espnetv2-1.0")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=6.0, help="seconds per pair (warm-up included)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--runtimes", default="eager,deploy-before,deploy,compile,onnxruntime")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from profilers.counting import count
    from profilers.runtimes import compare_runtimes

    _register_before()
    names = args.runtimes.split(",")
    if names[0] != "eager" or "onnxruntime" not in names:
        ap.error(f"--runtimes must start with eager and include onnxruntime, got {args.runtimes}")
    print(f"load average at start: {os.getloadavg()}, {args.threads} thread(s)")
    peak = peak_gflops(args.threads)
    print(f"measured peak: {peak:.1f} GFLOP/s (1024^3 fp32 matmul, best of 7)")
    for spec in args.specs.split(","):
        model = _randomised(spec)
        macs = count(model.config).macs
        for b in [int(x) for x in args.batches.split(",")]:
            cmp = compare_runtimes(
                [(model, n) for n in names], None, rounds=args.rounds, time_budget_s=args.budget, batch_size=b,
                threads=args.threads,
            )  # fmt: skip
            med = {n: r.median_ms for n, r in zip(names, cmp.results, strict=True)}
            err = {n: r.options["max_rel_error_vs_eager"] for n, r in zip(names, cmp.results, strict=True)}
            roof = 2 * macs * b / (peak * 1e9) * 1e3
            print(f"\n{spec}, batch {b}, {macs / 1e6:.1f}M MACs per image; load {os.getloadavg()[0]:.1f}")
            for n, r in zip(names, cmp.results, strict=True):
                if "compile_s" in r.options["runtime_settings"]:
                    print(f"  {n}: compile (first call, at load) {r.options['runtime_settings']['compile_s']:.1f} s")
            for n in names:
                print(
                    f"  {n:<14} {med[n]:9.2f} ms   eval/this {med['eager'] / med[n]:5.2f}x   "
                    f"this/onnxruntime {med[n] / med['onnxruntime']:5.2f}x   this/roofline {med[n] / roof:6.1f}x   "
                    f"max rel err {err[n]:.1e}"
                )
            print(f"  roofline       {roof:9.2f} ms   (MACs at {peak:.1f} GFLOP/s)")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
