"""The counts of `profilers.language_counting`, taken from a built language model with forward hooks.

Parameters come from each module's own parameters (a tied decoder weight once); multiply-adds from what each
Conv1d, Linear and LSTM call actually computed over a sequence, divided by its length. Element-wise ops are
analytic only (the cell's arithmetic runs as plain tensor functions, not modules).
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn

from profilers.language_counting import LanguageCounts, TokenLayerCount


def count_language_model(model: nn.Module, seq_len: int = 16, batch: int = 1) -> LanguageCounts:
    """Per-token params and MACs of `model` (an ERU or LSTM language model) measured over `seq_len` tokens."""
    macs: dict[str, int] = defaultdict(int)
    kinds: dict[str, str] = {}
    handles = []

    def hook(name: str):
        def post(module: nn.Module, args: tuple, out) -> None:
            if isinstance(module, nn.Conv1d):
                y = out
                kinds[name] = "conv"
                macs[name] += y.numel() * (module.in_channels // module.groups) * module.kernel_size[0]
            elif isinstance(module, nn.Linear):
                kinds[name] = "linear"
                macs[name] += out.numel() * module.in_features
            elif isinstance(module, nn.LSTM):
                kinds[name] = "lstm"
                x = args[0]
                h = module.hidden_size
                macs[name] += x.shape[0] * x.shape[1] * 4 * h * (module.input_size + h)

        return post

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Linear, nn.LSTM)):
            handles.append(module.register_forward_hook(hook(name)))
    seen: set[int] = set()
    params: dict[str, int] = {}
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        if own:
            params[name] = sum(p.numel() for p in own)
    was_training = model.training
    try:
        model.eval()
        vocab = model.config.vocab_size
        tokens = torch.randint(0, vocab, (batch, seq_len), generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            model(tokens)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    names = sorted(set(params) | set(macs))
    layers = []
    for name in names:
        total = macs.get(name, 0)
        if total % (seq_len * batch):
            raise AssertionError(f"{name}: {total} multiply-adds over {seq_len * batch} tokens do not divide evenly")
        per_token = total // (seq_len * batch)
        layers.append(TokenLayerCount(name, kinds.get(name, "other"), params.get(name, 0), per_token, 0))
    return LanguageCounts(model.config, tuple(layers))
