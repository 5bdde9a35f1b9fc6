"""Does the proxy rank configs usefully? Spearman rho of proxy accuracy vs accuracy after a longer training.

    python benchmarks/proxy_ranking.py [--proxy-epochs 2] [--long-epochs 10] [--out runs/bench/proxy_ranking.json]

Nine configs spanning the paper's FLOP band at 224x224 (the six width presets, 28M..284M conv MACs, plus the
R1 ablation and the point-wise-reduce variants). Each is trained on the digits at 32x32 twice: with the proxy
budget (the search's default, 2 epochs) and with >= 5x that budget (10 epochs, same proxy recipe and seed).
Results are appended to the JSON file as they finish, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from scipy.stats import kendalltau, spearmanr

from nas.train.proxy import proxy_accuracy, proxy_data
from profilers.counting import count
from search_spaces import resolve

SPECS = (
    "espnetv2-0.5",
    "espnetv2-0.5-pw",
    "espnetv2-1.0-r1",
    "espnetv2-1.0",
    "espnetv2-1.0-pw",
    "espnetv2-1.25",
    "espnetv2-1.5",
    "espnetv2-1.75",
    "espnetv2-2.0",
)


def _save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy-epochs", type=int, default=2)
    parser.add_argument("--long-epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/proxy_ranking.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = proxy_data("digits", args.image_size, args.seed)
    key = f"digits{args.image_size}-p{args.proxy_epochs}-l{args.long_epochs}-s{args.seed}-t{args.threads}"
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    done = results.setdefault(key, {})
    for spec in SPECS:
        row = done.setdefault(spec, {"macs_224": count(resolve(spec)).conv_macs})
        for budget, epochs in (("proxy", args.proxy_epochs), ("long", args.long_epochs)):
            if budget in row:
                continue
            res = proxy_accuracy(spec, data, epochs=epochs, seed=args.seed)
            row[budget] = {"accuracy": res.accuracy, "seconds": res.seconds, "ok": res.ok, "curve": list(res.curve)}
            _save(args.out, results)
        print(
            f"{spec:18s} {row['macs_224'] / 1e6:6.0f}M MACs  proxy {row['proxy']['accuracy']:.4f} "
            f"({row['proxy']['seconds']:.0f} s)  long {row['long']['accuracy']:.4f} ({row['long']['seconds']:.0f} s)",
            flush=True,
        )
    proxy = [done[s]["proxy"]["accuracy"] for s in SPECS]
    long = [done[s]["long"]["accuracy"] for s in SPECS]
    rho, p_rho = spearmanr(proxy, long)
    tau, p_tau = kendalltau(proxy, long)
    spent = sum(done[s][b]["seconds"] for s in SPECS for b in ("proxy", "long"))
    print(
        f"{len(SPECS)} configs, proxy {args.proxy_epochs} epochs vs long {args.long_epochs} epochs on digits "
        f"{args.image_size}x{args.image_size}: Spearman rho {rho:.3f} (p={p_rho:.3f}), Kendall tau {tau:.3f} "
        f"(p={p_tau:.3f}); training time {spent / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
