"""ERU against torch.nn.LSTM of equal parameter count on the embedded corpus: perplexity and latency per token.

    python benchmarks/language_eru_vs_lstm.py [--eru SPEC] [--epochs N] [--train-tokens N] [--threads N]

Both models get the same corpus slice, seed and AWD-LSTM policy (SGD lr 30, clip 0.25, variable BPTT around
--bptt, NT-ASGD, standard dropout 0.5); the LSTM's width is chosen so that its parameter count at the corpus's
vocabulary equals the ERU's (profilers.language_counting.equal_lstm). Latency is timed interleaved (both
models alternate, 5 rounds) at batch 1: one generation step (per token) and a 35-token sequence from a warmed
state. Prints one table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from nas.train.data.text import load_corpus
from nas.train.language import LMSettings, adapt_language_config, train_language
from profilers.compare import compare_latency
from profilers.language_counting import count_language, equal_lstm, resolve_model
from profilers.language_latency import token_stream


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eru", default="eru:e=128,h=128", help="the ERU spec (default: a small 3-layer ERU)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-tokens", type=int, default=20_000, help="training tokens (0: all ~59k)")
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    corpus = load_corpus("pydoc")
    if args.train_tokens:
        corpus = type(corpus)(corpus.name, corpus.vocab, corpus.train[: args.train_tokens], corpus.valid, corpus.test)
    eru = adapt_language_config(resolve_model(args.eru), corpus)
    lstm = equal_lstm(eru)
    settings = LMSettings(epochs=args.epochs, bptt=args.bptt, seed=args.seed, test_batch_size=10)
    rows = []
    for cfg in (eru, lstm):
        t0 = time.perf_counter()
        result = train_language(cfg, corpus, settings)
        rows.append(
            {
                "model": cfg.to_compact(),
                "params": count_language(cfg).params,
                "macs_per_token": count_language(cfg).macs,
                "val_ppl_per_epoch": [round(h["val_ppl"], 2) for h in result.history],
                "val_ppl": round(result.val_ppl, 2),
                "test_ppl": round(result.test_ppl or float("nan"), 2),
                "train_tokens_per_s": round(sum(h["train_tokens"] for h in result.history) / sum(
                    h["train_seconds"] for h in result.history), 1),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )  # fmt: skip
    for seq_len in (1, 35):
        streams = [token_stream(cfg, seq_len) for cfg in (eru, lstm)]
        cmp = compare_latency(streams, (1, 1, 1, 1), "cpu", batch_size=1, rounds=5, time_budget_s=2.0, threads=1)
        for row, res, ratio in zip(rows, cmp.results, cmp.ratios, strict=True):
            row[f"latency_ms_T{seq_len}"] = round(res.median_ms, 3)
            row[f"latency_ms_per_token_T{seq_len}"] = round(res.median_ms / seq_len, 3)
            row[f"latency_ratio_T{seq_len}"] = round(ratio, 3)
    load = os.getloadavg()[0]
    print(f"corpus pydoc: {len(corpus.train)} train / {len(corpus.valid)} valid / {len(corpus.test)} test tokens, "
          f"vocabulary {corpus.vocab_size}; {args.epochs} epochs, bptt {args.bptt}, {args.threads} thread(s), "
          f"load average {load:.1f}")  # fmt: skip
    print(f"{'model':<58} {'params':>8} {'val ppl':>8} {'test ppl':>8} {'ms/token':>9} {'ms/35 tok':>9} {'tok/s':>7}")
    for r in rows:
        print(
            f"{r['model']:<58} {r['params']:>8} {r['val_ppl']:>8} {r['test_ppl']:>8} "
            f"{r['latency_ms_per_token_T1']:>9} {r['latency_ms_T35']:>9} {r['train_tokens_per_s']:>7}"
        )
    print(json.dumps({"rows": rows, "load_average": load, "threads": args.threads}))


if __name__ == "__main__":
    main()
