"""Latency per token and per sequence of language models through `espnas profile`'s library function."""

from __future__ import annotations

import pytest

from profilers.language_latency import measure_language_config, token_stream
from profilers.profile import profile
from search_spaces.errors import EspnasError
from tests.language.conftest import TINY


def test_profile_reports_per_token_and_per_sequence() -> None:
    specs = [TINY.to_compact(), "lstm:" + TINY.to_compact()]
    report = profile(specs, batch_sizes=[2], seq_len=3, time_budget_s=0.1, rounds=1, threads=1)
    latency = report.metric("latency")
    assert len(latency) == 2
    for rec in latency:
        assert rec["seq_len"] == 3 and rec["tokens"] == 3 * rec["batch_size"]
        assert rec["per_token"] == pytest.approx(rec["value"] / (3 * rec["batch_size"]))
        assert rec["per_sequence"] == pytest.approx(rec["value"] / rec["batch_size"])
    assert latency[0]["model"].endswith("/T=3") and "ratio" in latency[1]
    assert report.settings["seq_len"] == 3


def test_the_stream_runs_the_model_from_a_warm_state() -> None:
    import torch

    stream = token_stream(TINY, seq_len=4)
    out = stream(torch.zeros(2, 1, 1, 1))
    assert out.shape == (2, 4, TINY.vocab_size)
    h = stream._state[0][0]
    assert h.abs().sum() > 0  # 16 tokens of warm-up: not the zero state


def test_image_options_and_mixes_are_refused() -> None:
    with pytest.raises(EspnasError, match="not both"):
        profile(["eru-7m", "espnetv2-0.5"], time_budget_s=0.1)
    with pytest.raises(EspnasError, match="--deploy"):
        profile(["eru-7m"], deploy=True, time_budget_s=0.1)


def test_search_measurement_is_one_step_per_token() -> None:
    got = measure_language_config(TINY, ["latency_ms"], "cpu", budget_s=0.2, batch=1, threads=1)
    assert got["latency_ms"] > 0 and got["latency_ms_ci_lo"] <= got["latency_ms"] <= got["latency_ms_ci_hi"]
    assert "per token" in got["fingerprint"]["unit"]
