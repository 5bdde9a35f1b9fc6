"""Training: data sources (`nas.train.data`), learning-rate schedules, the trainer with exact resume, and the
search's proxy (short training as the accuracy objective).

`from nas.train import Trainer, train` works; the trainer (and torch) is imported on first use, so that the pure
modules (`nas.train.schedule`) import without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Trainer": "nas.train.trainer",
    "TrainResult": "nas.train.trainer",
    "train": "nas.train.trainer",
    "RECIPES": "nas.train.trainer",
    "Recipe": "nas.train.trainer",
    "proxy_accuracy": "nas.train.proxy",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas.train' has no attribute {name!r}")


__all__ = sorted(_LAZY)
