"""Exact parameter and operation counts of the language models (ERU and the LSTM baseline), per token.

Conventions (those of `profilers.counting`, with "per image" replaced by "per token", batch 1):
- macs: multiply-adds of the 1-D convolutions (`conv_macs`: C_out * (C_in / g) * kernel per token) and of the
  linear maps (`linear_macs`): the ERU's recurrent h -> 4h map, the LSTM's input and recurrent maps
  (4h * (d + h)), and the decoder (embedding x vocabulary, the largest single term). The embedding lookup is free.
- elementwise_ops: BatchNorm and PReLU 1 per element, HFF additions 1 per element; each recurrent cell 13 per
  hidden unit (4h for adding the input and recurrent gate terms, 4h gate nonlinearities, 3h for
  c = f*c + i*g, 1h tanh(c), 1h o*tanh(c)). Dropout, biases and the softmax are not counted.
- params: every learnable parameter; the tied decoder's weight is the embedding's and is counted once.

Layer names are the module paths of `search_spaces.eru.build_language_model(cfg)`, so that
`count_language_model` (hooks on a built model) can be compared with `count_language` name by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from search_spaces.eru_config import (
    ERU_PREFIX,
    ERU_PRESETS,
    LSTM_PREFIX,
    ERUConfig,
    LanguageConfig,
    LSTMConfig,
    resolve_language,
)


class TokenLayerCount(NamedTuple):
    """One module: its path, kind, parameters, and multiply-adds and element-wise ops per token."""

    name: str
    kind: str  # embedding, conv, bn, prelu, add, linear, cell, lstm
    params: int
    macs: int
    elementwise_ops: int


@dataclass(frozen=True)
class LanguageCounts:
    """Counts of one language-model config, per token."""

    config: LanguageConfig
    layers: tuple[TokenLayerCount, ...]

    def _sum(self, index: int, kinds: tuple[str, ...] | None = None) -> int:
        return sum(layer[index] for layer in self.layers if kinds is None or layer.kind in kinds)

    @property
    def params(self) -> int:
        return self._sum(2)

    @property
    def conv_macs(self) -> int:
        return self._sum(3, ("conv",))

    @property
    def linear_macs(self) -> int:
        return self._sum(3, ("linear", "lstm"))

    @property
    def decoder_macs(self) -> int:
        return sum(layer.macs for layer in self.layers if layer.name == "decoder")

    @property
    def macs(self) -> int:
        return self._sum(3)

    @property
    def elementwise_ops(self) -> int:
        return self._sum(4)

    def to_dict(self, by_layer: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.config.KIND,
            "arch_id": self.config.arch_id,
            "compact": self.config.to_compact(),
            "params": self.params,
            "macs_per_token": self.macs,
            "conv_macs_per_token": self.conv_macs,
            "linear_macs_per_token": self.linear_macs,
            "decoder_macs_per_token": self.decoder_macs,
            "recurrent_macs_per_token": self.macs - self.decoder_macs,
            "elementwise_ops_per_token": self.elementwise_ops,
        }
        if by_layer:
            out["layers"] = [layer._asdict() for layer in self.layers]
        return out


def resolve_model(spec: Any) -> LanguageConfig:
    """`resolve_language`, plus `lstm:PRESET` / `lstm:eru:...`: the LSTM of equal parameter count."""
    if isinstance(spec, str) and spec.strip().startswith(LSTM_PREFIX):
        rest = spec.strip()[len(LSTM_PREFIX) :]
        if rest in ERU_PRESETS or rest.startswith(ERU_PREFIX):
            eru = resolve_language(rest)
            assert isinstance(eru, ERUConfig)
            return equal_lstm(eru)
    return resolve_language(spec)


def count_language(spec: Any) -> LanguageCounts:
    """Exact counts of an ERU or LSTM language model from its config alone."""
    cfg = resolve_model(spec)
    rows: list[TokenLayerCount] = [TokenLayerCount("embedding", "embedding", cfg.vocab_size * cfg.embedding, 0, 0)]
    for i, (c_in, h) in enumerate(cfg.layer_sizes()):
        if isinstance(cfg, ERUConfig):
            rows += _eru_layer(cfg, i, c_in, h)
        else:
            rows.append(TokenLayerCount(f"layers.{i}", "lstm", 4 * h * (c_in + h) + 8 * h, 4 * h * (c_in + h), 0))
            rows.append(TokenLayerCount(f"layers.{i}:cell", "cell", 0, 0, 13 * h))
    last = cfg.layer_sizes()[-1][1]
    decoder_weight = 0 if cfg.tie_weights else last * cfg.vocab_size
    rows.append(TokenLayerCount("decoder", "linear", decoder_weight + cfg.vocab_size, last * cfg.vocab_size, 0))
    return LanguageCounts(cfg, tuple(rows))


def _eru_layer(cfg: ERUConfig, i: int, c_in: int, h: int) -> list[TokenLayerCount]:
    gates = 4 * h
    k, gr, ge = cfg.branches, cfg.reduce_groups, cfg.expand_groups
    n = gates // k
    t = f"layers.{i}.transform"
    rows = [
        TokenLayerCount(f"{t}.reduce.conv", "conv", c_in * n // gr, c_in * n // gr, 0),
        TokenLayerCount(f"{t}.reduce.bn", "bn", 2 * n, 0, n),
        TokenLayerCount(f"{t}.reduce.act", "prelu", n, 0, n),
    ]
    rows += [TokenLayerCount(f"{t}.branches.{j}", "conv", 3 * n, 3 * n, 0) for j in range(k)]
    if cfg.hff and k > 1:
        rows.append(TokenLayerCount(f"{t}:hff", "add", 0, 0, (k - 1) * n))
    rows += [
        TokenLayerCount(f"{t}.fuse.bn", "bn", 2 * gates, 0, gates),
        TokenLayerCount(f"{t}.fuse.act", "prelu", gates, 0, gates),
        TokenLayerCount(f"{t}.expand.conv", "conv", gates * gates // ge, gates * gates // ge, 0),
        TokenLayerCount(f"{t}.expand.bn", "bn", 2 * gates, 0, gates),
        TokenLayerCount(f"layers.{i}.recurrent", "linear", gates * h + gates, gates * h, 0),
        TokenLayerCount(f"layers.{i}:cell", "cell", 0, 0, 13 * h),
    ]
    return rows


def equal_lstm(cfg: ERUConfig) -> LSTMConfig:
    """The torch.nn.LSTM baseline with `cfg`'s vocabulary, embedding, depth, dropout and tying whose parameter
    count is closest to `cfg`'s (ties go to the smaller width)."""
    target = count_language(cfg).params
    base = LSTMConfig(
        vocab_size=cfg.vocab_size,
        embedding=cfg.embedding,
        layers=cfg.layers,
        dropout=cfg.dropout,
        tie_weights=cfg.tie_weights,
    )
    # Parameters grow monotonically in the width: bisect for the first width at or above the target.
    lo, hi = 1, 2
    while count_language(base.replace(hidden=hi)).params < target:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if count_language(base.replace(hidden=mid)).params < target:
            lo = mid + 1
        else:
            hi = mid
    candidates = [base.replace(hidden=h) for h in (max(1, lo - 1), lo)]
    return min(candidates, key=lambda c: (abs(count_language(c).params - target), c.hidden))


def preset_rows() -> list[dict[str, Any]]:
    """Each ERU preset next to Table 3's parameter count, and its equal-size LSTM."""
    from search_spaces.eru_config import ERU_PAPER_FIGURES

    rows = []
    for name, cfg in ERU_PRESETS.items():
        counts = count_language(cfg)
        paper_params, paper_ppl = ERU_PAPER_FIGURES[name]
        lstm = equal_lstm(cfg)
        rows.append(
            {
                "preset": name,
                "params": counts.params,
                "paper_params": paper_params,
                "params_delta": counts.params / paper_params - 1,
                "macs_per_token": counts.macs,
                "paper_test_ppl": paper_ppl,
                "compact": cfg.to_compact(),
                "equal_lstm": lstm.to_compact(),
                "equal_lstm_params": count_language(lstm).params,
            }
        )
    return rows


def within(value: float, target: float, rel: float) -> bool:
    return math.isclose(value, target, rel_tol=rel)
