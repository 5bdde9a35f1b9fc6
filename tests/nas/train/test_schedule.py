"""The learning-rate schedules: the paper's Eq. 1 as implemented, epoch by epoch, and the per-step ones."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nas.train.schedule import (
    PAPER_HALVING_EPOCHS,
    CosineSchedule,
    CyclicSchedule,
    PolySchedule,
    cyclic_lr,
    schedule_from_dict,
)
from search_spaces.errors import EspnasError


class AuthorsCyclicLR:
    """The authors' stateful scheduler (ESPNetv2 utils), transcribed as an independent oracle.

    It is stepped once per epoch, in order; the pure function must agree with it at every epoch.
    The authors round to 5 decimals; we compare with that tolerance.
    """

    def __init__(self, min_lr=0.1, cycle_len=5, steps=(51, 101, 131, 161, 191, 221, 251, 281), gamma=0.5):
        self.min_lr, self.m, self.steps, self.gamma = min_lr, cycle_len, list(steps), gamma
        self.warm_up_interval, self.counter, self.count_cycles, self.step_counter = 1, 0, 0, 0
        self.stepping = True

    def step(self, epoch):
        if epoch % self.steps[self.step_counter] == 0 and epoch > 1 and self.stepping:
            self.min_lr *= self.gamma
            self.count_cycles = 0
            if self.step_counter < len(self.steps) - 1:
                self.step_counter += 1
            else:
                self.stepping = False
        lr = self.min_lr
        if self.count_cycles < self.warm_up_interval:
            self.count_cycles += 1
            if self.count_cycles == self.warm_up_interval:
                self.warm_up_interval = 0
        else:
            lr = round(self.min_lr * self.m - self.counter * self.min_lr, 5)
            self.counter = (self.counter + 1) % self.m
        return lr


def test_all_300_epochs_match_the_authors_scheduler():
    oracle = AuthorsCyclicLR()
    for epoch in range(300):
        assert cyclic_lr(epoch) == pytest.approx(oracle.step(epoch), abs=5e-6), epoch


def test_first_cycles_and_halvings_by_hand():
    # Epoch 0 is the warm-up at eta_min; then 0.5, 0.4, 0.3, 0.2, 0.1 repeating (Figure 4).
    assert [round(cyclic_lr(e), 10) for e in range(11)] == [0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert cyclic_lr(50) == pytest.approx(0.1)  # last epoch before the first halving
    assert cyclic_lr(51) == pytest.approx(0.25)  # a cycle start with eta_min = 0.05
    assert cyclic_lr(55) == pytest.approx(0.05)
    assert cyclic_lr(101) == pytest.approx(0.125)
    assert cyclic_lr(281) == pytest.approx(5 * 0.1 / 2**8)
    assert cyclic_lr(299) == pytest.approx(2 * 0.1 / 2**8)  # (299 - 1) mod 5 = 3


def test_every_halving_lands_on_a_cycle_start_with_the_peak_halved():
    for i, epoch in enumerate(PAPER_HALVING_EPOCHS):
        assert (epoch - 1) % 5 == 0
        assert cyclic_lr(epoch) == pytest.approx(0.5 / 2 ** (i + 1))
        assert cyclic_lr(epoch - 1) == pytest.approx(0.1 / 2**i)  # the previous cycle's minimum


def test_negative_epoch_is_a_user_error():
    with pytest.raises(EspnasError, match="negative"):
        cyclic_lr(-1)


def test_cyclic_schedule_is_constant_within_an_epoch():
    sched = CyclicSchedule()
    assert {sched.lr(7, s, 10) for s in range(10)} == {cyclic_lr(7)}


@given(epoch=st.integers(0, 60), step=st.integers(0, 99))
def test_cosine_warms_up_then_decays_within_bounds(epoch, step):
    sched = CosineSchedule(base_lr=0.2, total_epochs=60, warmup_epochs=2)
    lr = sched.lr(epoch, step, 100)
    assert 0.0 <= lr <= 0.2 + 1e-12
    if epoch >= 2:  # after the warm-up it never increases
        nxt = sched.lr(epoch, step + 1, 100) if step < 99 else sched.lr(epoch + 1, 0, 100)
        assert nxt <= lr + 1e-12


def test_cosine_and_poly_endpoints():
    cos = CosineSchedule(base_lr=0.1, total_epochs=10, warmup_epochs=0)
    assert cos.lr(0) == pytest.approx(0.1)
    assert cos.lr(5) == pytest.approx(0.05)
    assert cos.lr(10) == pytest.approx(0.0, abs=1e-12)
    poly = PolySchedule(base_lr=1e-3, total_epochs=4, power=0.9)
    assert poly.lr(0) == pytest.approx(1e-3)
    assert poly.lr(2) == pytest.approx(1e-3 * 0.5**0.9)
    warm = PolySchedule(base_lr=1e-3, total_epochs=4, warmup_epochs=1)
    assert warm.lr(0, 0, 4) == pytest.approx(1e-3 / 4)
    assert warm.lr(0, 3, 4) == pytest.approx(1e-3)
    assert math.isclose(warm.lr(1, 0, 4), 1e-3 * 0.75**0.9)


@pytest.mark.parametrize(
    "sched", [CyclicSchedule(), CosineSchedule(base_lr=0.1, total_epochs=7), PolySchedule(base_lr=1, total_epochs=3)]
)
def test_round_trip_through_dict(sched):
    again = schedule_from_dict(sched.to_dict())
    assert again == sched
    assert [again.lr(e, 3, 10) for e in range(8)] == [sched.lr(e, 3, 10) for e in range(8)]


def test_unknown_schedule_name():
    with pytest.raises(EspnasError, match="unknown schedule"):
        schedule_from_dict({"name": "step"})
