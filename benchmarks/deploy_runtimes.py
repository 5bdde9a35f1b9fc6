"""The deploy form against the eval-mode model, torch.compile, onnxruntime and the roofline, side by side.

    python benchmarks/deploy_runtimes.py                       # espnetv2-1.0, 224x224, batch 1 and 8, 1 thread
    python benchmarks/deploy_runtimes.py --specs espnetv2-2.0 --batches 1
    python benchmarks/deploy_runtimes.py --batches 1 --runtimes eager,deploy,onnxruntime --profile   # + per op

Every (model, runtime) pair is checked against the eval-mode model before timing (BN statistics randomised,
so that folding is really tested) and timed interleaved (profilers.runtimes.compare_runtimes). "compile" is
torch.compile (inductor) of the deploy form: its compile time (the first call, at load) is printed, and the
timed calls are the steady state after it. "deploy-traced" is the deploy form traced and frozen by TorchScript
(registered here only): the same aten ops with no Python between them, which shows what the interpreter costs
the eager form. The roofline is the network's multiply-adds at this core's measured peak: a 1024^3 fp32
matrix product on the same thread count, timed just before (2 flops per multiply-add).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
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


def _register_traced() -> None:
    from profilers import runtimes

    class DeployTraced(runtimes.DeployForm):
        """The deploy form traced and frozen by TorchScript: the same aten ops without Python between them, to
        measure what the interpreter costs the eager deploy form (not a runtime espnas offers)."""

        name, summary = "deploy-traced", "the deploy form, torch.jit.trace + torch.jit.freeze"

        def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
            import torch

            loaded = super()._load(model, inputs, device, dtype, threads)
            folded = runtimes._on(runtimes.deploy_form(model), device, dtype, channels_last=True)
            xs = runtimes._channels_last(inputs)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the input check's Python branches, constant for a fixed shape
                traced = torch.jit.freeze(torch.jit.trace(folded.eval(), xs, check_trace=False))
            loaded.step, loaded.runtime, loaded.settings["form"] = (lambda: traced(*xs)), self.name, "deploy-traced"
            return loaded

    runtimes.RUNTIMES["deploy-traced"] = DeployTraced()


def _profile(spec: str, batch: int, threads: int, forwards: int = 20) -> None:
    """Where the time goes, per op type: the deploy form under torch.profiler, onnxruntime under its own
    profiler (kernel time per node), both on the same input; shares of each one's own total."""
    import collections
    import json
    import tempfile

    import onnxruntime
    import torch
    from torch.profiler import ProfilerActivity, profile

    from profilers.runtimes import onnx_bytes
    from search_spaces import deploy

    torch.set_num_threads(threads)
    model = _randomised(spec)
    x = torch.randn(batch, model.config.in_channels, *model.config.input_size)
    folded, xs = deploy(model), x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            folded(xs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(forwards):
                folded(xs)
    rows = [(e.key, e.self_cpu_time_total, e.count) for e in prof.key_averages() if e.self_cpu_time_total > 0]
    _print_shares(f"deploy form, torch.profiler, {forwards} forwards (self CPU time per aten op)", rows, forwards)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = onnxruntime.InferenceSession(onnx_bytes(model, (x,)), options, providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: x.numpy()}
    for _ in range(3 + forwards):
        session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]][0] += e["dur"]
            per_op[e["args"]["op_name"]][1] += 1
    runs = 3 + forwards
    _print_shares("onnxruntime, its profiler (kernel time per node)", [(k, t, n) for k, (t, n) in per_op.items()], runs)


def _print_shares(title: str, rows: list[tuple[str, float, int]], forwards: int, top: int = 10) -> None:
    total = sum(t for _, t, _ in rows)
    print(f"\n  {title}: {total / forwards / 1e3:.2f} ms per forward")
    for name, t, n in sorted(rows, key=lambda r: -r[1])[:top]:
        print(f"    {name:<28} {100 * t / total:5.1f}%  {n / forwards:6.1f} calls/forward  {t / n:8.1f} us/call")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--specs", default="espnetv2-1.0")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=6.0, help="seconds per pair (warm-up included)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--runtimes", default="eager,deploy,deploy-traced,compile,onnxruntime")
    ap.add_argument("--profile", action="store_true", help="then profile the deploy form and onnxruntime per op")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from profilers.counting import count
    from profilers.runtimes import compare_runtimes

    _register_traced()
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
    if args.profile:
        spec, b = args.specs.split(",")[0], int(args.batches.split(",")[0])
        print(f"\nper-op profile of {spec}, batch {b}; load {os.getloadavg()[0]:.1f}")
        _profile(spec, b, args.threads)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
