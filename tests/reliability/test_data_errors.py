"""Data that cannot train a classifier is refused up front, in one line naming the cause: one class only,
CIFAR labels out of range, images that pass Pillow's verify() but do not decode (even inside a DataLoader
worker process). A training that fails before its first epoch leaves nothing in --out."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas.cli import main
from nas.train.data import load_data
from nas.train.data.errors import DataError, worker_cause
from tests.nas.datafiles import write_cifar, write_folder


def _truncated_jpeg(path: Path, seed: int) -> None:
    """A JPEG cut in half: Image.verify() accepts it, decoding fails ("image file is truncated")."""
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def test_a_folder_of_one_class_is_refused(tmp_path, capsys):
    write_folder(tmp_path / "one", {"cat": 6})
    with pytest.raises(DataError, match="has one class \\('cat'\\); a classifier needs at least 2"):
        load_data(tmp_path / "one", 32)
    assert main(["train", "espnetv2-0.5", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "o")]) == 2
    assert "needs at least 2 class sub-folders" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("label", [-1, 10, 300])
def test_cifar_labels_out_of_range_are_refused(tmp_path, label):
    write_cifar(tmp_path, per_batch=4)
    path = tmp_path / "data_batch_2"
    batch = pickle.loads(path.read_bytes())
    batch[b"labels"][1] = label
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=f"label {label} is out of range .*valid: 0..9"):
        load_data(tmp_path, 32)


def test_images_that_verify_but_do_not_decode_fail_in_one_line_from_a_worker(tmp_path):
    for cls in ("a", "b"):
        for i in range(3):
            _truncated_jpeg(tmp_path / cls / f"{i}.jpg", seed=i)
    data = load_data(tmp_path, 32, workers=1)  # the scan passes: verify() accepts truncated JPEGs
    with pytest.raises(DataError) as info:  # raised in the worker process, re-raised here
        next(iter(data.loader("train", 2)))
    assert "\n" not in str(info.value) and str(info.value).startswith("no image of the")


def test_worker_cause_keeps_the_workers_own_line():
    wrapped = (
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\nnas.train.data.errors.DataError: the real cause'
    )
    assert worker_cause(wrapped) == "the real cause"
    assert worker_cause("plain message") == "plain message"
    assert str(DataError(wrapped)) == "the real cause"


def test_a_training_that_fails_in_its_first_epoch_leaves_nothing_in_out(tmp_path):
    from nas.train.trainer import train

    for cls in ("a", "b"):
        for i in range(3):
            _truncated_jpeg(tmp_path / "data" / cls / f"{i}.jpg", seed=i)
    data = load_data(tmp_path / "data", 32, workers=0)  # in-process: the same error without worker start-up
    out = tmp_path / "out" / "deeper"
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no image of the"):
        train("espnetv2-0.5", data, epochs=1, batch_size=2, out_dir=out, progress=False)
    assert not (tmp_path / "out").exists()  # neither checkpoint.pt nor config.json nor the directories


def test_stale_checkpoint_temp_files_are_removed_on_the_next_run(tmp_path):
    from results.files import remove_stale_temps

    (tmp_path / ".checkpoint.pt.abcd1234.tmp").write_bytes(b"")  # what a kill -9 mid-write leaves
    (tmp_path / "keep.tmp").write_text("a user's file")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".checkpoint.pt.abcd1234.tmp"]
    assert (tmp_path / "keep.tmp").exists()


@pytest.mark.slow  # one real epoch on the digits (seconds idle, minutes on a loaded 2-core machine)
def test_resume_of_a_training_removes_the_temp_file_a_kill_left(tmp_path):
    """kill -9 in the middle of a checkpoint write leaves `.checkpoint.pt.XXXXXXXX.tmp`; --resume removes it."""
    from nas.train.trainer import train

    out = tmp_path / "out"
    train("espnetv2-0.5", "digits", epochs=1, batch_size=64, out_dir=out, progress=False)
    (out / ".checkpoint.pt.k1ll3d00.tmp").write_bytes(b"")
    train("espnetv2-0.5", "digits", epochs=1, batch_size=64, out_dir=out, resume=True, progress=False)
    assert not (out / ".checkpoint.pt.k1ll3d00.tmp").exists()
