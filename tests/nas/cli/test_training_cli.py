"""`espnas train`: in-process runs, one-line errors, and a real kill -9 mid-epoch followed by --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nas.cli import main
from nas.train.trainer import CHECKPOINT_NAME, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = "eesp:c=16/32/64/128/256,d=0/1/1/1,k=4,gr=4,ge=4,r=13/11/9/7/5,hff=1,sc=1,head=64,cls=10,drop=0.2,in=32x32,ic=3"
ROOT = Path(__file__).resolve().parents[3]


def test_train_then_resume_to_more_epochs(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", TINY, "--data", "digits", "--epochs", "1", "--batch-size", "128", "--out", str(out)]
    assert main([*args, "--recipe", "paper", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "val top-1" in printed and f"checkpoint: {out / CHECKPOINT_NAME}" in printed
    assert load_checkpoint(out / CHECKPOINT_NAME)["epoch"] == 1
    # The paper's schedule does not depend on the total, so --resume may extend the run.
    resumed = ["train", TINY, "--data", "digits", "--epochs", "2", "--out", str(out), "--recipe", "paper"]
    assert main([*resumed, "--resume", "--no-progress"]) == 0
    assert load_checkpoint(out / CHECKPOINT_NAME)["epoch"] == 2


def test_resume_without_checkpoint_is_one_line_error(tmp_path, capsys):
    assert main(["train", TINY, "--out", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("espnas train: error: no checkpoint at") and err.count("\n") == 1


def test_missing_data_is_one_line_error(tmp_path, capsys):
    assert main(["train", TINY, "--data", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and err.count("\n") == 1


def _espnas(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "nas", "train", TINY, "--data", "digits", "--epochs", "3", "--no-progress", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    whole = _espnas("--out", str(tmp_path / "whole"))
    assert whole.wait(timeout=600) == 0, whole.stdout.read().decode()

    killed = _espnas("--out", str(tmp_path / "killed"))
    ckpt = tmp_path / "killed" / CHECKPOINT_NAME
    deadline = time.time() + 600
    while time.time() < deadline and killed.poll() is None:
        if ckpt.exists() and load_checkpoint(ckpt)["epoch"] >= 1:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # well inside epoch 2
    assert killed.poll() is None, "the run finished before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert load_checkpoint(ckpt)["epoch"] in (1, 2)

    resumed = _espnas("--out", str(tmp_path / "killed"), "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read().decode()
    a = load_checkpoint(tmp_path / "whole" / CHECKPOINT_NAME)
    b = load_checkpoint(ckpt)
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert [h["val_top1"] for h in a["history"]] == [h["val_top1"] for h in b["history"]]
