"""The search's accuracy objective: train a config briefly and report its validation accuracy.

`proxy_accuracy(config, data)` trains for a small fixed budget (a few epochs, optionally capped in optimiser
steps) with the short recipe and returns a `ProxyResult` with the final top-1 accuracy and the per-epoch curve.
`report(epoch, accuracy)` is called after every epoch so that an early-stopping scheduler (Ray Tune's ASHA,
Optuna's pruners) can stop a bad trial; an exception raised by `report` (e.g. optuna.TrialPruned) propagates,
and a truthy return value stops training early. Every failure inside training (NaN loss, out of memory, an
invalid adapted config, any other exception) becomes `ok=False` with the reason; it never crashes the caller.

Cost on the embedded digits with the defaults (32x32, 3 epochs of 22 steps of 64 images, no augmentation): see
benchmarks/README.md for the measured seconds on this machine.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nas.train.data import DataSource, load_data
from nas.train.trainer import RECIPES, Recipe, Trainer, TrainingDivergedError, adapt_config
from search_spaces import EESPConfig, build, resolve
from search_spaces.errors import one_line

DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 64
DEFAULT_IMAGE_SIZE = 32
DEFAULT_BN_BATCHES = 8  # training batches for re-estimating BatchNorm statistics before each evaluation

# The proxy's recipe: the short recipe without label smoothing (it slows the first epochs on tiny data).
PROXY_RECIPE: Recipe = RECIPES["short"].replace(name="proxy", label_smoothing=0.0, warmup_epochs=0.3)
# AdamW with polynomial decay, for the scenes: after one epoch of 1,000 scenes espnetv2-0.5 is at 0.31 with it
# and 0.18 with PROXY_RECIPE (benchmarks/README.md, issue 12), so a short budget already separates networks.
ADAM_PROXY_RECIPE: Recipe = RECIPES["adam"].replace(name="proxy-adam", label_smoothing=0.0, warmup_epochs=0.3)
PROXY_RECIPES: dict[str, Recipe] = {"proxy": PROXY_RECIPE, "proxy-adam": ADAM_PROXY_RECIPE}


@dataclass(frozen=True)
class ProxyResult:
    """One proxy evaluation. `accuracy` is the final validation top-1 (0..1), NaN when `ok` is False."""

    ok: bool
    accuracy: float
    curve: tuple[float, ...]
    reason: str | None
    seconds: float
    epochs_run: int
    steps: int = 0
    top5: float = math.nan


@functools.lru_cache(maxsize=8)
def _cached_data(source: str, image_size: int, seed: int) -> DataSource:
    # The search calls the proxy once per trial: load (and split) a named source once per process.
    return load_data(source, image_size, seed=seed, augment=False)


def proxy_data(
    source: str | os.PathLike[str] = "digits", image_size: int = DEFAULT_IMAGE_SIZE, seed: int = 0
) -> DataSource:
    """The data the proxy trains on (no augmentation: a short budget learns faster without it); cached."""
    return _cached_data(str(source), int(image_size), int(seed))


def proxy_accuracy(
    config: EESPConfig | str,
    data: DataSource | str | os.PathLike[str] = "digits",
    *,
    epochs: int = DEFAULT_EPOCHS,
    max_steps: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "cpu",
    seed: int = 0,
    report: Callable[[int, float], object] | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    recipe: Recipe = PROXY_RECIPE,
    bn_batches: int = DEFAULT_BN_BATCHES,
) -> ProxyResult:
    """Train `config` on `data` for `epochs` (at most `max_steps` optimiser steps) and return its accuracy.

    The config's classifier and input size are adapted to the data. `image_size` applies when `data` is a
    source name or path. Before each evaluation the BatchNorm statistics are re-estimated from `bn_batches`
    training batches, so that a few dozen steps are judged by what the weights learned rather than by lagging
    running averages. The run is deterministic for a given seed on CPU.
    """
    start = time.perf_counter()
    curve: list[float] = []
    try:
        source = data if isinstance(data, DataSource) else proxy_data(data, image_size, seed)
        cfg = adapt_config(resolve(config), source)
        torch.manual_seed(seed)
        trainer = Trainer(
            build(cfg),
            source,
            recipe,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=device,
            max_steps=max_steps,
            bn_recalibration_batches=bn_batches,
        )
    except Exception as err:
        return _failed(err, curve, start, device)
    for _ in range(epochs):
        try:
            record = trainer.run_epoch()
        except Exception as err:
            del trainer
            return _failed(err, curve, start, device)
        curve.append(float(record["val_top1"]))
        # Outside the try: an exception from `report` (a pruner's signal) must reach the caller.
        if report is not None and report(record["epoch"], curve[-1]):
            break
        if trainer.budget_spent:
            break
    top5 = float(trainer.history[-1]["val_top5"])
    seconds = time.perf_counter() - start
    return ProxyResult(True, curve[-1], tuple(curve), None, seconds, len(curve), trainer.steps_done, top5)


def failure_reason(err: BaseException) -> str:
    """A one-line reason for a failed evaluation: diverged, out of memory, or the exception's first line."""
    if isinstance(err, TrainingDivergedError):
        return f"diverged: {err}"
    if isinstance(err, MemoryError):
        return "out of memory (host)"
    if isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower():
        return f"out of memory: {one_line(err, 300)}"
    return one_line(err, 300, with_type=True)


def _failed(err: BaseException, curve: list[float], start: float, device: str) -> ProxyResult:
    reason = failure_reason(err)
    err.__traceback__ = None  # drop the frames (and their tensors) before freeing cached GPU memory
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return ProxyResult(False, math.nan, tuple(curve), reason, time.perf_counter() - start, len(curve))
