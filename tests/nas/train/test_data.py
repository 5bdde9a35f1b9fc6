"""The data sources: digits, image folders and CIFAR batches, each from files the tests write themselves."""

from __future__ import annotations

import os
import pickle
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.train.data import DataSource, epoch_seed, load_data
from nas.train.data.transforms import random_resized_crop_box, random_shift_flip
from search_spaces.errors import EspnasError
from tests.nas.datafiles import write_cifar, write_folder, write_image

# ----- digits ---------------------------------------------------------------------------------------------


def test_digits_split_is_stratified_and_seeded():
    data = load_data("digits", 32)
    assert isinstance(data, DataSource) and data.name == "digits"
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")
    assert len(data.train) + len(data.val) == 1797
    assert len(data.val) == 360
    val_counts = Counter(data.val.labels.tolist())
    assert all(35 <= c <= 37 for c in val_counts.values())  # ~20% of each class's ~180 images
    again = load_data("digits", 32)
    assert torch.equal(again.val.images, data.val.images)
    other = load_data("digits", 32, seed=1)
    assert not torch.equal(other.val.images, data.val.images)


def test_digits_batches_are_upsampled_normalised_rgb():
    data = load_data("digits", 40, augment=False)
    batches = list(data.loader("train", 64, seed=0, epoch=0))
    x, y = batches[0]
    assert x.shape == (64, 3, 40, 40) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    everything = torch.cat([b[0] for b in batches])
    assert abs(everything.mean().item()) < 0.1 and abs(everything.std().item() - 1) < 0.15
    assert len(batches) == len(data.train) // 64  # the partial last training batch is dropped
    val = list(data.loader("val", 100))
    assert sum(len(b[1]) for b in val) == len(data.val)  # but validation sees every image


def test_loader_order_is_a_function_of_seed_and_epoch():
    data = load_data("digits", 32)

    def first(seed, epoch):
        return next(iter(data.loader("train", 32, seed=seed, epoch=epoch)))

    assert torch.equal(first(0, 3)[0], first(0, 3)[0])
    assert not torch.equal(first(0, 3)[1], first(0, 4)[1])
    assert not torch.equal(first(1, 3)[1], first(0, 3)[1])
    assert epoch_seed(0, 3) == epoch_seed(0, 3) != epoch_seed(0, 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"image_size": 4}, "image_size"), ({"val_fraction": 1.5}, "val_fraction")],
)
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(EspnasError, match=match) as err:
        load_data("digits", **kwargs)
    assert "\n" not in str(err.value)


# ----- image folders --------------------------------------------------------------------------------------


def test_folder_with_train_and_val(tmp_path):
    write_folder(tmp_path / "train", {"cat": 4, "dog": 5})
    write_folder(tmp_path / "val", {"cat": 2, "dog": 2}, ext=".jpg")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image, ignored")
    data = load_data(tmp_path, 24, workers=0)
    assert data.class_names == ("cat", "dog") and data.num_classes == 2
    assert (len(data.train), len(data.val)) == (9, 4)
    assert data.skipped == 0
    x, y = next(iter(data.loader("train", 4)))
    assert x.shape == (4, 3, 24, 24) and set(y.tolist()) <= {0, 1}
    xv, yv = next(iter(data.loader("val", 8)))
    assert xv.shape == (4, 3, 24, 24) and yv.tolist() == [0, 0, 1, 1]


def test_single_folder_is_split_stratified_and_seeded(tmp_path):
    write_folder(tmp_path, {"a": 10, "b": 20, "c": 5})
    data = load_data(tmp_path, 16, val_fraction=0.2, workers=0)
    val_labels = Counter(label for _, label in data.val.samples)
    assert val_labels == {0: 2, 1: 4, 2: 1}
    assert len(data.train) == 28
    again = load_data(tmp_path, 16, val_fraction=0.2, workers=0)
    assert again.val.samples == data.val.samples
    other = load_data(tmp_path, 16, val_fraction=0.2, seed=7, workers=0)
    assert other.val.samples != data.val.samples
    assert not set(data.val.samples) & set(data.train.samples)


def test_folder_augmentation_is_seeded(tmp_path):
    write_folder(tmp_path, {"a": 6, "b": 6})
    data = load_data(tmp_path, 16, workers=0)
    a = next(iter(data.loader("train", 4, seed=3, epoch=1)))[0]
    b = next(iter(data.loader("train", 4, seed=3, epoch=1)))[0]
    c = next(iter(data.loader("train", 4, seed=3, epoch=2)))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_folder_loads_in_worker_processes(tmp_path):
    write_folder(tmp_path, {"a": 6, "b": 6})
    data = load_data(tmp_path, 16, workers=2)
    assert data.workers == 2
    seen = sum(len(y) for _, y in data.loader("val", 2))
    assert seen == len(data.val)


def test_a_few_corrupt_images_in_a_large_folder_are_skipped_and_counted(tmp_path):
    write_folder(tmp_path, {"a": 60, "b": 60})
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    data = load_data(tmp_path, 16, workers=0)
    assert data.skipped == 1 and data.skipped_files[0].endswith("broken.png")
    assert len(data.train) + len(data.val) == 120


def test_an_unreadable_image_in_a_small_folder_is_an_error_naming_it(tmp_path):
    write_folder(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "b" / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(EspnasError, match=r"unreadable image .*bad\.jpg") as err:
        load_data(tmp_path, 16)
    assert "\n" not in str(err.value)


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    write_folder(tmp_path, {"a": 3})
    (tmp_path / "empty").mkdir()
    with pytest.raises(EspnasError, match=r"class folder .*empty holds no images"):
        load_data(tmp_path, 16)


def test_val_class_missing_from_train(tmp_path):
    write_folder(tmp_path / "train", {"a": 2})
    write_folder(tmp_path / "val", {"a": 1, "zebra": 1})
    with pytest.raises(EspnasError, match="zebra"):
        load_data(tmp_path, 16)


def test_missing_path_file_path_and_folder_without_classes(tmp_path):
    with pytest.raises(EspnasError, match="not found"):
        load_data(tmp_path / "nowhere", 16)
    some_file = tmp_path / "x.png"
    write_image(some_file, 0)
    with pytest.raises(EspnasError, match="is a file"):
        load_data(some_file, 16)
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "y.png", 0)
    with pytest.raises(EspnasError, match="no class sub-folders"):
        load_data(tmp_path / "flat", 16)


def test_eval_transform_centre_crops_non_square_images(tmp_path):
    for label, name in enumerate(("a", "b")):
        for i in range(3):
            write_image(tmp_path / name / f"{i}.png", label, size=(60, 20))
    data = load_data(tmp_path, 32, workers=0, val_fraction=0.4)
    x, _ = data.val[0]
    assert x.shape == (3, 32, 32)


# ----- CIFAR ----------------------------------------------------------------------------------------------


def test_cifar10_batches(tmp_path):
    write_cifar(tmp_path, kind="cifar10", per_batch=12)
    data = load_data(tmp_path, 32)
    assert data.name.startswith("cifar10:")
    assert (len(data.train), len(data.val)) == (60, 12)
    assert data.class_names[:2] == ("class0", "class1") and data.num_classes == 10
    x, y = next(iter(data.loader("val", 12)))
    assert x.shape == (12, 3, 32, 32) and y.tolist() == [i % 10 for i in range(12)]


def test_cifar100_batches_in_the_archive_subfolder_resized(tmp_path):
    write_cifar(tmp_path / "cifar-100-python", kind="cifar100", per_batch=8, classes=100)
    data = load_data(tmp_path, 40)
    assert data.name.startswith("cifar100:") and data.num_classes == 100
    assert (len(data.train), len(data.val)) == (40, 8)
    x, _ = next(iter(data.loader("train", 8)))
    assert x.shape == (8, 3, 40, 40)


def test_cifar_pixels_round_trip(tmp_path):
    write_cifar(tmp_path, kind="cifar10", per_batch=4)
    with (tmp_path / "test_batch").open("rb") as fh:
        raw = pickle.load(fh, encoding="bytes")[b"data"]
    data = load_data(tmp_path, 32, augment=False)
    x, _ = next(iter(data.loader("val", 4)))
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    pixels = ((x * std + mean) * 255).round().to(torch.uint8).reshape(4, 3072)
    assert np.array_equal(pixels.numpy(), raw)


def test_malformed_cifar_file_is_an_error_naming_it(tmp_path):
    write_cifar(tmp_path, kind="cifar10", per_batch=4)
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(EspnasError, match="data_batch_3 is not a CIFAR python batch"):
        load_data(tmp_path, 32)


def test_cifar_file_that_would_run_code_is_refused(tmp_path):
    write_cifar(tmp_path, kind="cifar10", per_batch=4)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with (tmp_path / "test_batch").open("wb") as fh:
        pickle.dump({b"data": Evil()}, fh)
    with pytest.raises(EspnasError, match="test_batch is not a CIFAR python batch.*not allowed"):
        load_data(tmp_path, 32)


def test_cifar_with_wrong_shape(tmp_path):
    write_cifar(tmp_path, kind="cifar10", per_batch=4)
    with (tmp_path / "data_batch_1").open("wb") as fh:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, fh)
    with pytest.raises(EspnasError, match=r"data_batch_1 .*\(N, 3072\)"):
        load_data(tmp_path, 32)


# ----- transforms -----------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(width=st.integers(1, 500), height=st.integers(1, 500), seed=st.integers(0, 2**31))
def test_random_resized_crop_box_stays_inside_the_image(width, height, seed):
    left, top, right, bottom = random_resized_crop_box(width, height, torch.Generator().manual_seed(seed))
    assert 0 <= left < right <= width and 0 <= top < bottom <= height


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), size=st.integers(4, 20), seed=st.integers(0, 2**31))
def test_random_shift_keeps_shape_and_only_moves_pixels(n, size, seed):
    images = torch.rand(n, 3, size, size)
    out = random_shift_flip(images, torch.Generator().manual_seed(seed), flip=False)
    assert out.shape == images.shape
    # Replicate padding means every output pixel is some input pixel of the same image and channel.
    for i in range(n):
        assert set(out[i, 0].flatten().tolist()) <= set(images[i, 0].flatten().tolist())
