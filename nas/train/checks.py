"""Training settings checked before a model is built or a file is written (one-line errors, valid values)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from search_spaces.errors import EspnasError

MAX_SEED = 2**31 - 1  # numpy's legacy seeding takes < 2**32; epochs add to the seed
MIN_IMAGE_SIDE = 32  # five down-samplings


class TrainSettingsError(EspnasError, ValueError):
    """An invalid training setting: names it, its value and what is valid."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_train_settings(
    *,
    seed: Any,
    image_size: Any = None,
    label_smoothing: Any = None,
    grad_clip: Any = None,
    epochs: Any = None,
    batch_size: Any = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse any invalid training setting before anything is loaded, built or written."""
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise TrainSettingsError(f"--seed {seed!r} is invalid; valid: an integer from 0 to {MAX_SEED}")
    if image_size is not None and (not _is_int(image_size) or image_size < MIN_IMAGE_SIDE):
        raise TrainSettingsError(
            f"--image-size {image_size!r} is invalid; valid: an integer, {MIN_IMAGE_SIDE} or more (five down-samplings)"
        )
    if label_smoothing is not None:
        ok = isinstance(label_smoothing, (int, float)) and not isinstance(label_smoothing, bool)
        if not ok or not math.isfinite(label_smoothing) or not 0.0 <= label_smoothing < 1.0:
            raise TrainSettingsError(f"--label-smoothing {label_smoothing!r} is invalid; valid: a number in [0, 1)")
    if grad_clip is not None and (
        not isinstance(grad_clip, (int, float)) or isinstance(grad_clip, bool) or not math.isfinite(grad_clip)
    ):
        raise TrainSettingsError(f"grad_clip {grad_clip!r} is invalid; valid: a finite number (<= 0: no clipping)")
    if epochs is not None and (not _is_int(epochs) or epochs < 1):
        raise TrainSettingsError(f"--epochs {epochs!r} is invalid; valid: an integer, 1 or more")
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 2):
        raise TrainSettingsError(
            f"--batch-size {batch_size!r} is invalid; valid: an integer, 2 or more (BatchNorm needs 2 images)"
        )
    if out_dir is not None:
        path = Path(out_dir)
        for p in (path, *path.parents):
            if p.exists() and not p.is_dir():
                raise TrainSettingsError(f"--out {str(out_dir)!r} is invalid: {str(p)!r} is a file; valid: a directory")


__all__ = ["MAX_SEED", "TrainSettingsError", "check_train_settings"]
