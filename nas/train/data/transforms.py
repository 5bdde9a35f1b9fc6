"""Image transforms without torchvision: batched tensor ops for in-memory data, Pillow ops for files.

In-memory sources (digits, CIFAR) keep their images small and resize a whole batch at once, which is far
faster than per-sample transforms. Image folders decode with Pillow in DataLoader workers and use the paper's
augmentation: a random-resized crop and a horizontal flip for training; resize then centre crop to evaluate.
All randomness comes from an explicit `torch.Generator`, so a seeded epoch is reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image

# The usual ImageNet statistics, for photographs in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of a float batch (N, C, H, W) to size x size (anti-aliased when shrinking)."""
    if images.shape[-2:] == (size, size):
        return images
    shrinking = images.shape[-1] > size or images.shape[-2] > size
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)


def normalize_batch(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(x - mean) / std per channel, for a float batch (N, C, H, W)."""
    m = torch.tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - m) / s


def random_shift_flip(
    images: torch.Tensor, generator: torch.Generator, *, pad_fraction: float = 0.125, flip: bool = True
) -> torch.Tensor:
    """Random translation (pad by reflection, crop back; CIFAR-style) and optional horizontal flip per image."""
    n, _, h, w = images.shape
    pad = max(1, round(pad_fraction * min(h, w)))
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    # Gather each image's window with one advanced-indexing op instead of a Python loop.
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w)
    batch = torch.arange(n).view(n, 1, 1, 1)
    chans = torch.arange(images.shape[1]).view(1, -1, 1, 1)
    out = padded[batch, chans, rows, cols]
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        out[mask] = out[mask].flip(-1)
    return out


def random_resized_crop_box(
    width: int,
    height: int,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """A crop box (left, top, right, bottom) of random area fraction and aspect ratio, as Inception/ResNet use."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=generator).item())
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * torch.rand(1, generator=generator).item())
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            return left, top, left + w, top + h
    # Fallback: the centred crop with the aspect ratio clamped into range.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a float tensor (3, H, W) in [0, 1]."""
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.view(image.height, image.width, 3).permute(2, 0, 1).float().div_(255.0)


def train_transform_pil(
    image: Image.Image, size: int, generator: torch.Generator, scale: tuple[float, float] = (0.08, 1.0)
) -> torch.Tensor:
    """The paper's training augmentation: random-resized crop to size x size, horizontal flip with p = 0.5."""
    box = random_resized_crop_box(image.width, image.height, generator, scale=scale)
    image = image.resize((size, size), Image.BILINEAR, box=box)
    if torch.rand(1, generator=generator).item() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return pil_to_tensor(image)


def eval_transform_pil(image: Image.Image, size: int) -> torch.Tensor:
    """The paper's evaluation transform: resize the short side to size * 256/224, then centre crop size x size."""
    short = round(size * 256 / 224)
    w, h = image.size
    if w <= h:
        new_w, new_h = short, max(short, round(h * short / w))
    else:
        new_w, new_h = max(short, round(w * short / h)), short
    image = image.resize((new_w, new_h), Image.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return pil_to_tensor(image.crop((left, top, left + size, top + size)))
