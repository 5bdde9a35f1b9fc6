"""Segmentation data: images with per-pixel class masks, from three kinds of source, and the metrics.

- "scenes": scikit-learn's digits composed into scenes (nas/train/data/scenes.py), every pixel labelled by
  the digit covering it (0..9) or background (10); deterministic from the seed; nothing downloaded.
- Cityscapes from disk: `root/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png` with
  `root/gtFine/{train,val}/<city>/*_gtFine_labelIds.png`; label ids map to the 19 train ids of the official
  scripts (cityscapesscripts/helpers/labels.py), every other id to 255 (ignored).
- Image-and-mask folders: `root/images/*` with `root/masks/<same stem>.png` (or `root/train/{images,masks}`
  and `root/val/{images,masks}`; without them a seeded split). A mask is a palette PNG (the palette index is
  the class) or a single-channel class-index image; 255 is ignored. Optional `root/classes.txt`: one name a
  line.

Every pair is checked when the source is opened (a missing mask, an unreadable file, sizes that differ) and
a mask value that is no class is checked when the pair is read: each is an error naming the pair, never a
wrong label. Batches come from `SegmentationData.loader(split, batch_size, seed=, epoch=)`: the order and the
augmentation (the paper's random scale, crop and horizontal flip) are a function of (seed, epoch) only, so an
interrupted training resumes exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas.train.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from search_spaces.errors import EspnasError

IGNORE_INDEX = 255
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")

# cityscapesscripts/helpers/labels.py: label id -> train id for the 19 evaluated classes; the rest is 255.
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip


class SegmentationDataError(EspnasError, ValueError):
    """A segmentation source that cannot be used as given: names the pair or path and what is valid."""


def cityscapes_lookup() -> np.ndarray:
    """A 256-entry table from Cityscapes label id to train id (255 = ignored)."""
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        table[label_id] = train_id
    return table


# ----- the pairs, loaded on demand ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """An image and its mask on disk (`lookup` maps raw mask values to classes, e.g. Cityscapes ids)."""

    image: Path
    mask: Path
    lookup: np.ndarray | None = field(default=None, compare=False, repr=False)

    def name(self) -> str:
        return f"image {self.image} / mask {self.mask}"


def _read_mask(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as m:
        if m.mode not in ("P", "L", "I", "I;16", "1"):
            raise SegmentationDataError(
                f"mask {path} is a {m.mode} image; valid: a palette PNG or a single-channel class-index image"
            )
        return np.asarray(m.convert("L") if m.mode == "1" else m).astype(np.int64)


def load_pair(pair: Pair, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (3, H, W) float in [0, 1], mask (H, W) int64 of classes or 255); an error names a bad pair."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(pair.image) as img:
            image = np.array(img.convert("RGB"))
        mask = _read_mask(pair.mask)
    except SegmentationDataError:
        raise
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise SegmentationDataError(f"cannot read {pair.name()}: {err}") from None
    if pair.lookup is not None:
        mask = pair.lookup[np.clip(mask, 0, 255)].astype(np.int64)
    if image.shape[:2] != mask.shape:
        raise SegmentationDataError(
            f"{pair.name()}: sizes differ ({image.shape[1]}x{image.shape[0]} and {mask.shape[1]}x{mask.shape[0]})"
        )
    bad = (mask >= num_classes) & (mask != IGNORE_INDEX) | (mask < 0)
    if bad.any():
        value = int(mask[bad][0])
        raise SegmentationDataError(
            f"{pair.name()}: mask value {value} is no class; valid: 0..{num_classes - 1} or {IGNORE_INDEX} (ignored)"
        )
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0), torch.from_numpy(mask)


class SegmentationSet:
    """N (image, mask) samples: in memory (tensors) or on disk (pairs), served through `item(i)`."""

    def __init__(
        self,
        *,
        num_classes: int,
        images: torch.Tensor | None = None,
        masks: torch.Tensor | None = None,
        pairs: Sequence[Pair] = (),
    ) -> None:
        self.num_classes = num_classes
        self.images, self.masks, self.pairs = images, masks, list(pairs)
        if images is not None and (masks is None or len(images) != len(masks)):
            raise ValueError("images and masks must be given together and match in length")

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.pairs)

    def item(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.images is not None and self.masks is not None:
            return self.images[index], self.masks[index]
        return load_pair(self.pairs[index], self.num_classes)


# ----- transforms --------------------------------------------------------------------------------------------


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear for the image, nearest for the mask (a resized mask never invents a class)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image, mask
    image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    mask = F.interpolate(mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
    return image, mask


def augment_pair(
    image: torch.Tensor,
    mask: torch.Tensor,
    crop: tuple[int, int],
    generator: torch.Generator,
    scale_range: tuple[float, float] = (0.5, 2.0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's augmentation: random scale, random crop of `crop` (padded with 0 / ignore where the scaled
    image is smaller) and a random horizontal flip."""
    lo, hi = scale_range
    s = lo + (hi - lo) * float(torch.rand((), generator=generator))
    h, w = image.shape[-2:]
    image, mask = resize_pair(image, mask, (max(1, round(h * s)), max(1, round(w * s))))
    ch, cw = crop
    h, w = image.shape[-2:]
    if h < ch or w < cw:
        ph, pw = max(0, ch - h), max(0, cw - w)
        image = F.pad(image, (0, pw, 0, ph), value=0.0)
        mask = F.pad(mask, (0, pw, 0, ph), value=IGNORE_INDEX)
        h, w = image.shape[-2:]
    top = int(torch.randint(0, h - ch + 1, (), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (), generator=generator))
    image, mask = image[:, top : top + ch, left : left + cw], mask[top : top + ch, left : left + cw]
    if bool(torch.rand((), generator=generator) < 0.5):
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask


# ----- the source ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentationData:
    """A train and a validation set, the classes, and how batches are made.

    Training batches are augmented crops of `crop_size`; validation batches are resized to `eval_size`
    (masks by nearest neighbour). `mean`/`std` normalise the images.
    """

    name: str
    train: SegmentationSet
    val: SegmentationSet
    class_names: tuple[str, ...]
    crop_size: tuple[int, int]
    eval_size: tuple[int, int]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    scale_range: tuple[float, float] = (0.5, 2.0)
    ignore_index: int = IGNORE_INDEX

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.crop_size

    def loader(self, split: str, batch_size: int, *, seed: int = 0, epoch: int = 0) -> SegmentationLoader:
        if split not in ("train", "val"):
            raise EspnasError(f"unknown split {split!r}; valid: train, val")
        from nas.train.data import epoch_seed

        return SegmentationLoader(self, split, int(batch_size), epoch_seed(seed, epoch))


class SegmentationLoader:
    """Batches (images (B, 3, H, W) normalised, masks (B, H, W) int64) of one split and one epoch."""

    def __init__(self, data: SegmentationData, split: str, batch_size: int, seed: int) -> None:
        self.data, self.split, self.batch_size, self.seed = data, split, batch_size, seed
        self.dataset = data.train if split == "train" else data.val
        n = len(self.dataset)
        self.drop_last = split == "train" and n >= batch_size

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed)
        n = len(self.dataset)
        training = self.split == "train"
        order = torch.randperm(n, generator=generator) if training else torch.arange(n)
        mean = torch.tensor(self.data.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.data.std).view(1, -1, 1, 1)
        for b in range(len(self)):
            images, masks = [], []
            for i in order[b * self.batch_size : (b + 1) * self.batch_size].tolist():
                image, mask = self.dataset.item(i)
                if image.shape[0] == 1:
                    image = image.expand(3, -1, -1)
                if training:
                    image, mask = augment_pair(image, mask, self.data.crop_size, generator, self.data.scale_range)
                else:
                    image, mask = resize_pair(image, mask, self.data.eval_size)
                images.append(image)
                masks.append(mask)
            yield (torch.stack(images) - mean) / std, torch.stack(masks)


def _size(value: int | tuple[int, int]) -> tuple[int, int]:
    size = (value, value) if isinstance(value, int) else tuple(value)
    if len(size) != 2 or min(size) < 32:
        raise EspnasError(f"segmentation size {value!r} is invalid; valid: H, W >= 32 (the network's minimum)")
    return size  # type: ignore[return-value]


def load_segmentation_data(
    source: str | os.PathLike[str],
    crop_size: int | tuple[int, int] = 64,
    *,
    eval_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    num_classes: int | None = None,
    n_train: int = 1000,
    n_val: int = 200,
) -> SegmentationData:
    """Open "scenes", a Cityscapes root or an image-and-mask folder (see the module docstring).

    `crop_size` is the training crop, `eval_size` the validation resolution (default: the crop size).
    `n_train`/`n_val` are the number of composed scenes; `num_classes` is read from the masks of a folder
    when not given.
    """
    crop = _size(crop_size)
    evaluation = _size(eval_size) if eval_size is not None else crop
    if not 0.0 < val_fraction < 1.0:
        raise EspnasError(f"val_fraction {val_fraction!r} is invalid; use a number between 0 and 1")
    if str(source) == "scenes":
        return _scenes(crop, evaluation, seed, n_train, n_val)
    root = Path(source).expanduser()
    if not root.is_dir():
        raise SegmentationDataError(
            f"segmentation source {str(source)!r} is not a directory; valid: 'scenes', a Cityscapes root "
            "(leftImg8bit/, gtFine/) or a folder with images/ and masks/"
        )
    if (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        return _cityscapes(root, crop, evaluation)
    return _folders(root, crop, evaluation, seed, val_fraction, num_classes)


def _scenes(crop: tuple[int, int], evaluation: tuple[int, int], seed: int, n_train: int, n_val: int):
    from nas.train.data.scenes import BACKGROUND, SceneSpec, load_scenes

    side = max(crop)
    train, val = load_scenes(n_train, n_val, SceneSpec.for_size(side), seed=seed)
    names = (*(str(d) for d in range(10)), "background")
    assert len(names) - 1 == BACKGROUND
    mean, std = (float(train.images.mean()),) * 3, (float(train.images.std()),) * 3
    return SegmentationData(
        "scenes",
        SegmentationSet(num_classes=len(names), images=train.images, masks=train.masks),
        SegmentationSet(num_classes=len(names), images=val.images, masks=val.masks),
        names,
        crop,
        evaluation,
        mean,
        std,
        scale_range=(0.75, 1.25),  # digits are small: a milder scale range than the paper's street scenes
    )


def _cityscapes(root: Path, crop: tuple[int, int], evaluation: tuple[int, int]) -> SegmentationData:
    lookup = cityscapes_lookup()
    splits = {}
    for split in ("train", "val"):
        images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
        if not images:
            raise SegmentationDataError(
                f"no images in {root / 'leftImg8bit' / split}; valid: <city>/<name>_leftImg8bit.png files"
            )
        pairs = []
        for image in images:
            stem = image.name[: -len("_leftImg8bit.png")]
            mask = root / "gtFine" / split / image.parent.name / f"{stem}_gtFine_labelIds.png"
            pairs.append(Pair(image, mask, lookup))
        _check_pairs(pairs)
        splits[split] = SegmentationSet(num_classes=len(CITYSCAPES_CLASSES), pairs=pairs)
    return SegmentationData(f"cityscapes:{root}", splits["train"], splits["val"], CITYSCAPES_CLASSES, crop, evaluation)


def _folder_pairs(images_dir: Path, masks_dir: Path) -> list[Pair]:
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not images:
        raise SegmentationDataError(f"no images in {images_dir}; valid extensions: {', '.join(IMAGE_EXTENSIONS)}")
    pairs = [Pair(image, masks_dir / f"{image.stem}.png") for image in images]
    stems = {p.stem for p in images}
    orphans = sorted(p.name for p in masks_dir.glob("*.png") if p.stem not in stems)
    if orphans:
        raise SegmentationDataError(f"mask {masks_dir / orphans[0]} has no image in {images_dir} (same stem)")
    return pairs


def _check_pairs(pairs: Sequence[Pair]) -> None:
    """Every pair exists, opens and has one size (headers only: fast)."""
    from PIL import Image, UnidentifiedImageError

    for pair in pairs:
        if not pair.mask.is_file():
            raise SegmentationDataError(f"{pair.name()}: the mask does not exist")
        try:
            with Image.open(pair.image) as img, Image.open(pair.mask) as m:
                if img.size != m.size:
                    raise SegmentationDataError(
                        f"{pair.name()}: sizes differ ({img.size[0]}x{img.size[1]} and {m.size[0]}x{m.size[1]})"
                    )
        except (OSError, UnidentifiedImageError) as err:
            raise SegmentationDataError(f"cannot read {pair.name()}: {err}") from None


def _folders(
    root: Path,
    crop: tuple[int, int],
    evaluation: tuple[int, int],
    seed: int,
    val_fraction: float,
    num_classes: int | None,
) -> SegmentationData:
    if (root / "train" / "images").is_dir() and (root / "val" / "images").is_dir():
        train = _folder_pairs(root / "train" / "images", root / "train" / "masks")
        val = _folder_pairs(root / "val" / "images", root / "val" / "masks")
    elif (root / "images").is_dir() and (root / "masks").is_dir():
        pairs = _folder_pairs(root / "images", root / "masks")
        if len(pairs) < 2:
            raise SegmentationDataError(f"{root} holds {len(pairs)} pair; valid: at least 2 to split")
        order = np.random.default_rng(seed).permutation(len(pairs))
        n_val = max(1, round(val_fraction * len(pairs)))
        val = [pairs[i] for i in sorted(order[:n_val])]
        train = [pairs[i] for i in sorted(order[n_val:])]
    else:
        raise SegmentationDataError(
            f"{root} has neither images/ and masks/ nor train/ and val/ with them, nor leftImg8bit/ and gtFine/"
        )
    _check_pairs(train + val)
    names = _class_names(root, train + val, num_classes)
    return SegmentationData(
        f"folder:{root}",
        SegmentationSet(num_classes=len(names), pairs=train),
        SegmentationSet(num_classes=len(names), pairs=val),
        names,
        crop,
        evaluation,
    )


def _class_names(root: Path, pairs: Sequence[Pair], num_classes: int | None) -> tuple[str, ...]:
    listed = root / "classes.txt"
    if listed.is_file():
        names = tuple(line.strip() for line in listed.read_text().splitlines() if line.strip())
        if num_classes is not None and num_classes != len(names):
            raise SegmentationDataError(f"{listed} names {len(names)} classes, not {num_classes}")
        return names
    if num_classes is None:
        largest = -1
        for pair in pairs:
            values = np.unique(_read_mask(pair.mask))
            values = values[values != IGNORE_INDEX]
            if len(values):
                largest = max(largest, int(values.max()))
        if largest < 0:
            raise SegmentationDataError(f"every mask under {root} is ignore ({IGNORE_INDEX}); nothing to learn")
        num_classes = largest + 1
    if num_classes < 1 or num_classes > IGNORE_INDEX:
        raise SegmentationDataError(f"num_classes={num_classes} is invalid; valid: 1..{IGNORE_INDEX}")
    return tuple(str(c) for c in range(num_classes))


# ----- metrics ------------------------------------------------------------------------------------------------


def confusion_matrix(
    prediction: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts, rows = target, columns = prediction; ignored pixels left out."""
    keep = target != ignore_index
    t, p = target[keep].long(), prediction[keep].long()
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes).cpu()


@dataclass(frozen=True)
class SegmentationScores:
    """Mean IoU over the classes that occur (in the target or the prediction), per-class IoU (NaN for a class
    that never occurs) and pixel accuracy, all as fractions."""

    miou: float
    per_class_iou: tuple[float, ...]
    pixel_accuracy: float
    pixels: int

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict[str, object]:
        names = class_names or [str(i) for i in range(len(self.per_class_iou))]
        return {
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "pixels": self.pixels,
            "per_class_iou": {n: (None if v != v else v) for n, v in zip(names, self.per_class_iou, strict=True)},
        }


def scores(confusion: torch.Tensor) -> SegmentationScores:
    """mIoU, per-class IoU and pixel accuracy from a confusion matrix."""
    cm = confusion.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    present = union > 0
    total = cm.sum()
    return SegmentationScores(
        miou=float(iou[present].mean()) if present.any() else 0.0,
        per_class_iou=tuple(float(v) for v in iou),
        pixel_accuracy=float(tp.sum() / total) if total > 0 else 0.0,
        pixels=int(total),
    )
