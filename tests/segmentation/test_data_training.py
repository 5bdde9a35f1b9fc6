"""Segmentation data sources, metrics, and a one-epoch training with exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.train.data.segmentation import (
    IGNORE_INDEX,
    SegmentationDataError,
    augment_pair,
    confusion_matrix,
    load_segmentation_data,
    scores,
)
from nas.train.segmentation import SegmentationTrainer, train_segmentation
from search_spaces.errors import EspnasError
from search_spaces.segmentation import SegmentationConfig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _png(path: Path, array: np.ndarray, mode: str | None = None, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array.astype(np.uint8), mode)
    if palette:
        img = img.convert("P") if img.mode != "P" else img
        img.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    img.save(path)


def _rgb(h: int = 40, w: int = 36, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3))


def test_metrics_by_hand() -> None:
    target = torch.tensor([[0, 0, 1, 1], [2, 2, IGNORE_INDEX, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 1]])
    cm = confusion_matrix(pred, target, 4)
    # rows target, columns prediction; the ignored pixel is not counted
    assert cm.tolist() == [[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    s = scores(cm)
    # IoU: class 0: 1 / (2 + 2 - 1) = 1/3; class 1: 3 / (4 + 3 - 3) = 3/4; class 2: 1 / (1 + 2 - 1) = 1/2
    assert s.per_class_iou[:3] == pytest.approx((1 / 3, 3 / 4, 1 / 2))
    assert np.isnan(s.per_class_iou[3])  # never occurs: not in the mean
    assert s.miou == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert s.pixel_accuracy == pytest.approx(5 / 7)


def test_cityscapes_label_ids_map_to_train_ids(tmp_path: Path) -> None:
    ids = np.array([[7, 8, 11, 0], [26, 33, 9, 24]] * 20)[:, [0, 1, 2, 3] * 9]  # 40 x 36
    for split in ("train", "val"):
        _png(tmp_path / "leftImg8bit" / split / "aachen" / "a_000000_000019_leftImg8bit.png", _rgb())
        _png(tmp_path / "gtFine" / split / "aachen" / "a_000000_000019_gtFine_labelIds.png", ids, "L")
    data = load_segmentation_data(tmp_path, 32)
    assert data.num_classes == 19 and data.class_names[13] == "car"
    _, mask = data.val.item(0)
    # road 0, sidewalk 1, building 2, unlabeled -> 255; car 13, bicycle 18, parking -> 255, person 11
    assert mask[0, :4].tolist() == [0, 1, 2, 255]
    assert mask[1, :4].tolist() == [13, 18, 255, 11]


def test_cityscapes_missing_mask_names_the_pair(tmp_path: Path) -> None:
    for split in ("train", "val"):
        _png(tmp_path / "leftImg8bit" / split / "x" / "b_leftImg8bit.png", _rgb())
    (tmp_path / "gtFine").mkdir()
    with pytest.raises(SegmentationDataError, match="b_leftImg8bit.png .*mask does not exist"):
        load_segmentation_data(tmp_path, 32)


def test_folders_with_palette_and_index_masks(tmp_path: Path) -> None:
    mask = np.zeros((40, 36), dtype=np.uint8)
    mask[:10] = 2
    mask[-1] = IGNORE_INDEX
    for i in range(5):
        _png(tmp_path / "images" / f"{i}.jpg", _rgb(seed=i))
        _png(tmp_path / "masks" / f"{i}.png", mask, "L", palette=i % 2 == 0)
    data = load_segmentation_data(tmp_path, 32, seed=1)
    assert data.num_classes == 3  # read from the masks: values 0 and 2, 255 ignored
    assert len(data.train) + len(data.val) == 5
    for split in (data.train, data.val):
        for i in range(len(split)):
            _, m = split.item(i)
            assert torch.equal(m, torch.from_numpy(mask.astype(np.int64)))
    x, y = next(iter(data.loader("train", 2, seed=0, epoch=0)))
    assert x.shape == (2, 3, 32, 32) and y.shape == (2, 32, 32)
    assert set(y.unique().tolist()) <= {0, 2, IGNORE_INDEX}


@pytest.mark.parametrize("problem", ["size", "rgb_mask", "corrupt", "orphan", "bad_value"])
def test_bad_pairs_are_one_line_errors_naming_the_pair(tmp_path: Path, problem: str) -> None:
    mask = np.zeros((40, 36), dtype=np.uint8)
    for i in range(3):
        _png(tmp_path / "images" / f"{i}.png", _rgb(seed=i))
        _png(tmp_path / "masks" / f"{i}.png", mask, "L")
    if problem == "size":
        _png(tmp_path / "masks" / "1.png", np.zeros((20, 36)), "L")
    elif problem == "rgb_mask":
        _png(tmp_path / "masks" / "1.png", _rgb())
    elif problem == "corrupt":
        (tmp_path / "images" / "1.png").write_bytes(b"not a png")
    elif problem == "orphan":
        _png(tmp_path / "masks" / "9.png", mask, "L")
    elif problem == "bad_value":
        (tmp_path / "classes.txt").write_text("a\nb\n")
        _png(tmp_path / "masks" / "1.png", np.full((40, 36), 7), "L")
    with pytest.raises(SegmentationDataError) as err:
        data = load_segmentation_data(tmp_path, 32)
        for split in (data.train, data.val):
            for i in range(len(split)):
                split.item(i)
    message = str(err.value)
    assert "\n" not in message
    assert ("9.png" if problem == "orphan" else "1.png") in message


def test_augmentation_keeps_image_and_mask_aligned() -> None:
    image = torch.zeros(3, 40, 50)
    image[0, 10:20, 5:30] = 1.0
    mask = (image[0] > 0.5).long()
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        x, y = augment_pair(image, mask, (32, 32), gen, (0.5, 2.0))
        assert x.shape == (3, 32, 32) and y.shape == (32, 32)
        labelled = y != IGNORE_INDEX
        # wherever the mask says 1 the image is bright, and where it says 0 it is dark (up to resampling edges)
        assert (x[0][labelled & (y == 1)] > 0.3).float().mean() > 0.9
        assert (x[0][labelled & (y == 0)] < 0.7).float().mean() > 0.9


def test_one_epoch_training_on_scenes(tmp_path: Path) -> None:
    data = load_segmentation_data("scenes", 32, n_train=8, n_val=4, seed=0)
    assert data.num_classes == 11
    result = train_segmentation(
        SegmentationConfig.from_scale(0.5), data, epochs=1, batch_size=4, progress=False, out_dir=tmp_path
    )
    assert result.config.num_classes == 11 and result.config.input_size == (32, 32)
    assert 0.0 <= result.miou <= 1.0 and len(result.history) == 1
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "scores.json").is_file()


def test_killed_training_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_segmentation_data("scenes", 32, n_train=8, n_val=4, seed=0)
    cfg = SegmentationConfig.from_scale(0.5)
    whole = train_segmentation(cfg, data, epochs=2, batch_size=4, progress=False, seed=3)
    original = SegmentationTrainer.run_epoch

    def killed_in_epoch_2(self: SegmentationTrainer):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(SegmentationTrainer, "run_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_segmentation(cfg, data, epochs=2, batch_size=4, progress=False, seed=3, out_dir=tmp_path)
    monkeypatch.setattr(SegmentationTrainer, "run_epoch", original)
    resumed = train_segmentation(
        cfg, data, epochs=2, batch_size=4, progress=False, seed=3, out_dir=tmp_path, resume=True
    )
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(EspnasError, match="batch_size=4, not 2"):
        train_segmentation(cfg, data, epochs=2, batch_size=2, progress=False, seed=3, out_dir=tmp_path, resume=True)
