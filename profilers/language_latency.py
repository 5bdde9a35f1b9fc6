"""Timing language models (ERU, LSTM) with the image profilers' machinery: latency per token and per sequence.

`TokenStream(model, seq_len)` is a module whose forward runs the language model over `seq_len` tokens from a
warmed-up state (the state after 16 tokens, so the ERU's convolution context and the recurrent state are not
zeros) and returns the logits. Its input tensor only sets the batch size, so `measure_latency`,
`compare_latency`, `measure_energy` and `measure_peak_memory` time it like any model: the figure per "image"
is per sequence, and per token is that over `seq_len`. With `seq_len=1` it is one generation step, the latency
a deployed model pays per token.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from profilers.language_counting import resolve_model
from search_spaces.errors import EspnasError
from search_spaces.eru import build_language_model
from search_spaces.eru_config import ERUConfig, LSTMConfig, is_language_spec

WARM_TOKENS = 16


class TokenStream(nn.Module):
    """One call = the language model over `seq_len` tokens per row, from a fixed warmed-up state."""

    def __init__(self, model: nn.Module, seq_len: int = 1, label: str | None = None) -> None:
        super().__init__()
        if seq_len < 1:
            raise EspnasError(f"--seq-len {seq_len} is invalid; valid: a positive number of tokens")
        self.model = model
        self.seq_len = int(seq_len)
        self.espnas_label = f"{label or type(model).__name__}/T={seq_len}"
        self.language_config = model.config
        self._batch = -1
        self._tokens: torch.Tensor | None = None
        self._state: Any = None

    def _prime(self, batch: int, device: torch.device) -> None:
        gen = torch.Generator().manual_seed(0)
        vocab = self.model.config.vocab_size
        warm = torch.randint(0, vocab, (batch, WARM_TOKENS), generator=gen).to(device)
        self._tokens = torch.randint(0, vocab, (batch, self.seq_len), generator=gen).to(device)
        with torch.no_grad():
            _, self._state = self.model(warm)
        self._batch = batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = int(x.shape[0])
        if batch != self._batch or self._tokens is None or self._tokens.device != x.device:
            self._prime(batch, x.device)
        logits, _ = self.model(self._tokens, self._state)
        return logits


def token_stream(spec: Any, seq_len: int = 1) -> TokenStream:
    """A `TokenStream` of an ERU/LSTM spec (preset, `eru:...`, `lstm:...`, `lstm:eru-7m`, JSON), eval mode."""
    cfg = resolve_model(spec)
    label = spec if isinstance(spec, str) and len(spec) <= 40 else f"{cfg.KIND}:{cfg.arch_id}"
    torch.manual_seed(0)
    # Reports name a module by its class (profilers.models.model_label): give this one a class named for it.
    named = type(f"{label}/T={seq_len}", (TokenStream,), {})
    return named(build_language_model(cfg).eval(), seq_len, label=label).eval()


def is_language(spec: Any) -> bool:
    return isinstance(spec, TokenStream) or is_language_spec(spec)


def measure_language_config(
    config: ERUConfig | LSTMConfig,
    metrics: Any,
    device: str,
    *,
    budget_s: float,
    batch: int,
    threads: int | None,
) -> dict[str, Any]:
    """The search's measurements of a language model: latency_ms is one generation step (ms per token at
    `batch` rows); energy_mj is per token; peak_memory_mb of one step."""
    import time

    stream = token_stream(config, seq_len=1)
    shape = (batch, 1, 1, 1)
    out: dict[str, Any] = {"seconds": {}}
    if "latency_ms" in metrics:
        from profilers.latency import measure_latency

        t = time.perf_counter()
        res = measure_latency(stream, shape, device=device, time_budget_s=budget_s, threads=threads)
        out["latency_ms"] = float(res.median_ms)
        out["latency_ms_iqr"] = float(res.iqr_ms)
        lo, hi = res.ci95_ms
        out["latency_ms_ci_lo"], out["latency_ms_ci_hi"] = float(lo), float(hi)
        out["fingerprint"] = dict(res.fingerprint or {}) | {"unit": "ms per token (one step)"}
        out["seconds"]["latency"] = time.perf_counter() - t
    if "energy_mj" in metrics:
        from profilers.energy import measure_energy

        t = time.perf_counter()
        res = measure_energy(stream, shape, device=device, threads=threads)
        out["energy_mj"] = float(res.energy_mj_per_image)  # per row of one step: per token
        out["seconds"]["energy"] = time.perf_counter() - t
    if "peak_memory_mb" in metrics:
        from profilers.memory import measure_peak_memory

        t = time.perf_counter()
        res = measure_peak_memory(stream, shape, device=device, threads=threads)
        out["peak_memory_mb"] = float(res.peak_mb)
        out["seconds"]["memory"] = time.perf_counter() - t
    return out


def language_specs(specs: Any, seq_len: int | None, *, deploy: bool, runtimes: Any = None) -> list[Any]:
    """`TokenStream`s for a profile of language models; a mix with image models, or an image-only option,
    is a one-line error."""
    kinds = {is_language(s) for s in specs}
    if kinds != {True}:
        raise EspnasError("profile either language models (ERU, LSTM) or image models, not both in one call")
    if deploy or runtimes:
        raise EspnasError("--deploy and --runtime apply to image models; drop them for ERU/LSTM language models")
    return [s if isinstance(s, TokenStream) else token_stream(s, seq_len or 1) for s in specs]


def add_token_figures(records: list[dict[str, Any]], streams: list[TokenStream]) -> None:
    """Per-token values next to each record's per-sequence ones (a record's batch is rows of seq_len tokens)."""
    seq = {s.espnas_label: s.seq_len for s in streams}
    for rec in records:
        t = seq.get(rec.get("model"))
        if t is None or not isinstance(rec.get("value"), (int, float)):
            continue
        rec["seq_len"] = t
        rec["tokens"] = t * int(rec["batch_size"])
        if rec["metric"] in ("latency", "energy_per_image", "energy_per_image_net"):
            rec["per_token"] = rec["value"] / rec["tokens"]
            rec["per_sequence"] = rec["value"] / int(rec["batch_size"])
