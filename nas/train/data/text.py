"""Word-level corpora for language modelling: the Penn Treebank layout from disk, and an embedded default.

- `load_corpus(path)`: a directory with three files, `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt` (the
  Penn Treebank as prepared by Mikolov et al.), or any `NAME.train.txt` / `NAME.valid.txt` / `NAME.test.txt`
  triple (also `train.txt`, `valid.txt`, `test.txt`). Conventions of that preparation: one sentence per line,
  words separated by spaces, `<unk>` already in the text for rare words, and `<eos>` appended to every line.
  The vocabulary is the training file's words in order of first appearance (then `<eos>`, `<unk>` if absent);
  a word of valid/test that training lacks becomes `<unk>` and is counted in `Corpus.oov`.
- `load_corpus("pydoc")` (the default): CPython's own documentation topics (`pydoc_data.topics`, shipped with
  every Python), turned into PTB-style text: lower case, words only, numbers as `N`, words seen once in
  training as `<unk>`; the lines are cut into blocks of 20 consecutive lines, and of every 10 blocks, block 8
  goes to validation and block 9 to test. The split depends on nothing but the text, so it is the same
  everywhere that Python version's topics are.

Every mistake (a missing directory or file, an empty file, bytes that are not UTF-8) is one `DataError` line.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search_spaces.errors import EspnasError

EOS = "<eos>"
UNK = "<unk>"
EMBEDDED = "pydoc"
SPLITS = ("train", "valid", "test")
_BLOCK_LINES = 20
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+(?:[.,][0-9]+)*")


class TextDataError(EspnasError, ValueError):
    """A corpus that cannot be read: names the file, what is wrong and what would be valid."""


@dataclass(frozen=True)
class Corpus:
    """Token ids of the three splits (int64 arrays) and the vocabulary they index."""

    name: str
    vocab: tuple[str, ...]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    oov: int = 0  # valid/test words missing from the training vocabulary, mapped to <unk>

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise TextDataError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return getattr(self, name)

    def summary(self) -> dict[str, object]:
        return {
            "corpus": self.name,
            "vocab_size": self.vocab_size,
            "tokens": {s: len(self.split(s)) for s in SPLITS},
            "oov": self.oov,
        }

    def head(self, tokens: int) -> Corpus:
        """The first `tokens` tokens of train, and a tenth as many of valid and test: a quick slice."""
        if tokens < 1:
            raise TextDataError(f"a corpus slice needs at least 1 token, got {tokens}")
        small = max(1, tokens // 10)
        return Corpus(self.name, self.vocab, self.train[:tokens], self.valid[:small], self.test[:small], self.oov)


def load_corpus(source: str | os.PathLike[str] = EMBEDDED) -> Corpus:
    """The embedded corpus ("pydoc") or a three-file corpus directory (see the module docstring)."""
    if str(source) == EMBEDDED:
        return embedded_corpus()
    path = Path(source)
    if not path.exists():
        raise TextDataError(
            f"corpus {str(path)!r} does not exist; valid: {EMBEDDED!r} (embedded) or a directory with "
            "ptb.train.txt, ptb.valid.txt and ptb.test.txt"
        )
    if not path.is_dir():
        raise TextDataError(
            f"corpus {str(path)!r} is a file; valid: its directory, holding NAME.train.txt, NAME.valid.txt, "
            "NAME.test.txt"
        )
    files = corpus_files(path)
    lines = {split: _read_lines(files[split]) for split in SPLITS}
    return build_corpus(path.name or str(path), lines["train"], lines["valid"], lines["test"])


def corpus_files(path: Path) -> dict[str, Path]:
    """The three files of a corpus directory, or a one-line error saying which is missing."""
    prefixes = sorted({p.name[: -len(".train.txt")] for p in path.glob("*.train.txt")})
    if (path / "train.txt").is_file():
        prefixes.append("")
    if not prefixes:
        raise TextDataError(
            f"corpus directory {str(path)!r} has no training file; valid: ptb.train.txt, ptb.valid.txt and "
            "ptb.test.txt (or NAME.train.txt, NAME.valid.txt, NAME.test.txt)"
        )
    if len(prefixes) > 1:
        shown = ", ".join(f"{p}.train.txt" if p else "train.txt" for p in prefixes)
        raise TextDataError(f"corpus directory {str(path)!r} holds several corpora ({shown}); valid: exactly one")
    prefix = prefixes[0] + "." if prefixes[0] else ""
    files = {split: path / f"{prefix}{split}.txt" for split in SPLITS}
    missing = [f.name for f in files.values() if not f.is_file()]
    if missing:
        raise TextDataError(
            f"corpus directory {str(path)!r} lacks {', '.join(missing)}; valid: "
            + ", ".join(f.name for f in files.values())
        )
    return files


def _read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TextDataError(f"cannot read {str(path)!r}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TextDataError(
            f"{str(path)!r} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); "
            "valid: UTF-8 text, one sentence per line"
        ) from None
    if "\x00" in text:
        raise TextDataError(f"{str(path)!r} holds NUL bytes; valid: UTF-8 text, one sentence per line")
    lines = text.splitlines()
    if not any(line.split() for line in lines):
        raise TextDataError(f"{str(path)!r} has no words; valid: UTF-8 text, one sentence per line")
    return lines


def build_corpus(name: str, train: Sequence[str], valid: Sequence[str], test: Sequence[str]) -> Corpus:
    """Token ids of PTB-style lines: each line's words, then <eos>; the vocabulary from the training lines."""
    index: dict[str, int] = {}
    for line in train:
        for word in line.split():
            index.setdefault(word, len(index))
    index.setdefault(EOS, len(index))
    index.setdefault(UNK, len(index))
    unk = index[UNK]
    oov = 0

    def ids(lines: Iterable[str], count_oov: bool) -> np.ndarray:
        nonlocal oov
        out: list[int] = []
        for line in lines:
            for word in line.split():
                i = index.get(word)
                if i is None:
                    i = unk
                    oov += count_oov
                out.append(i)
            out.append(index[EOS])
        return np.asarray(out, dtype=np.int64)

    arrays = (ids(train, False), ids(valid, True), ids(test, True))
    return Corpus(name, tuple(index), *arrays, oov=oov)


def ptb_style(lines: Iterable[str]) -> list[str]:
    """Raw text lines -> PTB-style lines: lower case, words only, numbers as N; lines without words dropped."""
    out = []
    for line in lines:
        words = ["N" if w[0].isdigit() else w for w in _WORD.findall(line.lower())]
        if words:
            out.append(" ".join(words))
    return out


def split_blocks(lines: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """Blocks of 20 consecutive lines; of every 10 blocks, block 8 -> valid, block 9 -> test, the rest train."""
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    for i, line in enumerate(lines):
        block = (i // _BLOCK_LINES) % 10
        parts[1 if block == 8 else 2 if block == 9 else 0].append(line)
    return parts


def replace_rare(train: list[str], others: Sequence[list[str]], min_count: int = 2) -> list[list[str]]:
    """Words seen fewer than `min_count` times in training become <unk> everywhere (the PTB's preparation)."""
    counts = Counter(w for line in train for w in line.split())
    keep = {w for w, c in counts.items() if c >= min_count}

    def apply(lines: list[str]) -> list[str]:
        return [" ".join(w if w in keep else UNK for w in line.split()) for line in lines]

    return [apply(train), *(apply(lines) for lines in others)]


def embedded_corpus() -> Corpus:
    """CPython's documentation topics as a PTB-style corpus (about 120,000 tokens)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # pragma: no cover - every CPython ships it, but distributions may strip it
        raise TextDataError(
            "the embedded corpus needs CPython's pydoc_data, which this Python lacks; give a corpus directory"
        ) from None
    lines = ptb_style(line for key in sorted(topics) for line in topics[key].splitlines())
    train, valid, test = split_blocks(lines)
    train, valid, test = replace_rare(train, [valid, test])
    return build_corpus(EMBEDDED, train, valid, test)
