"""Training the ESPNetv2 segmentation network: the paper's recipe (Sec. 4.2), resumable, with progress.

Adam with learning rate 5e-4 and polynomial decay (power 0.9) per step; weight decay 4e-5 (the paper's
classification value; Sec. 4.2 gives none); the loss is the cross-entropy of the main output plus that of
the auxiliary output (both at the input's size), pixels labelled 255 ignored. Augmentation: random scale, crop
and horizontal flip (nas/train/data/segmentation.py). Validation reports mIoU, per-class IoU and pixel
accuracy.

As the classifier's trainer does, every epoch ends with an atomic checkpoint (weights, optimiser, epoch,
RNG states, config JSON, settings); `resume=True` continues from it, and refuses one of another config or
other settings. Batch order and augmentation of epoch e depend on (seed, e) only, so a resumed CPU run ends
where an uninterrupted one of the same seed ends.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.train.data import epoch_seed
from nas.train.data.segmentation import (
    SegmentationData,
    SegmentationScores,
    confusion_matrix,
    load_segmentation_data,
    scores,
)
from nas.train.schedule import PolySchedule
from nas.train.trainer import (
    TrainingDivergedError,
    _rng_state,
    _seed_everything,
    _set_rng_state,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)
from results.files import write_json_atomic, write_text_atomic
from search_spaces.errors import EspnasError
from search_spaces.segmentation import SegmentationConfig, resolve_segmentation

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "espnas-segmentation-checkpoint-1"
LEARNING_RATE = 5e-4
WEIGHT_DECAY = 4e-5
POLY_POWER = 0.9
# The search's short proxy trains a few hundred steps: 4x the paper's rate gets the networks past predicting
# the majority class within that budget (benchmarks/README.md, "Segmentation proxy").
PROXY_LEARNING_RATE = 2e-3


@dataclass
class SegmentationResult:
    """What `train_segmentation` returns: the model (eval mode), its config, the history and final scores."""

    model: nn.Module
    config: SegmentationConfig
    history: list[dict[str, Any]]
    scores: SegmentationScores
    checkpoint: Path | None
    seconds: float
    data_name: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def miou(self) -> float:
        return self.scores.miou


def segmentation_loss(
    outputs: torch.Tensor | tuple[torch.Tensor, torch.Tensor], target: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """Cross-entropy of the main output plus that of the auxiliary output (when given)."""
    if isinstance(outputs, tuple):
        main, aux = outputs
        return F.cross_entropy(main, target, ignore_index=ignore_index) + F.cross_entropy(
            aux, target, ignore_index=ignore_index
        )
    return F.cross_entropy(outputs, target, ignore_index=ignore_index)


class SegmentationTrainer:
    """Trains one segmentation model on one source; `run_epoch` is one epoch plus validation."""

    def __init__(
        self,
        model: nn.Module,
        data: SegmentationData,
        *,
        epochs: int,
        batch_size: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        lr: float = LEARNING_RATE,
        weight_decay: float = WEIGHT_DECAY,
        max_steps: int | None = None,
        progress: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.data = data
        self.epochs, self.batch_size, self.seed = int(epochs), int(batch_size), int(seed)
        self.max_steps = max_steps
        self.progress = progress
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.schedule = PolySchedule(base_lr=lr, total_epochs=self.epochs, power=POLY_POWER)
        self.steps_done = 0
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.last_scores: SegmentationScores | None = None
        self.bn_recalibration_batches = 0  # the proxy sets it

    def train_epoch(self, epoch: int) -> dict[str, float]:
        _seed_everything(epoch_seed(self.seed, epoch, 1))  # dropout
        loader = self.data.loader("train", self.batch_size, seed=self.seed, epoch=epoch)
        steps = len(loader)
        if self.max_steps is not None:
            steps = max(0, min(steps, self.max_steps - self.steps_done))
        self.model.train()
        bar = self._bar(steps, f"epoch {epoch + 1}/{self.epochs}")
        loss_sum, images, start = 0.0, 0, time.perf_counter()
        for step, (x, y) in enumerate(loader):
            if step >= steps:
                break
            x, y = x.to(self.device), y.to(self.device)
            for group in self.optimizer.param_groups:
                group["lr"] = self.schedule.lr(epoch, step, steps)
            loss = segmentation_loss(self.model(x), y, self.data.ignore_index)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDivergedError(f"loss became {value} at epoch {epoch + 1}, step {step + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps_done += 1
            loss_sum += value * len(y)
            images += len(y)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / images:.3f}", refresh=False)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - start
        return {
            "train_loss": loss_sum / max(1, images),
            "lr": self.schedule.lr(epoch, 0, max(1, steps)),
            "images": images,
            "train_seconds": seconds,
            "images_per_s": images / seconds if seconds > 0 else 0.0,
        }

    @torch.no_grad()
    def evaluate(self) -> SegmentationScores:
        self.model.eval()
        n = self.data.num_classes
        confusion = torch.zeros(n, n, dtype=torch.long)
        for x, y in self.data.loader("val", self.batch_size, seed=self.seed):
            logits = self.model(x.to(self.device))
            confusion += confusion_matrix(logits.argmax(1), y.to(self.device), n, self.data.ignore_index)
        return scores(confusion)

    @torch.no_grad()
    def recalibrate_bn(self, epoch: int, batches: int) -> None:
        """Re-estimate BatchNorm statistics as an exact average over `batches` training batches: after a few
        dozen steps the running averages lag far behind the weights (the classifier's proxy does the same)."""
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms or batches <= 0:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        self.model.train()
        loader = self.data.loader("train", self.batch_size, seed=epoch_seed(self.seed, epoch, 2), epoch=epoch)
        for i, (x, _) in enumerate(loader):
            if i >= batches:
                break
            self.model(x.to(self.device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    def run_epoch(self) -> dict[str, Any]:
        start = time.perf_counter()
        epoch = self.epoch
        record: dict[str, Any] = {"epoch": epoch + 1, **self.train_epoch(epoch)}
        self.recalibrate_bn(epoch, self.bn_recalibration_batches)
        result = self.last_scores = self.evaluate()
        record.update({"val_miou": result.miou, "val_pixel_accuracy": result.pixel_accuracy})
        record["seconds"] = time.perf_counter() - start
        self.epoch += 1
        self.history.append(record)
        if self.progress:
            _say(
                f"epoch {record['epoch']}/{self.epochs}: loss {record['train_loss']:.4f} val mIoU "
                f"{result.miou:.4f} pixel acc {result.pixel_accuracy:.4f} lr {record['lr']:.3g} "
                f"{record['images_per_s']:.1f} img/s {record['seconds']:.1f} s"
            )
        return record

    def _bar(self, total: int, desc: str) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True, mininterval=0.5)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "steps_done": self.steps_done,
            "history": self.history,
            "rng": _rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.steps_done = int(state["epoch"]), int(state["steps_done"])
        self.history = list(state["history"])
        _set_rng_state(state["rng"])


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def adapt_segmentation_config(config: SegmentationConfig, data: SegmentationData) -> SegmentationConfig:
    """The config with its classes and counting size matched to the data."""
    size = tuple(data.crop_size)
    if config.num_classes == data.num_classes and tuple(config.input_size) == size:
        return config
    return config.replace(num_classes=data.num_classes, input_size=size)


def train_segmentation(
    config: Any,
    data: SegmentationData | str,
    *,
    epochs: int = 10,
    batch_size: int = 8,
    out_dir: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    crop_size: int | tuple[int, int] = 64,
    lr: float = LEARNING_RATE,
    max_steps: int | None = None,
) -> SegmentationResult:
    """Train `config` (a segmentation config or spec; a classifier spec becomes the encoder) on `data` (a
    `SegmentationData` or a source for `load_segmentation_data`). With `out_dir`, checkpoint every epoch."""
    started = time.perf_counter()
    if epochs < 1 or batch_size < 1:
        raise EspnasError(f"epochs={epochs} and batch_size={batch_size} must both be positive integers")
    if not isinstance(data, SegmentationData):
        data = load_segmentation_data(data, crop_size, seed=seed)
    cfg = adapt_segmentation_config(resolve_segmentation(config), data)
    settings = {"epochs": int(epochs), "batch_size": int(batch_size), "seed": seed, "lr": lr, "data": data.name}
    settings["crop_size"] = list(data.crop_size)
    path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    payload = None
    if resume:
        if path is None:
            raise EspnasError("resume needs an output directory holding a checkpoint (--out DIR)")
        payload = load_checkpoint(path, fmt=CHECKPOINT_FORMAT)
        if payload["config"] != cfg.to_json():
            raise EspnasError(f"checkpoint {path} is for another config; resume with the same spec or another --out")
        for key, value in settings.items():
            if payload["settings"].get(key) != value:
                raise EspnasError(
                    f"checkpoint {path} was written with {key}={payload['settings'].get(key)!r}, not {value!r}; "
                    "resume with the same settings or use another --out"
                )
    from search_spaces.segmentation_net import SegmentationNet

    _seed_everything(seed)
    model = SegmentationNet(cfg)
    trainer = SegmentationTrainer(
        model, data, epochs=epochs, batch_size=batch_size, seed=seed, device=device, lr=lr, progress=progress
    )
    trainer.max_steps = max_steps
    if payload is not None:
        trainer.load_state_dict(payload)
        if progress:
            _say(f"resuming from epoch {trainer.epoch} of {epochs} (checkpoint {path})")
    elif path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path.parent / "config.json", cfg.to_json(indent=2) + "\n")
        save_checkpoint(path, trainer, cfg, settings, fmt=CHECKPOINT_FORMAT)
    try:
        while trainer.epoch < epochs:
            trainer.run_epoch()
            if path is not None:
                save_checkpoint(path, trainer, cfg, settings, fmt=CHECKPOINT_FORMAT)
                write_json_atomic(path.parent / "history.json", trainer.history)
    except KeyboardInterrupt:
        if path is not None:
            _say(f"interrupted: the checkpoint after epoch {trainer.epoch} is kept in {path.parent}; --resume")
        raise
    final = trainer.last_scores or trainer.evaluate()  # a resumed finished run has not evaluated yet
    trainer.model.eval()
    if path is not None:
        write_json_atomic(path.parent / "scores.json", final.to_dict(data.class_names))
    return SegmentationResult(
        model=trainer.model,
        config=cfg,
        history=trainer.history,
        scores=final,
        checkpoint=path,
        seconds=time.perf_counter() - started,
        data_name=data.name,
        settings=settings,
    )


def proxy_miou(
    config: Any,
    data: SegmentationData,
    *,
    epochs: int = 3,
    max_steps: int | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    seed: int = 0,
    report: Any = None,
    bn_batches: int = 4,
    lr: float = PROXY_LEARNING_RATE,
) -> Any:
    """The search's quality objective for segmentation: train `config` briefly on `data`, return its
    validation mIoU per epoch (a `nas.train.outcome.ProxyOutcome`; a failure is `ok=False` with the reason).
    The recipe is the paper's (Adam, poly 0.9, main + aux loss) at `lr` (default PROXY_LEARNING_RATE).
    BatchNorm statistics are re-estimated from `bn_batches` training batches before each evaluation."""
    from nas.train.outcome import ProxyOutcome
    from nas.train.proxy import failure_reason
    from search_spaces.segmentation_net import SegmentationNet

    curve: list[float] = []
    try:
        cfg = adapt_segmentation_config(resolve_segmentation(config), data)
        _seed_everything(seed)
        trainer = SegmentationTrainer(
            SegmentationNet(cfg), data, epochs=epochs, batch_size=batch_size, seed=seed, device=device, lr=lr
        )
        trainer.max_steps = max_steps
        trainer.bn_recalibration_batches = bn_batches
    except Exception as err:  # recorded as the trial's failure reason; the search goes on
        return ProxyOutcome(False, math.nan, tuple(curve), failure_reason(err))
    for _ in range(epochs):
        try:
            record = trainer.run_epoch()
        except Exception as err:
            return ProxyOutcome(False, math.nan, tuple(curve), failure_reason(err))
        curve.append(float(record["val_miou"]))
        # Outside the try: an exception from `report` (a pruner's signal) must reach the caller.
        if report is not None and report(record["epoch"], curve[-1]):
            break
        if max_steps is not None and trainer.steps_done >= max_steps:
            break
    return ProxyOutcome(True, curve[-1], tuple(curve), None)
