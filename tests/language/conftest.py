"""Fixtures of the language-model tests: one torch thread, a tiny ERU and a small PTB-format corpus on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from search_spaces.eru_config import ERUConfig

#: A tiny ERU (about 10k parameters at a 100-word vocabulary) whose training takes well under a second.
TINY = ERUConfig(vocab_size=100, embedding=16, hidden=16, dilation_caps=(9, 7, 5))


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ptb_dir(tmp_path: Path) -> Path:
    """Three PTB-style files: one sentence per line, <unk> already in the text."""
    (tmp_path / "ptb.train.txt").write_text(" the cat sat \n a dog <unk> ran \n the dog sat \n")
    (tmp_path / "ptb.valid.txt").write_text(" the cat ran \n")
    (tmp_path / "ptb.test.txt").write_text(" a bird sat \n")
    return tmp_path


@pytest.fixture(scope="session")
def small_ptb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 4,000 tokens of the embedded corpus written out in the PTB's three-file layout."""
    from nas.train.data.text import EOS, load_corpus

    corpus = load_corpus("pydoc")
    root = tmp_path_factory.mktemp("small-ptb")
    for split, n in (("train", 4000), ("valid", 800), ("test", 800)):
        words = [corpus.vocab[i] for i in corpus.split(split)[:n]]
        text = " ".join(words).replace(f" {EOS} ", "\n").replace(EOS, "\n")
        (root / f"ptb.{split}.txt").write_text(text + "\n")
    return root
