"""The search's proxy objective: cheap, deterministic, reports its curve, never crashes the caller."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nas.train.data import load_data
from nas.train.data.memory import InMemoryDataset
from nas.train.proxy import ProxyResult, proxy_accuracy, proxy_data
from search_spaces import EESPConfig

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = EESPConfig(channels=(16, 32, 64, 128, 256), depths=(0, 1, 1, 1), head_channels=64)


def test_reports_each_epoch_and_is_deterministic():
    seen = []
    result = proxy_accuracy(TINY, "digits", epochs=2, max_steps=12, report=lambda e, a: seen.append((e, a)))
    assert isinstance(result, ProxyResult) and result.ok and result.reason is None
    assert result.epochs_run == len(result.curve) == len(seen) == 1  # 12 steps < one epoch of 22
    assert seen == [(1, result.curve[0])]
    assert 0.0 <= result.accuracy <= 1.0 and result.accuracy == result.curve[-1]
    assert result.steps == 12 and result.seconds > 0
    again = proxy_accuracy(TINY, "digits", epochs=2, max_steps=12)
    assert again.curve == result.curve


def test_learns_the_digits_above_chance():
    result = proxy_accuracy(TINY, "digits", epochs=2)
    assert result.ok and result.epochs_run == 2 and result.steps == 44
    assert result.accuracy > 0.3  # chance is 0.1


def test_report_returning_true_stops_early():
    result = proxy_accuracy(TINY, "digits", epochs=3, max_steps=30, report=lambda e, a: True)
    assert result.ok and result.epochs_run == 1


def test_exception_from_report_propagates():
    class Pruned(Exception):
        pass

    def prune(epoch, accuracy):
        raise Pruned

    with pytest.raises(Pruned):
        proxy_accuracy(TINY, "digits", epochs=2, max_steps=5, report=prune)


def test_config_is_adapted_to_the_data():
    # 1000 classes at 224 in the config; the digits have 10 at 32: the proxy trains the adapted config.
    result = proxy_accuracy(EESPConfig.from_scale(0.5, depths=(0, 1, 1, 1)), "digits", epochs=1, max_steps=2)
    assert result.ok, result.reason


def test_nan_loss_is_a_failed_evaluation():
    data = proxy_data("digits")
    nan_images = torch.full_like(data.train.images, float("nan"))
    bad = dataclasses.replace(
        data,
        train=InMemoryDataset(nan_images, data.train.labels, image_size=32, mean=(0.0,), std=(1.0,)),
    )
    result = proxy_accuracy(TINY, bad, epochs=1)
    assert not result.ok and math.isnan(result.accuracy)
    assert result.reason.startswith("diverged: loss became nan")


def test_out_of_memory_and_other_errors_are_failed_evaluations(monkeypatch):
    import nas.train.trainer

    def oom(self, epoch):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr(nas.train.trainer.Trainer, "train_epoch", oom)
    result = proxy_accuracy(TINY, "digits", epochs=1)
    assert not result.ok and result.reason == "out of memory: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert result.curve == () and result.epochs_run == 0

    def bug(self, epoch):
        raise ValueError("something odd")

    monkeypatch.setattr(nas.train.trainer.Trainer, "train_epoch", bug)
    result = proxy_accuracy(TINY, "digits", epochs=1)
    assert not result.ok and result.reason == "ValueError: something odd"


def test_bad_inputs_are_failed_evaluations_not_crashes(tmp_path):
    assert "not found" in proxy_accuracy(TINY, tmp_path / "missing", epochs=1).reason
    assert not proxy_accuracy("no-such-preset", "digits", epochs=1).ok
    # 16x16 is below the smallest input the network accepts: the adapted config is invalid.
    small = load_data("digits", 16)
    result = proxy_accuracy(TINY, small, epochs=1)
    assert not result.ok and "ConfigError" in result.reason


def test_proxy_data_is_cached():
    assert proxy_data("digits", 32) is proxy_data("digits", 32)
    assert not proxy_data("digits", 32).train.augment
