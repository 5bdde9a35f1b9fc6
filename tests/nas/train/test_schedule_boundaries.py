"""The schedules at their edges, with values worked by hand: the end of a warm-up, the clamp past the last epoch,
the cosine floor, a non-paper cyclic schedule, and a schedule stored as JSON (a list, not a tuple)."""

from __future__ import annotations

import json
import math

import pytest

from nas.train.schedule import CosineSchedule, CyclicSchedule, PolySchedule, schedule_from_dict
from search_spaces.errors import EspnasError


def test_cyclic_schedule_uses_its_own_min_cycle_and_halvings():
    # eta_min 0.2, T = 3, eta_min halves at epoch 4: warm-up 0.2, then 3, 2, 1 x 0.2, then 3, 2, 1 x 0.1.
    sched = CyclicSchedule(eta_min=0.2, cycle=3, halving_epochs=(4,))
    expected = [0.2, 0.6, 0.4, 0.2, 0.3, 0.2, 0.1, 0.3]
    assert [sched.lr(e) for e in range(8)] == pytest.approx(expected)


def test_warm_up_with_one_step_per_epoch_reaches_the_base_rate_at_its_last_epoch():
    # Two warm-up epochs of one step each: the rate after the first step is 1/2 of base, after the second base.
    for sched in (
        PolySchedule(base_lr=1.0, total_epochs=10, warmup_epochs=2),
        CosineSchedule(base_lr=1.0, total_epochs=10, warmup_epochs=2),
    ):
        assert sched.lr(0) == pytest.approx(0.5), sched.name
        assert sched.lr(1) == pytest.approx(1.0), sched.name


def test_poly_clamps_at_zero_past_its_last_epoch():
    sched = PolySchedule(base_lr=1.0, total_epochs=4, power=1.0)
    assert [sched.lr(e) for e in range(4)] == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert sched.lr(4) == 0.0
    assert sched.lr(6) == 0.0  # progress 1.5 is clamped to 1; unclamped, (1 - 1.5)^0.9 would be complex


def test_poly_with_zero_epochs_has_decayed_after_any_progress():
    # total_epochs 0 must not divide by zero: half an epoch in, the rate is already 0.
    sched = PolySchedule(base_lr=1.0, total_epochs=0)
    assert sched.lr(0, 1, 2) == 0.0


def test_cosine_decays_over_the_epochs_after_the_warm_up():
    # 10 epochs, 2 of warm-up: the cosine spans epochs 2..10, so epoch 6 is half way.
    sched = CosineSchedule(base_lr=1.0, total_epochs=10, warmup_epochs=2)
    assert sched.lr(2) == pytest.approx(1.0)
    assert sched.lr(6) == pytest.approx(0.5)
    assert sched.lr(10) == pytest.approx(0.0, abs=1e-12)
    assert sched.lr(12) == pytest.approx(0.0, abs=1e-12)


def test_cosine_over_less_than_one_epoch_after_the_warm_up():
    # One epoch, half of it warm-up: the cosine spans 0.5 epochs; at 0.75 epochs it is half way.
    sched = CosineSchedule(base_lr=1.0, total_epochs=1, warmup_epochs=0.5)
    assert sched.lr(0, 3, 4) == pytest.approx(0.5)


def test_cosine_decays_to_its_floor_not_to_zero():
    # base 0.5, floor 0.1 x 0.5 = 0.05; half way: 0.05 + 0.45 / 2.
    sched = CosineSchedule(base_lr=0.5, total_epochs=10, warmup_epochs=0, final_fraction=0.1)
    assert sched.lr(0) == pytest.approx(0.5)
    assert sched.lr(5) == pytest.approx(0.275)
    assert sched.lr(10) == pytest.approx(0.05)
    assert sched.lr(2) == pytest.approx(0.05 + 0.45 * 0.5 * (1 + math.cos(math.pi * 0.2)))


def test_a_cyclic_schedule_stored_as_json_comes_back_equal():
    # JSON has no tuples: halving_epochs comes back as a list and must become a tuple again.
    stored = json.loads(json.dumps(CyclicSchedule(eta_min=0.2, cycle=3, halving_epochs=(4, 7)).to_dict()))
    assert stored["halving_epochs"] == [4, 7]
    again = schedule_from_dict(stored)
    assert again == CyclicSchedule(eta_min=0.2, cycle=3, halving_epochs=(4, 7))
    assert again.halving_epochs == (4, 7)
    hash(again)  # frozen and hashable only with a tuple


def test_a_dict_without_a_name_is_a_user_error_naming_the_valid_schedules():
    with pytest.raises(EspnasError, match=r"^unknown schedule None; valid: cosine, cyclic, poly$"):
        schedule_from_dict({"base_lr": 0.1})
