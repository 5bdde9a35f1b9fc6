"""Cluttered digit scenes: scikit-learn's bundled digits composed into larger images, deterministic from a seed.

The 8x8 digits alone are too easy to separate networks (every config above the smallest reaches 97-98%). A
scene places one or more digits, each rescaled and moved, on a `size` x `size` canvas, and adds clutter:
random fragments cut out of *other* digits (the "cluttered translated MNIST" of Mnih et al., 2014) and a
little pixel noise. Telling a whole digit from fragments of digits at an unknown scale and position needs a
receptive field and capacity that small networks lack, which is the point.

`make_scenes(digits, labels, n, ...)` returns a `Scenes` with, per scene, the image, a per-pixel mask (the
class of the digit covering the pixel, `BACKGROUND` for background and clutter) and the scene label (the
class of the largest digit; with one digit per scene, that digit). `load_scenes(...)` splits the digits
first (stratified, by the seed) and composes the training scenes only from training digits and the
validation scenes only from validation digits, so no digit is seen in both. Everything is numpy with an
explicit `np.random.Generator`: the same arguments give the same scenes on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nas.train.data.memory import InMemoryDataset
from search_spaces.errors import EspnasError

__all__ = [
    "BACKGROUND",
    "SceneSpec",
    "Scenes",
    "digit_pool",
    "load_scene_classification",
    "load_scenes",
    "make_scenes",
]

BACKGROUND = 10  # the mask value of background and clutter pixels (digits are 0..9)
MASK_THRESHOLD = 0.3  # a rescaled digit's pixel belongs to it where its intensity (0..1) is above this


@dataclass(frozen=True)
class SceneSpec:
    """How scenes are composed. Sizes are in pixels of the `size` x `size` canvas.

    `digit_scale`: the side of each placed digit, drawn uniformly from this range. `digits`: how many whole
    digits per scene (the label is the largest one's class; ties go to the first placed). `fragments`: how
    many clutter fragments, each a `fragment_size` crop of a random digit, rescaled like a digit.
    `noise`: the standard deviation of the added Gaussian pixel noise.
    """

    size: int = 40
    digit_scale: tuple[int, int] = (12, 24)
    digits: int = 1
    fragments: int = 6
    fragment_size: int = 4
    noise: float = 0.05

    def __post_init__(self) -> None:
        lo, hi = self.digit_scale
        if not isinstance(self.size, int) or self.size < 8:
            raise EspnasError(f"scene size {self.size!r} is invalid; use an integer of at least 8")
        if not (4 <= lo <= hi <= self.size):
            raise EspnasError(f"digit_scale {self.digit_scale!r} is invalid; use 4 <= low <= high <= size {self.size}")
        if self.digits < 1:
            raise EspnasError(f"digits per scene {self.digits!r} is invalid; use at least 1")
        if self.fragments < 0:
            raise EspnasError(f"fragments {self.fragments!r} is invalid; use 0 or more")
        if not 1 <= self.fragment_size <= 8:
            raise EspnasError(f"fragment_size {self.fragment_size!r} is invalid; use 1..8 (of an 8x8 digit)")
        if self.noise < 0:
            raise EspnasError(f"noise {self.noise!r} is invalid; use 0 or more")

    @classmethod
    def for_size(cls, size: int, **overrides: object) -> SceneSpec:
        """The default composition scaled to a `size` canvas (digits 0.45-0.75 of the side, clutter by area)."""
        if not isinstance(size, int) or size < 8:
            raise EspnasError(f"scene size {size!r} is invalid; use an integer of at least 8")
        base = {
            "size": size,
            "digit_scale": (max(4, round(0.45 * size)), max(4, round(0.75 * size))),
            "fragments": round(4 * (size / 40) ** 2),
        }
        return cls(**{**base, **overrides})  # type: ignore[arg-type]

    @classmethod
    def for_classification(cls, size: int, **overrides: object) -> SceneSpec:
        """The `scenes` classification task's composition: larger digits (0.55-0.875 of the side), no clutter.

        With the default clutter and scale a short budget learns nothing (espnetv2-0.5: 0.164 after 4 epochs
        of 1,000 scenes, chance is 0.10); with these, 0.46-0.50 (benchmarks/README.md, issue 12).
        """
        if not isinstance(size, int) or size < 8:
            raise EspnasError(f"scene size {size!r} is invalid; use an integer of at least 8")
        base = {"digit_scale": (max(4, round(0.55 * size)), max(4, round(0.875 * size))), "fragments": 0}
        return cls.for_size(size, **{**base, **overrides})


@dataclass(frozen=True)
class Scenes:
    """Composed scenes: `images` (N, 1, S, S) float32 in [0, 1], `masks` (N, S, S) int64 in 0..10, `labels` (N,).

    `boxes` (N, digits, 4) int64 holds each whole digit's placement as (top, left, side, class), in the order
    drawn (a later digit covers an earlier one where they overlap).
    """

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    spec: SceneSpec

    def __len__(self) -> int:
        return len(self.labels)


def digit_pool() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as float32 (N, 8, 8) in [0, 1] and their int64 labels."""
    from sklearn.datasets import load_digits as _sklearn_digits

    bunch = _sklearn_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def _rescale(patches: np.ndarray, side: int) -> np.ndarray:
    # Bilinear, like the digits source; patches (M, h, w) -> (M, side, side).
    t = torch.from_numpy(np.ascontiguousarray(patches)).unsqueeze(1)
    return F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False).squeeze(1).numpy()


def make_scenes(
    digits: np.ndarray, labels: np.ndarray, n: int, spec: SceneSpec | None = None, *, seed: int = 0
) -> Scenes:
    """`n` scenes composed from `digits` (M, 8, 8) in [0, 1] with `labels` (M,), drawn by `seed`."""
    spec = spec or SceneSpec()
    digits = np.asarray(digits, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if digits.ndim != 3 or len(digits) != len(labels) or len(digits) == 0:
        raise EspnasError(f"digits must be a non-empty (M, h, w) array matching the labels, got {digits.shape}")
    if n < 1:
        raise EspnasError(f"number of scenes {n!r} is invalid; use at least 1")
    rng = np.random.default_rng(seed)
    s = spec.size
    lo, hi = spec.digit_scale
    # Every digit rescaled once to every side in the range: composing is then only slicing.
    glyphs = {side: _rescale(digits, side) for side in range(lo, hi + 1)}
    images = np.zeros((n, s, s), dtype=np.float32)
    masks = np.full((n, s, s), BACKGROUND, dtype=np.int64)
    scene_labels = np.empty(n, dtype=np.int64)
    boxes = np.empty((n, spec.digits, 4), dtype=np.int64)
    for i in range(n):
        canvas, mask = images[i], masks[i]
        # Clutter first, so that whole digits are drawn over it (and own their pixels in the mask). A fragment
        # is a fragment_size/8 window of a random digit rescaled to a random digit side.
        for _ in range(spec.fragments):
            side = int(rng.integers(lo, hi + 1))
            src = glyphs[side][rng.integers(len(digits))]
            w = max(1, round(spec.fragment_size * side / 8))
            y0, x0 = rng.integers(0, side - w + 1, size=2)
            py, px = rng.integers(0, s - w + 1, size=2)
            region = canvas[py : py + w, px : px + w]
            np.maximum(region, src[y0 : y0 + w, x0 : x0 + w], out=region)
        largest = -1
        for d in range(spec.digits):
            j = int(rng.integers(len(digits)))
            side = int(rng.integers(lo, hi + 1))
            glyph = glyphs[side][j]
            py, px = rng.integers(0, s - side + 1, size=2)
            region = canvas[py : py + side, px : px + side]
            np.maximum(region, glyph, out=region)
            mask[py : py + side, px : px + side][glyph > MASK_THRESHOLD] = labels[j]
            boxes[i, d] = (py, px, side, labels[j])
            if side > largest:
                largest, scene_labels[i] = side, labels[j]
    if spec.noise > 0:
        images += rng.normal(0.0, spec.noise, size=images.shape).astype(np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    return Scenes(
        torch.from_numpy(images).unsqueeze(1),
        torch.from_numpy(masks),
        torch.from_numpy(scene_labels),
        torch.from_numpy(boxes),
        spec,
    )


def load_scenes(
    n_train: int = 4000,
    n_val: int = 1000,
    spec: SceneSpec | None = None,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> tuple[Scenes, Scenes]:
    """Training and validation scenes, composed from disjoint (stratified, seeded) splits of the digits."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise EspnasError(f"val_fraction {val_fraction!r} is invalid; use a number between 0 and 1")
    digits, labels = digit_pool()
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=val_fraction, random_state=seed, stratify=labels
    )
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    # Separate streams for the two splits: changing n_train does not change the validation scenes.
    train_seed, val_seed = (
        np.random.SeedSequence([seed, 1]).generate_state(1)[0],
        np.random.SeedSequence([seed, 2]).generate_state(1)[0],
    )
    train = make_scenes(digits[train_idx], labels[train_idx], n_train, spec, seed=int(train_seed))
    val = make_scenes(digits[val_idx], labels[val_idx], n_val, spec, seed=int(val_seed))
    return train, val


# The classification task's size: enough scenes that the long budget separates networks, few enough that
# the proxy stays cheap (benchmarks/README.md, "A search that finds (issue 12)").
TRAIN_SCENES = 2000
VAL_SCENES = 1000


def load_scene_classification(
    image_size: int = 32,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    augment: bool = True,
    n_train: int = TRAIN_SCENES,
    n_val: int = VAL_SCENES,
    spec: SceneSpec | None = None,
) -> tuple[InMemoryDataset, InMemoryDataset, tuple[str, ...]]:
    """The "scenes" classification task: scenes composed at image_size, labelled by their (largest) digit.

    `spec` defaults to `SceneSpec.for_classification(image_size)`; a given spec must have `size == image_size`.
    """
    spec = spec or SceneSpec.for_classification(image_size)
    if spec.size != image_size:
        raise EspnasError(f"scene spec size {spec.size} does not match image_size {image_size}; use the same size")
    train, val = load_scenes(n_train, n_val, spec, seed=seed, val_fraction=val_fraction)
    mean, std = (float(train.images.mean()),), (float(train.images.std()),)
    common = {"image_size": image_size, "mean": mean, "std": std, "out_channels": 3}
    # Digits are not mirror-symmetric: augment with small shifts only.
    train_set = InMemoryDataset(train.images, train.labels, augment=augment, flip=False, **common)
    val_set = InMemoryDataset(val.images, val.labels, augment=False, **common)
    return train_set, val_set, tuple(str(c) for c in range(10))
