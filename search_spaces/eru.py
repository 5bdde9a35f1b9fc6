"""The ERU (the paper's Sec. 4.3): a 1-D EESP unit as the input transform of an LSTM cell, and the language model.

- `EESP1d`: the EESP unit with 1-D convolutions over time: reduce (point-wise, grouped) -> K depth-wise dilated
  3-tap branches -> HFF -> concatenate -> BN, PReLU -> expand (point-wise, grouped) -> BN. The branches are
  causal: output t sees the reduced frames t - 2d, t - d and t only. The last 2*max(d) reduced frames are the
  unit's state, carried from one call to the next, so a sequence fed in pieces (truncated BPTT, or one token at
  a time when generating) gives the same outputs as fed whole.
- `ERULayer`: an LSTM cell whose input transform W_x x_t (the four gate pre-activations) is that unit; the
  recurrent transform W_h h_{t-1} stays a linear map. The unit runs over the whole segment at once; only the
  recurrence steps token by token.
- `ERULanguageModel`: embedding -> dropout -> ERU layers with dropout between -> dropout -> decoder (tied to
  the embedding). `LSTMLanguageModel`: the same with torch.nn.LSTM layers, the baseline.

Both models take tokens (B, T) and an optional state, and return logits (B, T, V) and the new state. Why time is
the convolution's axis, and how the widths are set: docs/language.md.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from search_spaces.eru_config import ERUConfig, LanguageConfig, LSTMConfig, resolve_language

#: Per layer: ERU (h, c, past reduced frames); LSTM (h, c) shaped (1, B, H) as torch.nn.LSTM wants.
State = list[tuple[torch.Tensor, ...]]


class _CBR1d(nn.Sequential):
    """Point-wise conv (grouped, no bias) -> BatchNorm -> PReLU; `act=False` drops the PReLU (CB)."""

    def __init__(self, c_in: int, c_out: int, groups: int, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 1, groups=groups, bias=False)
        self.bn = nn.BatchNorm1d(c_out)
        if act:
            self.act = nn.PReLU(c_out)


class _BR1d(nn.Sequential):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)
        self.act = nn.PReLU(channels)


class EESP1d(nn.Module):
    """Causal 1-D EESP unit c_in -> c_out over (B, C, T); no residual (c_in and c_out differ in the ERU)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        dilations: tuple[int, ...],
        reduce_groups: int,
        expand_groups: int,
        hff: bool,
    ) -> None:
        super().__init__()
        n = c_out // len(dilations)
        self.width = n
        self.dilations = tuple(dilations)
        self.context = 2 * max(dilations)
        self.hff = hff
        self.reduce = _CBR1d(c_in, n, reduce_groups)
        self.branches = nn.ModuleList(nn.Conv1d(n, n, 3, dilation=d, groups=n, bias=False) for d in dilations)
        self.fuse = _BR1d(c_out)
        self.expand = _CBR1d(c_out, c_out, expand_groups, act=False)

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, c_in, T), past (B, n, context) -> output (B, c_out, T), new past."""
        frames = torch.cat([past, self.reduce(x)], 2)
        start = self.context
        outputs: list[torch.Tensor] = []
        for branch, d in zip(self.branches, self.dilations, strict=True):
            # A 3-tap kernel with dilation d and no padding, on the frames from t - 2d: exactly T outputs.
            out = branch(frames[:, :, start - 2 * d :])
            if self.hff and outputs:
                out = out + outputs[-1]
            outputs.append(out)
        y = self.expand(self.fuse(torch.cat(outputs, 1)))
        return y, frames[:, :, frames.shape[2] - self.context :]


class ERULayer(nn.Module):
    """An LSTM cell whose input transform is an `EESP1d`, over a (B, T, c_in) sequence."""

    def __init__(self, c_in: int, hidden: int, cfg: ERUConfig, layer: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.transform = EESP1d(
            c_in,
            4 * hidden,
            dilations=cfg.layer_dilations(layer),
            reduce_groups=cfg.reduce_groups,
            expand_groups=cfg.expand_groups,
            hff=cfg.hff,
        )
        self.recurrent = nn.Linear(hidden, 4 * hidden)

    def init_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zeros = like.new_zeros
        return (
            zeros(batch, self.hidden),
            zeros(batch, self.hidden),
            zeros(batch, self.transform.width, self.transform.context),
        )

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        h, c, past = state
        inputs, past = self.transform(x.transpose(1, 2), past)
        inputs = inputs.transpose(1, 2)  # (B, T, 4h): the gate terms of every step, computed at once
        outputs = []
        for t in range(inputs.shape[1]):
            gates = inputs[:, t] + self.recurrent(h)
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, 1), (h, c, past)


class _LanguageModel(nn.Module):
    """Embedding, recurrent layers with dropout around them, a (tied) decoder."""

    config: LanguageConfig

    def _finish(self, cfg: LanguageConfig) -> None:
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding)
        self.dropout = nn.Dropout(cfg.dropout)
        last = cfg.layer_sizes()[-1][1]
        self.decoder = nn.Linear(last, cfg.vocab_size)
        # AWD-LSTM's initialisation of the embedding and decoder.
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if cfg.tie_weights:
            self.decoder.weight = self.embedding.weight
        else:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def init_state(self, batch: int) -> State:
        like = self.decoder.bias
        return [layer_state(layer, batch, like) for layer in self.layers]

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.init_state(tokens.shape[0])
        x = self.dropout(self.embedding(tokens))
        new_state: State = []
        for i, layer in enumerate(self.layers):
            x, s = run_layer(layer, x, state[i])
            new_state.append(s)
            x = self.dropout(x)  # between layers and after the last
        return self.decoder(x), new_state


class ERULanguageModel(_LanguageModel):
    """The ERU language model of `cfg`; keeps `cfg` as `.config`."""

    def __init__(self, cfg: ERUConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ERULayer(c_in, h, cfg, i) for i, (c_in, h) in enumerate(cfg.layer_sizes()))
        self._finish(cfg)


class LSTMLanguageModel(_LanguageModel):
    """The baseline: AWD-LSTM's layout with torch.nn.LSTM layers (one module per layer, as widths differ)."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(c_in, h, batch_first=True) for c_in, h in cfg.layer_sizes())
        self._finish(cfg)


def layer_state(layer: nn.Module, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if isinstance(layer, ERULayer):
        return layer.init_state(batch, like)
    assert isinstance(layer, nn.LSTM)
    zeros = like.new_zeros(1, batch, layer.hidden_size)
    return (zeros, zeros.clone())


def run_layer(
    layer: nn.Module, x: torch.Tensor, state: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    if isinstance(layer, ERULayer):
        return layer(x, state)
    out, (h, c) = layer(x, state)
    return out, (h, c)


def detach_state(state: State) -> State:
    """The state with its history cut (between truncated-BPTT segments)."""
    return [tuple(t.detach() for t in s) for s in state]


def build_language_model(spec: Any) -> ERULanguageModel | LSTMLanguageModel:
    """The model of an ERU or LSTM config (or spec: `resolve_language`)."""
    cfg = resolve_language(spec)
    if isinstance(cfg, ERUConfig):
        return ERULanguageModel(cfg)
    return LSTMLanguageModel(cfg)
