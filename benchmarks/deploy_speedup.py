"""Deploy form (BN folded, input pyramid pooled once) vs the plain eval-mode model, CPU, batch 1, interleaved.

Both come from one model with randomised BN statistics (so folding is not trivially the identity); outputs
are checked equal first. Prints the median latencies, the speedup and its bootstrap 95% CI, and, with
--where, the top operators of each by self CPU time (torch.profiler). Goal (issue 3): speedup >= 1.3x.

    python benchmarks/deploy_speedup.py [--spec espnetv2-1.0] [--rounds 10] [--budget 8] [--threads 1] [--where]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from profilers.compare import compare_latency
from search_spaces import build, deploy


def randomise_bn(model: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def top_ops(model: nn.Module, x: torch.Tensor, n: int = 8) -> str:
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        for _ in range(3):
            model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                model(x)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="espnetv2-1.0")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per model (warm-up included)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--where", action="store_true", help="print torch.profiler top operators")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    plain = build(args.spec).eval()
    randomise_bn(plain)
    fast = deploy(plain)
    size = plain.config.input_size
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        ref, out = plain(x), fast(x)
    max_err = (ref - out).abs().max().item()
    equal = torch.allclose(ref, out, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    cmp = compare_latency(
        [plain, fast], (3, *size), "cpu", rounds=args.rounds, time_budget_s=args.budget, threads=args.threads
    )
    a, b = cmp.results
    speedup = a.median_ms / b.median_ms
    lo, hi = cmp.ratio_ci95[1]
    print(f"{args.spec}, batch 1, {size[0]}x{size[1]}, {cmp.fingerprint['threads']} thread(s)")
    print(f"outputs equal: {equal} (max abs diff {max_err:.2e})")
    print(f"eval-mode: median {a.median_ms:.3f} ms (IQR {a.iqr_ms:.3f}, n={a.n_samples})")
    print(f"deploy:    median {b.median_ms:.3f} ms (IQR {b.iqr_ms:.3f}, n={b.n_samples})")
    print(
        f"speedup: {speedup:.3f}x (95% CI {1 / hi:.3f}-{1 / lo:.3f}; goal >= 1.3x: "
        f"{'met' if speedup >= 1.3 else 'MISSED'})"
    )
    if args.where:
        print("\n-- eval-mode, top operators by self CPU time (20 forwards) --")
        print(top_ops(plain, x))
        print("-- deploy, top operators by self CPU time (20 forwards) --")
        print(top_ops(fast, x))


if __name__ == "__main__":
    main()
