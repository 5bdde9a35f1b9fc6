"""CIFAR-10 / CIFAR-100 from their standard python-pickle batch files in a local directory.

CIFAR-10: data_batch_1..5 and test_batch (labels under b"labels", names in batches.meta).
CIFAR-100: train and test (fine labels under b"fine_labels", names in meta).
The official test batch is the validation set. The files are unpickled with a restricted unpickler that only
rebuilds plain containers and numpy arrays, so a hostile file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.train.data.errors import DataError
from nas.train.data.memory import InMemoryDataset
from search_spaces.errors import EspnasError

MAX_CLASSES = 1000  # labels of a batch directory without class names must lie in 0..MAX_CLASSES-1
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_LAYOUTS = {
    "cifar10": {"train": _CIFAR10_TRAIN, "val": ("test_batch",), "meta": "batches.meta", "names": b"label_names"},
    "cifar100": {"train": ("train",), "val": ("test",), "meta": "meta", "names": b"fine_label_names"},
}
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def cifar_layout(directory: Path) -> str | None:
    """'cifar10' or 'cifar100' if `directory` holds that layout's batch files, else None."""
    for name, layout in _LAYOUTS.items():
        if all((directory / f).is_file() for f in (*layout["train"], *layout["val"])):
            return name
    return None


def _read_batch(path: Path) -> dict[bytes, Any]:
    try:
        with path.open("rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise EspnasError(f"{path} is not a CIFAR python batch file ({err})") from None
    if not isinstance(batch, dict):
        raise EspnasError(f"{path} is not a CIFAR python batch file (holds {type(batch).__name__}, not a dict)")
    return batch


def _images_and_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _read_batch(path)
    data = batch.get(b"data")
    labels = batch.get(b"fine_labels", batch.get(b"labels"))
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or labels is None:
        raise EspnasError(f"{path} is not a CIFAR python batch file (needs b'data' (N, 3072) and labels)")
    if len(labels) != len(data):
        raise EspnasError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar(
    directory: Path, image_size: int = 32, *, augment: bool = True
) -> tuple[InMemoryDataset, InMemoryDataset, tuple[str, ...], str]:
    """Train and validation (official test) datasets, class names, and the layout name."""
    layout_name = cifar_layout(directory)
    if layout_name is None:
        raise EspnasError(
            f"{directory} is not a CIFAR batch directory; expected data_batch_1..5 + test_batch "
            "(CIFAR-10) or train + test (CIFAR-100)"
        )
    layout = _LAYOUTS[layout_name]
    parts = {}
    for split in ("train", "val"):
        arrays = [_images_and_labels(directory / f) for f in layout["train" if split == "train" else "val"]]
        parts[split] = (np.concatenate([a for a, _ in arrays]), np.concatenate([b for _, b in arrays]))
    labels = np.concatenate([parts["train"][1], parts["val"][1]])
    meta = directory / layout["meta"]
    raw = _read_batch(meta).get(layout["names"]) if meta.is_file() else None
    limit = len(raw) if isinstance(raw, list) and raw else MAX_CLASSES
    bad = labels[(labels < 0) | (labels >= limit)]
    if len(bad):
        raise DataError(
            f"{directory}: label {int(bad[0])} is out of range ({len(bad)} such labels); valid: 0..{limit - 1}"
            + (f" (the {len(raw)} class names in {meta.name})" if limit != MAX_CLASSES else "")
        )
    num_classes = int(labels.max()) + 1
    names: tuple[str, ...] = tuple(str(i) for i in range(num_classes))
    if limit != MAX_CLASSES:
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)
        num_classes = len(names)
    if len(np.unique(parts["train"][1])) < 2:
        raise DataError(f"{directory}: the training batches hold one class only; a classifier needs at least 2")
    common = {"image_size": image_size, "mean": CIFAR_MEAN, "std": CIFAR_STD}
    train = InMemoryDataset(
        torch.from_numpy(parts["train"][0]), torch.from_numpy(parts["train"][1]), augment=augment, **common
    )
    val = InMemoryDataset(torch.from_numpy(parts["val"][0]), torch.from_numpy(parts["val"][1]), **common)
    return train, val, names, layout_name
