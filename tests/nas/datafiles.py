"""Helpers for the data tests: write small image folders and CIFAR batch files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, label: int, size: tuple[int, int] = (20, 16), fmt: str | None = None) -> None:
    """A small RGB image whose colour encodes the label (so a model could learn it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    pixels = rng.integers(0, 60, size=(size[1], size[0], 3), dtype=np.uint8)
    pixels[..., label % 3] += np.uint8(150)
    Image.fromarray(pixels).save(path, format=fmt)


def write_folder(root: Path, per_class: dict[str, int], ext: str = ".png") -> list[Path]:
    """root/<class>/img<i><ext> for each class; returns the files written."""
    written = []
    for label, (name, count) in enumerate(sorted(per_class.items())):
        for i in range(count):
            path = root / name / f"img{i:03d}{ext}"
            write_image(path, label)
            written.append(path)
    return written


def write_cifar(directory: Path, *, kind: str = "cifar10", per_batch: int = 12, classes: int = 10) -> None:
    """CIFAR python batches with random pixels: CIFAR-10 (5 train batches + test) or CIFAR-100 (train + test)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def batch(n: int, label_key: bytes) -> dict:
        return {
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            label_key: [int(v) for v in np.arange(n) % classes],
            b"filenames": [f"f{i}.png".encode() for i in range(n)],
        }

    def dump(name: str, obj: dict) -> None:
        with (directory / name).open("wb") as fh:
            pickle.dump(obj, fh, protocol=2)

    names = [f"class{i}".encode() for i in range(classes)]
    if kind == "cifar10":
        for i in range(1, 6):
            dump(f"data_batch_{i}", batch(per_batch, b"labels"))
        dump("test_batch", batch(per_batch, b"labels"))
        dump("batches.meta", {b"label_names": names})
    else:
        dump("train", batch(5 * per_batch, b"fine_labels"))
        dump("test", batch(per_batch, b"fine_labels"))
        dump("meta", {b"fine_label_names": names})
