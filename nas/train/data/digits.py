"""scikit-learn's bundled handwritten digits (1,797 8x8 grey images, 10 classes): the embedded default data.

The images are upsampled (bilinear) to the requested size, repeated to 3 channels and normalised with the
training split's statistics. The train/validation split is stratified and fixed by the seed.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits
from sklearn.model_selection import train_test_split

from nas.train.data.memory import InMemoryDataset


def load_digits(
    image_size: int = 32, *, seed: int = 0, val_fraction: float = 0.2, augment: bool = True
) -> tuple[InMemoryDataset, InMemoryDataset, tuple[str, ...]]:
    """Train and validation datasets of the digits at image_size x image_size, and the class names."""
    bunch = _sklearn_digits()
    images = torch.from_numpy((bunch.images / 16.0).astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=val_fraction, random_state=seed, stratify=bunch.target
    )
    train_idx, val_idx = torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(val_idx))
    train_images = images[train_idx]
    mean, std = (float(train_images.mean()),), (float(train_images.std()),)
    common = {"image_size": image_size, "mean": mean, "std": std, "out_channels": 3}
    # Digits are not mirror-symmetric: augment with small shifts only.
    train = InMemoryDataset(train_images, labels[train_idx], augment=augment, flip=False, **common)
    val = InMemoryDataset(images[val_idx], labels[val_idx], augment=False, **common)
    return train, val, tuple(str(c) for c in bunch.target_names)
