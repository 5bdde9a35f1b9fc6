"""The cluttered digit scenes: deterministic, masks that agree with the images, labels from the largest digit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.train.data import load_data
from nas.train.data.scenes import BACKGROUND, SceneSpec, digit_pool, load_scenes, make_scenes
from search_spaces.errors import EspnasError


def _square_digits() -> tuple[np.ndarray, np.ndarray]:
    # Two hand-made "digits": an all-ones square (class 3) and an all-0.5 square (class 7).
    return np.stack([np.ones((8, 8)), np.full((8, 8), 0.5)]).astype(np.float32), np.array([3, 7])


def test_same_seed_same_scenes_other_seed_other_scenes() -> None:
    digits, labels = digit_pool()
    a = make_scenes(digits[:50], labels[:50], 6, SceneSpec.for_size(24), seed=1)
    b = make_scenes(digits[:50], labels[:50], 6, SceneSpec.for_size(24), seed=1)
    c = make_scenes(digits[:50], labels[:50], 6, SceneSpec.for_size(24), seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_shapes_ranges_and_mask_values() -> None:
    digits, labels = digit_pool()
    s = make_scenes(digits[:100], labels[:100], 5, SceneSpec.for_size(40), seed=0)
    assert s.images.shape == (5, 1, 40, 40) and s.images.dtype == torch.float32
    assert s.masks.shape == (5, 40, 40) and s.labels.shape == (5,)
    assert float(s.images.min()) >= 0.0 and float(s.images.max()) <= 1.0
    assert set(s.masks.unique().tolist()) <= set(range(11))
    # One digit per scene: the mask holds only that digit's class and background.
    for mask, label in zip(s.masks, s.labels, strict=True):
        assert set(mask.unique().tolist()) == {int(label), BACKGROUND}


def test_mask_covers_exactly_the_placed_square_without_clutter_or_noise() -> None:
    digits, labels = _square_digits()
    spec = SceneSpec(size=16, digit_scale=(6, 6), digits=1, fragments=0, noise=0.0)
    s = make_scenes(digits[:1], labels[:1], 3, spec, seed=0)
    for image, mask in zip(s.images[:, 0], s.masks, strict=True):
        inside = mask != BACKGROUND
        assert int(inside.sum()) == 36  # a 6x6 square of ones, all above the threshold
        assert torch.allclose(image[inside], torch.tensor(1.0)) and torch.all(image[~inside] == 0.0)
        assert torch.all(mask[inside] == 3)


def test_label_is_the_largest_digit_and_boxes_match_the_image() -> None:
    digits, labels = _square_digits()
    spec = SceneSpec(size=32, digit_scale=(4, 16), digits=2, fragments=0, noise=0.0)
    s = make_scenes(digits, labels, 60, spec, seed=3)
    checked = 0
    for image, label, boxes in zip(s.images[:, 0], s.labels, s.boxes, strict=True):
        classes = boxes[:, 3].tolist()
        for top, left, side, cls in boxes.tolist():
            if (
                cls == 3 and classes.count(3) == 1
            ):  # the all-ones square is never covered (max compositing): its box is its 1.0 region
                ones = (image > 0.99).nonzero()
                assert ones[:, 0].min() == top and ones[:, 1].min() == left and len(ones) == side * side
        sides = boxes[:, 2].tolist()
        if sides[0] != sides[1]:
            assert int(label) == int(boxes[int(np.argmax(sides)), 3])
            checked += 1
    assert checked > 30


def test_train_and_validation_scenes_use_disjoint_digits() -> None:
    spec = SceneSpec(size=8, digit_scale=(8, 8), digits=1, fragments=0, noise=0.0)
    train, val = load_scenes(300, 100, spec, seed=0)
    digits, _ = digit_pool()
    # At scale 8 a scene is a digit as is: find each scene's source digit and check the splits share none.
    flat = digits.reshape(len(digits), -1)

    def sources(scenes):  # type: ignore[no-untyped-def]
        x = scenes.images[:, 0].reshape(len(scenes), -1).numpy()
        return {int(np.argmin(((flat - row) ** 2).sum(1))) for row in x}

    assert not sources(train) & sources(val)


def test_scenes_is_a_data_source() -> None:
    data = load_data("scenes", 24, seed=0)
    assert data.name == "scenes" and data.num_classes == 10 and len(data.train) == 2000 and len(data.val) == 1000
    x, y = next(iter(data.loader("train", 16)))
    assert x.shape == (16, 3, 24, 24) and y.shape == (16,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 4},
        {"size": 16, "digit_scale": (2, 8)},
        {"size": 16, "digit_scale": (8, 20)},
        {"digits": 0},
        {"fragments": -1},
        {"fragment_size": 9},
        {"noise": -0.1},
    ],
)
def test_invalid_specs_are_one_line_errors(kwargs: dict) -> None:
    with pytest.raises(EspnasError) as info:
        SceneSpec(**kwargs)
    assert "\n" not in str(info.value) and "valid" in str(info.value)


def test_the_classification_task_uses_large_digits_without_clutter_deterministically() -> None:
    spec = SceneSpec.for_classification(32)
    assert (spec.size, spec.digit_scale, spec.fragments) == (32, (18, 28), 0)
    a = load_data("scenes", 32, seed=0)
    b = load_data("scenes", 32, seed=0)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    # Every training scene holds one digit of 18..28 pixels and no fragment: at most one digit's square lit.
    lit = (a.train.images[:200, 0] > 0.3).float()
    rows, cols = lit.amax(2).sum(1), lit.amax(1).sum(1)
    assert int(rows.max()) <= 28 and int(cols.max()) <= 28


def test_a_spec_of_another_size_is_a_one_line_error() -> None:
    from nas.train.data.scenes import load_scene_classification

    with pytest.raises(EspnasError, match="scene spec size 24 does not match image_size 32") as err:
        load_scene_classification(32, spec=SceneSpec.for_size(24), n_train=4, n_val=4)
    assert "\n" not in str(err.value)
