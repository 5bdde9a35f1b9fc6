"""Data sources for training and the search's proxy: all local, nothing downloaded.

`load_data(source, image_size)` takes "digits" (scikit-learn's bundled 8x8 digits), "scenes" (those digits
composed into cluttered scenes, nas/train/data/scenes.py), an image folder (the
ImageNet layout) or a CIFAR-10/100 python-batch directory, and returns a `DataSource`. `DataSource.loader()`
gives the batches of one epoch; their order and augmentation are a function of (seed, epoch) only, which is
what lets an interrupted training run resume bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nas.train.data.cifar import cifar_layout, load_cifar
from nas.train.data.digits import load_digits
from nas.train.data.folders import SeededSampler, load_folders
from nas.train.data.memory import BatchLoader, InMemoryDataset
from nas.train.data.scenes import load_scene_classification
from search_spaces.errors import EspnasError

__all__ = ["DataSource", "epoch_seed", "load_data"]


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed derived from (seed, epoch, stream), so every epoch's randomness is reproducible alone."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(2, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True)
class DataSource:
    """A train and a validation dataset with what the trainer needs to know about them."""

    name: str
    train: Dataset
    val: Dataset
    num_classes: int
    class_names: tuple[str, ...]
    image_size: int
    skipped: int = 0
    skipped_files: tuple[str, ...] = ()
    workers: int = 0

    @property
    def in_memory(self) -> bool:
        return isinstance(self.train, InMemoryDataset)

    def loader(
        self, split: str, batch_size: int, *, seed: int = 0, epoch: int = 0, workers: int | None = None
    ) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of `split` ("train": shuffled, augmented, last partial batch dropped; "val": in order)."""
        if split not in ("train", "val"):
            raise EspnasError(f"unknown split {split!r}; valid: train, val")
        dataset = self.train if split == "train" else self.val
        training = split == "train"
        if isinstance(dataset, InMemoryDataset):
            return BatchLoader(dataset, batch_size, shuffle=training, seed=epoch_seed(seed, epoch), drop_last=training)
        n_workers = self.workers if workers is None else workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=SeededSampler(len(dataset), shuffle=training, seed=epoch_seed(seed, epoch)),
            drop_last=training and len(dataset) >= batch_size,
            num_workers=n_workers,
            pin_memory=torch.cuda.is_available(),
        )


def load_data(
    source: str | os.PathLike[str],
    image_size: int = 32,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    augment: bool = True,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    max_corrupt_fraction: float = 0.01,
    workers: int | None = None,
) -> DataSource:
    """Load "digits", an image folder or a CIFAR batch directory, served at image_size x image_size.

    The validation split is seeded and stratified for the digits and for a folder without train/ and val/;
    CIFAR uses its official test batch. `crop_scale` is the random-resized crop's area range for folders
    (the paper: (0.2, 1) below 80M FLOPs, else (0.08, 1)). `workers` defaults to min(4, cores) for folders.
    """
    if not isinstance(image_size, int) or image_size < 8:
        raise EspnasError(f"image_size {image_size!r} is invalid; use an integer of at least 8")
    if not 0.0 < val_fraction < 1.0:
        raise EspnasError(f"val_fraction {val_fraction!r} is invalid; use a number between 0 and 1")
    if str(source) == "digits":
        train, val, names = load_digits(image_size, seed=seed, val_fraction=val_fraction, augment=augment)
        return DataSource("digits", train, val, len(names), names, image_size)
    if str(source) == "scenes":
        train, val, names = load_scene_classification(image_size, seed=seed, val_fraction=val_fraction, augment=augment)
        return DataSource("scenes", train, val, len(names), names, image_size)
    path = Path(source).expanduser()
    if not path.exists():
        raise EspnasError(
            f"data source {str(source)!r} not found; use 'digits', 'scenes', an image folder or a CIFAR directory"
        )
    if not path.is_dir():
        raise EspnasError(f"data source {path} is a file; use 'digits', 'scenes', an image folder or a CIFAR directory")
    for candidate in (path, path / "cifar-10-batches-py", path / "cifar-100-python"):
        layout = cifar_layout(candidate) if candidate.is_dir() else None
        if layout:
            train, val, names, layout = load_cifar(candidate, image_size, augment=augment)
            return DataSource(f"{layout}:{candidate}", train, val, len(names), names, image_size)
    train, val, names, bad = load_folders(
        path,
        image_size,
        seed=seed,
        val_fraction=val_fraction,
        crop_scale=crop_scale,
        max_corrupt_fraction=max_corrupt_fraction,
    )
    n_workers = min(4, os.cpu_count() or 1) if workers is None else workers
    return DataSource(f"folder:{path}", train, val, len(names), names, image_size, len(bad), bad, n_workers)
