"""Counting the ERU and its LSTM baseline: hand-derived figures, the paper's sizes, and hooks on built models."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from profilers.language_counting import count_language, equal_lstm, resolve_model
from profilers.language_hooks import count_language_model
from search_spaces.eru import build_language_model
from search_spaces.eru_config import ERU_PRESETS, ERUConfig, LSTMConfig


def test_one_layer_by_hand() -> None:
    # embedding 8 -> one tied ERU layer of hidden 8 (gates 32), K=4 (n=8), groups 4, vocabulary 10.
    # params: reduce 8*8/4=16, its BN 16, PReLU 8; branches 4*3*8=96; fuse BN 64, PReLU 32; expand 32*32/4=256,
    # BN 64; recurrent 32*8+32=288; embedding 80; decoder bias 10 (weight tied) -> 930.
    # MACs per token: reduce 16, branches 96, expand 256, recurrent 256, decoder 80 -> 704.
    counts = count_language(ERUConfig(vocab_size=10, embedding=8, hidden=8, layers=1, dilation_caps=(9,)))
    assert counts.params == 930
    assert counts.macs == 704
    assert counts.decoder_macs == 80


def test_lstm_by_hand() -> None:
    # One tied torch.nn.LSTM layer 8 -> 8: weights 4*8*(8+8)=512, two biases 2*32=64; embedding 80, bias 10.
    counts = count_language(LSTMConfig(vocab_size=10, embedding=8, hidden=8, layers=1))
    assert counts.params == 512 + 64 + 80 + 10
    assert counts.macs == 512 + 80


@pytest.mark.parametrize(("name", "target"), [("eru-7m", 7e6), ("eru-15m", 15e6)])
def test_presets_land_on_the_papers_sizes(name: str, target: float) -> None:
    cfg = ERU_PRESETS[name]
    assert cfg.vocab_size == 10_000 and cfg.embedding == 400 and cfg.layers == 3 and cfg.dropout == 0.5
    params = count_language(cfg).params
    assert abs(params / target - 1) < 0.02
    model = build_language_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == params


def test_preset_counts_equal_the_hooks() -> None:
    cfg = ERU_PRESETS["eru-7m"]
    analytic = count_language(cfg)
    hooked = count_language_model(build_language_model(cfg), seq_len=3)
    assert hooked.params == analytic.params
    assert hooked.macs == analytic.macs
    assert {r.name: r.macs for r in hooked.layers if r.macs} == {r.name: r.macs for r in analytic.layers if r.macs}


@pytest.mark.parametrize("name", list(ERU_PRESETS))
def test_equal_lstm_matches_the_parameter_count(name: str) -> None:
    eru = count_language(ERU_PRESETS[name]).params
    lstm_cfg = equal_lstm(ERU_PRESETS[name])
    lstm = count_language(lstm_cfg).params
    assert abs(lstm / eru - 1) < 0.002
    assert resolve_model(f"lstm:{name}") == lstm_cfg
    built = build_language_model(lstm_cfg)
    assert sum(p.numel() for p in built.parameters()) == lstm
    assert all(isinstance(layer, torch.nn.LSTM) for layer in built.layers)


@st.composite
def small_erus(draw: st.DrawFn) -> ERUConfig:
    k = draw(st.sampled_from([1, 2, 3, 4]))
    gr = draw(st.sampled_from([1, 2]))
    ge = draw(st.sampled_from([1, 2, 4]))
    layers = draw(st.integers(1, 3))
    emb = 2 * k * draw(st.integers(1, 4))
    hidden = 2 * k * draw(st.integers(1, 4))
    caps = tuple(draw(st.sampled_from([3, 5, 9, 13])) for _ in range(layers))
    return ERUConfig(
        vocab_size=draw(st.integers(5, 40)),
        embedding=emb,
        hidden=hidden,
        layers=layers,
        branches=k,
        reduce_groups=gr,
        expand_groups=ge,
        dilation_caps=caps,
        hff=draw(st.booleans()),
        tie_weights=draw(st.booleans()),
    )


@settings(max_examples=25, deadline=None)
@given(small_erus(), st.integers(1, 6))
def test_any_small_config_counts_exactly(cfg: ERUConfig, seq_len: int) -> None:
    assert ERUConfig.from_compact(cfg.to_compact()) == cfg
    model = build_language_model(cfg)
    analytic = count_language(cfg)
    hooked = count_language_model(model, seq_len=seq_len)
    assert sum(p.numel() for p in model.parameters()) == analytic.params == hooked.params
    assert hooked.macs == analytic.macs
