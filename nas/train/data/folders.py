"""Image folders on disk (one sub-folder per class, the ImageNet layout), decoded with Pillow.

Either `root/train/<class>/...` and `root/val/<class>/...`, or `root/<class>/...` split into train and
validation with a seeded, stratified split. Every file is checked once when the folder is scanned: a few
unreadable images are skipped and counted; more than `max_corrupt_fraction` of them is an error naming one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from nas.train.data.errors import DataError
from nas.train.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform_pil, train_transform_pil
from search_spaces.errors import EspnasError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})


class FolderDataset(Dataset):
    """(path, label) samples decoded on access; training augmentation or the evaluation transform."""

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        image_size: int,
        *,
        train: bool,
        crop_scale: tuple[float, float] = (0.08, 1.0),
    ) -> None:
        self.samples = list(samples)
        self.image_size = int(image_size)
        self.train = train
        self.crop_scale = crop_scale
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, index: int) -> tuple[Image.Image, int]:
        # An image that passed the scan but fails to decode (truncated data) is replaced by the next one,
        # so one bad file cannot kill a long run; it is named in a warning.
        for offset in range(len(self.samples)):
            path, label = self.samples[(index + offset) % len(self.samples)]
            try:
                with Image.open(path) as img:
                    return img.convert("RGB"), label
            except Exception as err:  # Pillow raises many types for undecodable data (OSError, SyntaxError, ...)
                warnings.warn(f"skipping unreadable image {path}: {err}", stacklevel=2)
        first = self.samples[index % len(self.samples)][0] if self.samples else "(none)"
        raise DataError(
            f"no image of the {len(self.samples)} in this split decodes (the first tried: {first}); "
            "valid: images Pillow can decode"
        )

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        """The sample at `key`: an index, or (index, seed) from `SeededSampler` for reproducible augmentation."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        image, label = self._load(index)
        if self.train:
            gen = torch.Generator().manual_seed(seed) if seed is not None else torch.default_generator
            x = train_transform_pil(image, self.image_size, gen, scale=self.crop_scale)
        else:
            x = eval_transform_pil(image, self.image_size)
        return (x - self._mean) / self._std, label


class SeededSampler(Sampler):
    """Yields (index, sample seed) pairs: the order and each sample's augmentation seed come from `seed` alone,
    so a folder epoch is reproducible whatever the number of DataLoader workers."""

    def __init__(self, length: int, *, shuffle: bool, seed: int) -> None:
        self.length, self.shuffle, self.seed = length, shuffle, seed

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(self.length, generator=gen) if self.shuffle else torch.arange(self.length)
        seeds = torch.randint(0, 2**62, (self.length,), generator=gen)
        return iter(zip(order.tolist(), seeds.tolist(), strict=True))


def _class_files(root: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image files under root/<class>/ (searched recursively)."""
    if not root.is_dir():
        raise EspnasError(f"image folder {root} does not exist or is not a directory")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise EspnasError(f"{root} has no class sub-folders; expected {root}/<class>/<image>.jpg|png")
    files: dict[str, list[Path]] = {}
    for name in classes:
        found = []
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames.sort()
            found += [Path(dirpath) / f for f in sorted(filenames) if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
        if not found:
            raise EspnasError(f"class folder {root / name} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        files[name] = found
    return files


def _is_readable(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.verify()
        return True
    except Exception:  # Pillow raises many types for bad files (SyntaxError, struct.error, ...)
        return False


def _check_images(paths: list[Path], max_corrupt_fraction: float) -> set[Path]:
    """The unreadable files among `paths`; an error if there are more than the allowed fraction."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        readable = list(pool.map(_is_readable, paths, chunksize=64))
    bad = [p for p, ok in zip(paths, readable, strict=True) if not ok]
    if len(bad) > max_corrupt_fraction * len(paths):
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise EspnasError(
            f"unreadable image {bad[0]}{more} ({len(bad)} of {len(paths)} files; at most "
            f"{max_corrupt_fraction:.0%} may be skipped)"
        )
    return set(bad)


def load_folders(
    root: Path,
    image_size: int = 224,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    max_corrupt_fraction: float = 0.01,
) -> tuple[FolderDataset, FolderDataset, tuple[str, ...], tuple[str, ...]]:
    """Train and validation datasets, class names and the skipped (unreadable) files of an image folder."""
    if (root / "train").is_dir() and (root / "val").is_dir():
        train_files, val_files = _class_files(root / "train"), _class_files(root / "val")
        if set(val_files) - set(train_files):
            extra = sorted(set(val_files) - set(train_files))
            raise EspnasError(f"{root / 'val'} has classes missing from {root / 'train'}: {', '.join(extra)}")
        classes = tuple(train_files)
        train_pairs = [(p, i) for i, c in enumerate(classes) for p in train_files[c]]
        val_pairs = [(p, classes.index(c)) for c in val_files for p in val_files[c]]
    else:
        files = _class_files(root)
        classes = tuple(files)
        rng = np.random.default_rng(seed)
        train_pairs, val_pairs = [], []
        for i, c in enumerate(classes):  # stratified: the same fraction of every class goes to validation
            order = rng.permutation(len(files[c]))
            n_val = round(val_fraction * len(order)) if len(order) > 1 else 0
            val_pairs += [(files[c][j], i) for j in sorted(order[:n_val])]
            train_pairs += [(files[c][j], i) for j in sorted(order[n_val:])]
    if len(classes) < 2:
        raise DataError(
            f"{root} has one class ({classes[0]!r}); a classifier needs at least 2 class sub-folders "
            f"({root}/<class>/<image>)"
        )
    bad = _check_images([p for p, _ in train_pairs + val_pairs], max_corrupt_fraction)
    train_samples = [(str(p), y) for p, y in train_pairs if p not in bad]
    val_samples = [(str(p), y) for p, y in val_pairs if p not in bad]
    if not val_samples:
        raise EspnasError(f"{root} leaves no validation images; add a val/ folder or raise val_fraction")
    train = FolderDataset(train_samples, image_size, train=True, crop_scale=crop_scale)
    val = FolderDataset(val_samples, image_size, train=False)
    return train, val, classes, tuple(sorted(str(p) for p in bad))
