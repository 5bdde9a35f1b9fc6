"""Corpora: the PTB's three-file layout and conventions, the embedded default, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas.train.data.text import EOS, UNK, TextDataError, embedded_corpus, load_corpus, split_blocks


def test_ptb_layout_and_conventions(ptb_dir: Path) -> None:
    corpus = load_corpus(ptb_dir)
    # Vocabulary: training words in order of first appearance, then <eos> (<unk> appears in the text).
    assert corpus.vocab == ("the", "cat", "sat", "a", "dog", UNK, "ran", EOS)
    words = [corpus.vocab[i] for i in corpus.train]
    assert words == ["the", "cat", "sat", "<eos>", "a", "dog", "<unk>", "ran", "<eos>", "the", "dog", "sat", "<eos>"]
    assert [corpus.vocab[i] for i in corpus.valid] == ["the", "cat", "ran", EOS]
    # "bird" is not in training: it becomes <unk> and is counted.
    assert [corpus.vocab[i] for i in corpus.test] == ["a", UNK, "sat", EOS]
    assert corpus.oov == 1
    assert corpus.train.dtype == np.int64


def test_any_name_of_the_three_file_format(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        (tmp_path / f"wiki.{split}.txt").write_text("x y\n")
    assert load_corpus(tmp_path).vocab == ("x", "y", EOS, UNK)


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda d: (d / "ptb.valid.txt").unlink(), "lacks ptb.valid.txt"),
        (lambda d: (d / "ptb.test.txt").write_text("\n\n"), "has no words"),
        (lambda d: (d / "ptb.train.txt").write_bytes(b"ok\n\xff\xfe bad\n"), "not UTF-8 text (byte 0xff on line 2)"),
        (lambda d: (d / "ptb.train.txt").write_bytes(b"a\x00b\n"), "NUL bytes"),
        (lambda d: (d / "other.train.txt").write_text("a\n"), "several corpora"),
    ],
)
def test_bad_corpora_are_one_line_errors(ptb_dir: Path, setup, needle: str) -> None:
    setup(ptb_dir)
    with pytest.raises(TextDataError) as err:
        load_corpus(ptb_dir)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(TextDataError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(TextDataError, match="has no training file"):
        load_corpus(tmp_path)
    (tmp_path / "ptb.train.txt").write_text("a\n")
    with pytest.raises(TextDataError, match="is a file"):
        load_corpus(tmp_path / "ptb.train.txt")


def test_block_split_is_by_position() -> None:
    lines = [str(i) for i in range(400)]
    train, valid, test = split_blocks(lines)
    assert valid[:2] == ["160", "161"] and len(valid) == 40 and valid[20] == "360"
    assert test[0] == "180" and len(test) == 40
    assert len(train) == 320 and "159" in train and "200" in train


def test_embedded_corpus_is_deterministic_and_ptb_like() -> None:
    a, b = embedded_corpus(), load_corpus("pydoc")
    assert a.vocab == b.vocab
    assert all(np.array_equal(a.split(s), b.split(s)) for s in ("train", "valid", "test"))
    assert EOS in a.vocab and UNK in a.vocab and "N" in a.vocab
    assert all(w == w.lower() for w in a.vocab if w not in (EOS, UNK, "N"))
    assert len(a.train) > 50_000 and len(a.valid) > 5_000 and len(a.test) > 5_000
    assert a.oov == 0  # rare words were replaced by <unk> before the vocabulary was built
