"""In-memory image datasets and a batch loader that transforms whole batches at once.

Small data (the digits, CIFAR) fits in memory at its native resolution. Resizing, augmenting and normalising
a batch with a few tensor ops is much faster than a per-sample DataLoader pipeline, and needs no workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset

from nas.train.data.transforms import normalize_batch, random_shift_flip, resize_batch


class InMemoryDataset(Dataset):
    """Images (N, C, h, w) kept at native size, served resized to `image_size` and normalised.

    `images` is uint8 (0..255) or float in [0, 1]. Single-channel images are repeated to `out_channels`.
    With `augment`, a batch gets a random shift (and a horizontal flip when `flip`) before resizing.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        image_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: bool = False,
        flip: bool = True,
        out_channels: int = 3,
    ) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"images must be (N, C, H, W) matching {len(labels)} labels, got {tuple(images.shape)}")
        self.images = images
        self.labels = labels.long()
        self.image_size = int(image_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment
        self.flip = flip
        self.out_channels = out_channels

    def __len__(self) -> int:
        return len(self.labels)

    def get_batch(
        self, indices: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The transformed images and labels at `indices`; augmentation draws from `generator`."""
        x = self.images[indices]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if self.augment:
            gen = generator if generator is not None else torch.default_generator
            x = random_shift_flip(x, gen, flip=self.flip)
        x = normalize_batch(resize_batch(x, self.image_size), self.mean, self.std)
        if x.shape[1] != self.out_channels:
            x = x.expand(-1, self.out_channels, -1, -1).contiguous()
        return x, self.labels[indices]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.get_batch(torch.tensor([index]))
        return x[0], y[0]


class BatchLoader:
    """Iterates an `InMemoryDataset` in batches; the order and augmentation are a function of `seed` alone."""

    def __init__(
        self,
        dataset: InMemoryDataset,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        # Never drop everything: a dataset smaller than one batch still yields that one batch.
        self.drop_last = drop_last and len(dataset) >= batch_size

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed)
        n = len(self.dataset)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            yield self.dataset.get_batch(order[b * self.batch_size : (b + 1) * self.batch_size], generator)
