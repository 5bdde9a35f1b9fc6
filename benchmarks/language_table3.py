"""Table 3 of the paper on the Penn Treebank: train eru-7m or eru-15m with AWD-LSTM's policy, resumable.

    python benchmarks/language_table3.py --data DIR_WITH_PTB --preset eru-7m --epochs 500 --out runs/lm/eru-7m
    python benchmarks/language_table3.py ... --resume          # after an interruption: continues the checkpoint

DIR_WITH_PTB holds ptb.train.txt, ptb.valid.txt and ptb.test.txt (Mikolov's preparation, 10,000 words).
Batch 20, BPTT 70, SGD lr 30, clip 0.25, weight decay 1.2e-6, NT-ASGD after 5 non-improving epochs, standard
dropout 0.5 (the paper's ERU rows); evaluation batch 10 on validation and batch 1 on test, as AWD-LSTM.
Prints one line per epoch and, at the end, validation and test perplexity next to Table 3's.
"""

from __future__ import annotations

import argparse
import json

import torch

from nas.train.language import LMSettings, train_language
from search_spaces.eru_config import ERU_PAPER_FIGURES, ERU_PRESETS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="directory with ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    p.add_argument("--preset", choices=list(ERU_PRESETS), default="eru-7m")
    p.add_argument("--epochs", type=int, default=500, help="AWD-LSTM's budget for the PTB (default 500)")
    p.add_argument("--out", required=True, help="checkpoint directory")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    settings = LMSettings(epochs=args.epochs, seed=args.seed)

    def show(record: dict) -> None:
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in record.items()}), flush=True)

    result = train_language(
        args.preset, args.data, settings, out_dir=args.out, resume=args.resume, device=args.device, on_epoch=show
    )
    params, paper_ppl = ERU_PAPER_FIGURES[args.preset]
    print(
        f"{args.preset}: {result.params:,} parameters (paper {params / 1e6:.0f}M); validation perplexity "
        f"{result.val_ppl:.2f}, test perplexity {result.test_ppl:.2f} (paper: {paper_ppl})"
    )


if __name__ == "__main__":
    main()
