"""Learning-rate schedules as pure functions of training progress.

A schedule is a small frozen object with `lr(epoch, step=0, steps_per_epoch=1) -> float`: the learning rate
for one optimiser step, computed from where training is, never from a mutable counter. That makes a resumed
run use exactly the rates of an uninterrupted one, and makes each schedule testable point by point.
`to_dict()` / `schedule_from_dict()` store a schedule in a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from search_spaces.errors import EspnasError

# ESPNetv2 (Sec. 4.1, Eq. 1 as the authors' code runs it): eta_min halves at the start of these epochs.
PAPER_HALVING_EPOCHS: tuple[int, ...] = (51, 101, 131, 161, 191, 221, 251, 281)


class Schedule(Protocol):
    """What the trainer needs from a schedule."""

    def lr(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float: ...

    def to_dict(self) -> dict[str, Any]: ...


def cyclic_lr(
    epoch: int,
    *,
    eta_min: float = 0.1,
    cycle: int = 5,
    halving_epochs: tuple[int, ...] = PAPER_HALVING_EPOCHS,
) -> float:
    """ESPNetv2's cyclic learning rate with warm restarts (Eq. 1 as implemented) for 0-based `epoch`.

    Epoch 0 is a warm-up at eta_min. Afterwards lr_t = T*eta_min - ((t-1) mod T)*eta_min, so with the
    paper's T = 5 each cycle runs 5, 4, 3, 2, 1 times eta_min (0.5 .. 0.1), and eta_min is halved at every
    epoch of `halving_epochs` (each lands on a cycle start).
    """
    if epoch < 0:
        raise EspnasError(f"epoch {epoch} is negative; epochs count from 0")
    current_min = eta_min * 0.5 ** sum(1 for e in halving_epochs if epoch >= e)
    if epoch == 0:
        return current_min
    return cycle * current_min - ((epoch - 1) % cycle) * current_min


@dataclass(frozen=True)
class CyclicSchedule:
    """The paper's schedule: constant within an epoch, `cyclic_lr(epoch)` across epochs."""

    eta_min: float = 0.1
    cycle: int = 5
    halving_epochs: tuple[int, ...] = PAPER_HALVING_EPOCHS
    name: str = field(default="cyclic", init=False)

    def lr(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        return cyclic_lr(epoch, eta_min=self.eta_min, cycle=self.cycle, halving_epochs=self.halving_epochs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _progress(
    epoch: int, step: int, steps_per_epoch: int, base_lr: float, warmup_epochs: float
) -> tuple[float, float | None]:
    """Training progress in epochs (fractional), and the linear warm-up rate while still warming up."""
    t = epoch + step / max(1, steps_per_epoch)
    if t < warmup_epochs:
        return t, base_lr * (t + 1 / max(1, steps_per_epoch)) / warmup_epochs
    return t, None


@dataclass(frozen=True)
class PolySchedule:
    """Polynomial decay per step, base_lr * (1 - progress)^power, with an optional linear warm-up (epochs)."""

    base_lr: float
    total_epochs: int
    power: float = 0.9
    warmup_epochs: float = 0.0
    name: str = field(default="poly", init=False)

    def lr(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        t, warm = _progress(epoch, step, steps_per_epoch, self.base_lr, self.warmup_epochs)
        if warm is not None:
            return warm
        progress = min(1.0, t / max(1e-12, self.total_epochs))
        return self.base_lr * (1.0 - progress) ** self.power

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CosineSchedule:
    """Linear warm-up then cosine decay to `final_fraction * base_lr`, per step: the short recipe's schedule."""

    base_lr: float
    total_epochs: int
    warmup_epochs: float = 0.5
    final_fraction: float = 0.0
    name: str = field(default="cosine", init=False)

    def lr(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        t, warm = _progress(epoch, step, steps_per_epoch, self.base_lr, self.warmup_epochs)
        if warm is not None:
            return warm
        span = max(1e-12, self.total_epochs - self.warmup_epochs)
        progress = min(1.0, (t - self.warmup_epochs) / span)
        floor = self.final_fraction * self.base_lr
        return floor + (self.base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SCHEDULES = {"cyclic": CyclicSchedule, "poly": PolySchedule, "cosine": CosineSchedule}


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """Rebuild a schedule stored by `to_dict()` (e.g. from a checkpoint)."""
    fields = dict(data)
    name = fields.pop("name", None)
    if name not in _SCHEDULES:
        raise EspnasError(f"unknown schedule {name!r}; valid: {', '.join(sorted(_SCHEDULES))}")
    if "halving_epochs" in fields:
        fields["halving_epochs"] = tuple(fields["halving_epochs"])
    return _SCHEDULES[name](**fields)
