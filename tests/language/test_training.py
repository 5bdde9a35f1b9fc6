"""Training with AWD-LSTM's policy: one epoch on a slice of the embedded corpus, exact resume, NT-ASGD."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.train.data.text import load_corpus
from nas.train.language import LMSettings, LMTrainer, segment_lengths, train_language
from search_spaces.errors import EspnasError
from search_spaces.eru import build_language_model
from tests.language.conftest import TINY

FAST = LMSettings(epochs=1, batch_size=8, eval_batch_size=8, test_batch_size=8, bptt=20, lr=20.0)


@pytest.fixture(scope="module")
def small_corpus():
    return load_corpus("pydoc").head(1600)


def test_one_epoch_on_the_embedded_corpus_learns(small_corpus) -> None:
    result = train_language(TINY, small_corpus, FAST)
    vocab = small_corpus.vocab_size
    assert result.config.vocab_size == vocab  # the preset's vocabulary follows the corpus
    # A model that knew nothing would score the vocabulary size; one epoch must do clearly better.
    assert result.val_ppl < 0.5 * vocab
    assert result.test_ppl is not None and result.test_ppl < 0.5 * vocab
    assert len(result.history) == 1 and math.isfinite(result.history[0]["train_ppl"])


def test_resume_ends_where_an_uninterrupted_run_ends(small_corpus, tmp_path: Path) -> None:
    two = FAST.__class__(**{**FAST.to_dict(), "epochs": 2, "max_batches": 4})
    one = two.__class__(**{**two.to_dict(), "epochs": 1})
    straight = train_language(TINY, small_corpus, two, test=False)
    train_language(TINY, small_corpus, one, out_dir=tmp_path, test=False)
    resumed = train_language(TINY, small_corpus, two, out_dir=tmp_path, resume=True, test=False)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [h["val_ppl"] for h in straight.history] == [h["val_ppl"] for h in resumed.history]


def test_resume_refuses_other_settings(small_corpus, tmp_path: Path) -> None:
    quick = FAST.__class__(**{**FAST.to_dict(), "max_batches": 2})
    train_language(TINY, small_corpus, quick, out_dir=tmp_path, test=False)
    other = quick.__class__(**{**quick.to_dict(), "lr": 1.0})
    with pytest.raises(EspnasError, match="other settings"):
        train_language(TINY, small_corpus, other, out_dir=tmp_path, resume=True)
    with pytest.raises(EspnasError, match="no checkpoint"):
        train_language(TINY, small_corpus, quick, out_dir=tmp_path / "empty", resume=True)


def test_switches_to_averaged_sgd_when_validation_stalls(small_corpus) -> None:
    torch.manual_seed(0)
    cfg = TINY.replace(vocab_size=small_corpus.vocab_size)
    settings = FAST.__class__(**{**FAST.to_dict(), "max_batches": 2, "nonmono": 2})
    trainer = LMTrainer(build_language_model(cfg), small_corpus, settings)
    trainer.val_losses = [0.0, 9.0, 9.0]  # an early best that the next epoch cannot reach
    record = trainer.run_epoch()
    assert record.get("switched_to_asgd") and trainer.optimizer_kind == "asgd"
    assert isinstance(trainer.optimizer, torch.optim.ASGD)
    trainer.run_epoch()  # evaluates with the averaged weights
    assert trainer.history[-1]["optimizer"] == "asgd"
    stays = LMTrainer(build_language_model(cfg), small_corpus, settings)
    stays.val_losses = [99.0, 99.0, 99.0]
    assert not stays.run_epoch().get("switched_to_asgd")


def test_variable_bptt_lengths_cover_the_stream() -> None:
    rng = np.random.default_rng(0)
    lengths = segment_lengths(70, 10_001, rng)
    assert sum(lengths) == 10_000
    assert all(n >= 1 for n in lengths) and all(n >= 5 for n in lengths[:-1])
    assert 55 < float(np.median(lengths)) < 85  # mostly around bptt, a few around bptt / 2
    assert any(n < 50 for n in lengths[:-1])
