"""Training EESP networks: the paper's recipe for final models, a short recipe for small data and the proxy.

`train(config, data)` builds the network, trains it and returns a `TrainResult` (the model in eval mode and a
per-epoch history). Every epoch ends with an atomic checkpoint (weights, optimiser, scheduler, epoch, RNG states,
config JSON); `resume=True` continues from it. A resumed CPU run ends bit for bit where an uninterrupted run of
the same seed ends, because nothing carries over between epochs except what the checkpoint holds: the batch
order, augmentation and dropout of epoch e are seeded from (seed, e), and the learning rate is a pure function
of (epoch, step).
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.train.checks import check_train_settings
from nas.train.cleanup import fresh_files, remove_created
from nas.train.data import DataSource, epoch_seed, load_data
from nas.train.schedule import CosineSchedule, CyclicSchedule, PolySchedule, Schedule, schedule_from_dict
from profilers.counting import count
from results.files import atomic_path, remove_stale_temps, write_json_atomic, write_text_atomic
from search_spaces import EESPConfig, build, resolve
from search_spaces.errors import EspnasError, Interrupted

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "espnas-checkpoint-1"


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, learning-rate schedule, regularisation and default budget."""

    name: str
    optimizer: str  # "sgd" (Nesterov) or "adam"
    schedule: str  # "cyclic" (the paper's Eq. 1), "cosine" (warm-up + cosine) or "poly"
    lr: float  # eta_min for "cyclic"; the peak rate otherwise
    weight_decay: float
    epochs: int
    batch_size: int
    momentum: float = 0.9
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # max global gradient norm, None for no clipping
    warmup_epochs: float = 0.0

    def make_schedule(self, epochs: int) -> Schedule:
        if self.schedule == "cyclic":
            return CyclicSchedule(eta_min=self.lr)
        if self.schedule == "cosine":
            return CosineSchedule(base_lr=self.lr, total_epochs=epochs, warmup_epochs=self.warmup_epochs)
        if self.schedule == "poly":
            return PolySchedule(base_lr=self.lr, total_epochs=epochs, warmup_epochs=self.warmup_epochs)
        raise EspnasError(f"recipe {self.name!r} has unknown schedule {self.schedule!r}; valid: cyclic, cosine, poly")

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        # No weight decay on BatchNorm/PReLU/bias parameters (all 1-D): decaying PReLU slopes hurts small nets.
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if self.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum, nesterov=True)
        if self.optimizer == "adam":
            return torch.optim.AdamW(groups, lr=self.lr)
        raise EspnasError(f"recipe {self.name!r} has unknown optimizer {self.optimizer!r}; valid: sgd, adam")

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)


RECIPES: dict[str, Recipe] = {
    # Sec. 4.1 as implemented: SGD Nesterov, wd 4e-5, batch 512, 300 epochs, cyclic LR with warm restarts.
    "paper": Recipe("paper", "sgd", "cyclic", lr=0.1, weight_decay=4e-5, epochs=300, batch_size=512),
    # For small data and few epochs: a short warm-up, cosine decay, label smoothing, gradient clipping.
    "short": Recipe(
        "short",
        "sgd",
        "cosine",
        lr=0.1,
        weight_decay=5e-4,
        epochs=10,
        batch_size=64,
        label_smoothing=0.1,
        grad_clip=5.0,
        warmup_epochs=0.5,
    ),
    # Adam (decoupled weight decay) with polynomial decay: less sensitive to the learning rate.
    "adam": Recipe(
        "adam", "adam", "poly", lr=2e-3, weight_decay=1e-4, epochs=10, batch_size=64, grad_clip=5.0, warmup_epochs=0.5
    ),
}


def get_recipe(recipe: str | Recipe) -> Recipe:
    """A recipe by name (paper, short, adam) or the recipe itself."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise EspnasError(f"unknown recipe {recipe!r}; valid: {', '.join(RECIPES)}")
    return RECIPES[recipe]


@dataclass
class TrainResult:
    """What `train` returns: the trained model (eval mode), its config and the per-epoch history."""

    model: nn.Module
    config: EESPConfig
    history: list[dict[str, Any]]
    final_top1: float
    final_top5: float
    checkpoint: Path | None
    seconds: float
    data_name: str
    settings: dict[str, Any] = field(default_factory=dict)


def resolve_device(device: str | torch.device) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available) as a torch.device; an error if unavailable."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise EspnasError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N, auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EspnasError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise EspnasError(f"device {device!r} is not supported; valid: cpu, cuda, cuda:N, auto")
    return dev


def adapt_config(config: EESPConfig, data: DataSource) -> EESPConfig:
    """The config with its classifier and counting input size matched to the data."""
    size = (data.image_size, data.image_size)
    if config.num_classes == data.num_classes and tuple(config.input_size) == size:
        return config
    return config.replace(num_classes=data.num_classes, input_size=size)


def paper_crop_scale(config: EESPConfig) -> tuple[float, float]:
    """The paper's random-resized-crop area range: (0.2, 1) for models under 80M FLOPs at 224, else (0.08, 1)."""
    macs = count(config.replace(input_size=(224, 224))).conv_macs
    return (0.2, 1.0) if macs < 80e6 else (0.08, 1.0)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is among the top-k logits, for each k (k clipped to the class count)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hits = top == labels.view(-1, 1)
    return [hits[:, : min(k, kmax)].any(dim=1).sum() for k in ks]


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_tuplify(state["python"]))


def _tuplify(value: Any) -> Any:
    return tuple(_tuplify(v) for v in value) if isinstance(value, (list, tuple)) else value


class Trainer:
    """Trains one model on one data source; one call of `run_epoch` is one epoch plus validation.

    The trainer owns the optimiser, the schedule and (on CUDA) the AMP gradient scaler. `max_steps` caps the
    total optimiser steps (the proxy's budget); `progress` shows a tqdm bar with loss, accuracy and images/s.
    """

    def __init__(
        self,
        model: nn.Module,
        data: DataSource,
        recipe: Recipe,
        *,
        epochs: int,
        batch_size: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        amp: bool | None = None,
        max_steps: int | None = None,
        progress: bool = False,
        bn_recalibration_batches: int = 0,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.data = data
        self.recipe = recipe
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.amp = (self.device.type == "cuda") if amp is None else bool(amp and self.device.type == "cuda")
        self.max_steps = max_steps
        self.progress = progress
        self.bn_recalibration_batches = int(bn_recalibration_batches)
        self.optimizer = recipe.make_optimizer(self.model)
        self.schedule = recipe.make_schedule(self.epochs)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.steps_done = 0
        self.epoch = 0  # completed epochs
        self.history: list[dict[str, Any]] = []

    # ----- one epoch --------------------------------------------------------------------------------------

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training split; returns loss, accuracy, images, seconds and images/s."""
        _seed_everything(epoch_seed(self.seed, epoch, 1))  # dropout and any global randomness
        loader = self.data.loader("train", self.batch_size, seed=self.seed, epoch=epoch)
        steps = len(loader)
        if self.max_steps is not None:
            steps = max(0, min(steps, self.max_steps - self.steps_done))
        self.model.train()
        # On CUDA, check the loss for NaN every few steps only: reading it forces a device sync.
        check_every = 1 if self.device.type == "cpu" else 25
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        images = 0
        bar = self._bar(steps, f"epoch {epoch + 1}/{self.epochs}")
        shown = start = time.perf_counter()
        non_blocking = self.device.type == "cuda"
        for step, (x, y) in enumerate(loader):
            if step >= steps:
                break
            x = x.to(self.device, non_blocking=non_blocking)
            y = y.to(self.device, non_blocking=non_blocking)
            lr = self.schedule.lr(epoch, step, steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = self.model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
            if (step + 1) % check_every == 0 and not math.isfinite(loss.item()):
                raise TrainingDivergedError(f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.recipe.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.steps_done += 1
            n = len(y)
            images += n
            loss_sum += loss.detach().float() * n
            correct += (logits.detach().argmax(1) == y).sum()
            if bar is not None:
                bar.update(1)
                now = time.perf_counter()
                if now - shown > 0.5:
                    shown = now
                    bar.set_postfix(
                        loss=f"{loss_sum.item() / images:.3f}",
                        acc=f"{correct.item() / images:.3f}",
                        img_s=f"{images / (now - start):.0f}",
                        refresh=False,
                    )
        seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        mean_loss = loss_sum.item() / max(1, images)
        if not math.isfinite(mean_loss):
            raise TrainingDivergedError(f"loss became {mean_loss} in epoch {epoch + 1}")
        return {
            "train_loss": mean_loss,
            "train_acc": correct.item() / max(1, images),
            "lr": self.schedule.lr(epoch, 0, max(1, steps)),
            "images": images,
            "train_seconds": seconds,
            "images_per_s": images / seconds if seconds > 0 else 0.0,
        }

    @torch.no_grad()
    def recalibrate_bn(self, epoch: int, batches: int) -> None:
        """Re-estimate BatchNorm statistics as an exact average over `batches` training batches ("precise BN").

        After a few dozen steps the running averages lag far behind the weights, so a short run evaluated with
        them can look like chance even when it has learned; the proxy recalibrates before every evaluation.
        """
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms or batches <= 0:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: every batch counts equally
        self.model.train()
        loader = self.data.loader("train", self.batch_size, seed=epoch_seed(self.seed, epoch, 2), epoch=epoch)
        for i, (x, _) in enumerate(loader):
            if i >= batches:
                break
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                self.model(x.to(self.device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation loss, top-1 and top-5 accuracy (fractions)."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        hits1 = torch.zeros((), dtype=torch.long, device=self.device)
        hits5 = torch.zeros((), dtype=torch.long, device=self.device)
        total = 0
        for x, y in self.data.loader("val", max(self.batch_size, 256), seed=self.seed):
            x, y = x.to(self.device), y.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = self.model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            c1, c5 = topk_correct(logits, y)
            hits1 += c1
            hits5 += c5
            total += len(y)
        total = max(1, total)
        return {"val_loss": loss_sum.item() / total, "val_top1": hits1.item() / total, "val_top5": hits5.item() / total}

    def run_epoch(self) -> dict[str, Any]:
        """Train the next epoch, validate, append and return its history record."""
        epoch = self.epoch
        start = time.perf_counter()
        record: dict[str, Any] = {"epoch": epoch + 1, **self.train_epoch(epoch)}
        self.recalibrate_bn(epoch, self.bn_recalibration_batches)
        record.update(self.evaluate())
        record["seconds"] = time.perf_counter() - start
        self.epoch += 1
        self.history.append(record)
        if self.progress:
            from tqdm import tqdm

            tqdm.write(
                f"epoch {record['epoch']}/{self.epochs}: loss {record['train_loss']:.4f} "
                f"acc {record['train_acc']:.4f} val top1 {record['val_top1']:.4f} top5 {record['val_top5']:.4f} "
                f"lr {record['lr']:.4g} {record['images_per_s']:.0f} img/s {record['seconds']:.1f} s"
            )
        return record

    @property
    def budget_spent(self) -> bool:
        return self.max_steps is not None and self.steps_done >= self.max_steps

    def _bar(self, total: int, desc: str) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True, mininterval=0.5)

    # ----- checkpoints ------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "schedule": self.schedule.to_dict(),
            "epoch": self.epoch,
            "steps_done": self.steps_done,
            "history": self.history,
            "rng": _rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.schedule = schedule_from_dict(state["schedule"])
        self.epoch = int(state["epoch"])
        self.steps_done = int(state["steps_done"])
        self.history = list(state["history"])
        _set_rng_state(state["rng"])


def save_checkpoint(
    path: Path, trainer: Any, config: Any, settings: dict[str, Any], *, fmt: str = CHECKPOINT_FORMAT
) -> None:
    """Write the trainer's state, the config JSON and the run settings to `path` atomically. `trainer` and
    `config` are any with `state_dict()` and `to_json()` (the segmentation trainer passes its own `fmt`)."""
    payload = {"format": fmt, "config": config.to_json(), "settings": settings, **trainer.state_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def load_checkpoint(path: Path, *, fmt: str = CHECKPOINT_FORMAT) -> dict[str, Any]:
    """A checkpoint of format `fmt` written by `save_checkpoint` (loaded with weights_only: no code runs)."""
    if not path.is_file():
        raise EspnasError(f"no checkpoint at {path} to resume from; run without --resume to start")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise EspnasError(f"{path} is not a readable espnas checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise EspnasError(f"{path} is not an espnas checkpoint (expected format {fmt})")
    return payload


def _check_resume(path: Path, payload: dict[str, Any], config: EESPConfig, settings: dict[str, Any]) -> None:
    if payload["config"] != config.to_json():
        old = EESPConfig.from_json(payload["config"])
        raise EspnasError(
            f"checkpoint {path} is for config {old.arch_id} ({old.to_compact()}), not {config.arch_id}; "
            "resume with the same spec and data or use another --out"
        )
    for key, value in settings.items():
        # The paper's cyclic schedule does not depend on the total, so such a run may be extended.
        if key == "epochs" and settings["recipe"]["schedule"] == "cyclic" and value >= payload["epoch"]:
            continue
        if payload["settings"].get(key) != value:
            raise EspnasError(
                f"checkpoint {path} was written with {key}={payload['settings'].get(key)!r}, not {value!r}; "
                f"resume with the same settings or use another --out"
            )


def train(
    config: EESPConfig | str | os.PathLike[str],
    data: DataSource | str | os.PathLike[str],
    *,
    recipe: str | Recipe = "short",
    epochs: int | None = None,
    batch_size: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    image_size: int | None = None,
    label_smoothing: float | None = None,
    grad_clip: float | None = None,
) -> TrainResult:
    """Train `config` (a config or spec) on `data` (a DataSource or a `load_data` source) and return the result.

    The config's classifier and input size are adapted to the data. With `out_dir`, a checkpoint is written
    there after every epoch (and once before the first, so an early kill can resume too); `resume=True`
    continues from it and refuses a checkpoint of another config or settings. `epochs` and `batch_size`
    default to the checkpoint's on resume, else to the recipe's. A fresh run overwrites an existing checkpoint.
    """
    started = time.perf_counter()
    check_train_settings(
        seed=seed, image_size=image_size, label_smoothing=label_smoothing, grad_clip=grad_clip,
        epochs=epochs, batch_size=batch_size, out_dir=out_dir,
    )  # fmt: skip
    base = resolve(config)
    the_recipe = get_recipe(recipe)
    if label_smoothing is not None:
        the_recipe = the_recipe.replace(label_smoothing=float(label_smoothing))
    if grad_clip is not None:
        the_recipe = the_recipe.replace(grad_clip=float(grad_clip) if grad_clip > 0 else None)
    if not isinstance(data, DataSource):
        size = image_size if image_size is not None else (32 if str(data) == "digits" else int(base.input_size[0]))
        data = load_data(data, size, seed=seed, crop_scale=paper_crop_scale(base))
    cfg = adapt_config(base, data)
    path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    payload = None
    if resume:
        if path is None:
            raise EspnasError("resume needs an output directory holding a checkpoint (--out DIR)")
        payload = load_checkpoint(path)
        epochs = epochs if epochs is not None else payload["settings"]["epochs"]
        batch_size = batch_size if batch_size is not None else payload["settings"]["batch_size"]
    epochs = int(epochs if epochs is not None else the_recipe.epochs)
    batch_size = int(batch_size if batch_size is not None else the_recipe.batch_size)
    if epochs < 1 or batch_size < 1:
        raise EspnasError(f"epochs={epochs} and batch_size={batch_size} must both be positive integers")
    settings = {
        "recipe": dataclasses.asdict(the_recipe),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "data": data.name,
        "image_size": data.image_size,
    }
    if payload is not None:
        _check_resume(path, payload, cfg, settings)

    _seed_everything(seed)
    model = build(cfg)
    trainer = Trainer(
        model, data, the_recipe, epochs=epochs, batch_size=batch_size, seed=seed, device=device, progress=progress
    )
    if payload is not None:
        trainer.load_state_dict(payload)
        print(f"resuming from epoch {trainer.epoch} of {epochs} (checkpoint {path})", flush=True)
    created = fresh_files(path) if payload is None else []
    if path is not None:
        remove_stale_temps(path.parent)  # a kill -9 during a checkpoint write leaves its temporary file
    if payload is None and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path.parent / "config.json", cfg.to_json(indent=2) + "\n")
        save_checkpoint(path, trainer, cfg, settings)
    saved = trainer.epoch  # the epoch the checkpoint on disk holds
    try:
        while trainer.epoch < epochs:
            trainer.run_epoch()
            if path is not None:
                save_checkpoint(path, trainer, cfg, settings)
                saved = trainer.epoch
                write_json_atomic(path.parent / "history.json", trainer.history)
    except BaseException as err:
        if saved == 0:  # not one epoch finished: nothing worth resuming, so nothing is left behind
            remove_created(created)
        if isinstance(err, KeyboardInterrupt):  # Ctrl-C: say what is kept (checkpoints are atomic, so whole)
            if path is None or saved == 0:
                raise Interrupted("nothing kept") from None
            raise Interrupted(f"the checkpoint after epoch {saved} of {epochs} is kept in {path.parent}") from None
        raise
    trainer.model.eval()
    last = trainer.history[-1] if trainer.history else trainer.evaluate()
    return TrainResult(
        model=trainer.model,
        config=cfg,
        history=trainer.history,
        final_top1=float(last["val_top1"]),
        final_top5=float(last["val_top5"]),
        checkpoint=path,
        seconds=time.perf_counter() - started,
        data_name=data.name,
        settings=settings,
    )
