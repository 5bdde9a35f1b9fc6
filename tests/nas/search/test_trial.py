"""`run_trial` as a plain function: retries with a new seed, failure reasons that count the attempts, and what
is recorded when a retry succeeds. The task's data and proxy training and the measurement are fakes (no Ray,
no training): each test scripts what every attempt does."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

import nas.search.tasks as tasks
import nas.search.trial as trial_module
from nas.search.trial import RETRY_SEED_STRIDE, TrialJob, run_trial
from nas.train.outcome import ProxyOutcome
from search_spaces import EESPConfig

CONFIG = EESPConfig.from_scale(0.5)
TRIAL = {"espnas_config_json": CONFIG.to_json(), "espnas_number": 3, "espnas_params": 11.0, "espnas_macs": 22.0}
JOB = TrialJob(
    train=True, measure=(), data="fake", image_size=32, proxy_epochs=2, proxy_max_steps=None, batch_size=8,
    device="cpu", threads=1, measure_threads=1, retries=1, seed=5, latency_budget_s=0.1, latency_batch=1,
    targets=(), namespace="test",
)  # fmt: skip


def ok(*epochs: float, curve: tuple[float, ...] = ()) -> Callable[[Callable], ProxyOutcome]:
    """An attempt that reports `epochs` and succeeds with the last one as its value."""

    def attempt(report: Callable[[int, float], Any]) -> ProxyOutcome:
        for i, acc in enumerate(epochs):
            report(i + 1, acc)
        return ProxyOutcome(True, epochs[-1], curve)

    return attempt


def fails(reason: str | None, *epochs: float, value: float = math.nan, ok: bool = False) -> Callable:
    """An attempt that reports `epochs`, then fails with `reason` (or returns a non-finite value)."""

    def attempt(report: Callable[[int, float], Any]) -> ProxyOutcome:
        for i, acc in enumerate(epochs):
            report(i + 1, acc)
        return ProxyOutcome(ok, value, (), reason)

    return attempt


def raises(err: Exception) -> Callable:
    def attempt(report: Callable[[int, float], Any]) -> ProxyOutcome:
        raise err

    return attempt


@dataclasses.dataclass
class Fakes:
    """What the fakes saw: the seed and arguments of every proxy call, every report, every measurement."""

    plan: list[Callable] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)
    proxy_kwargs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    reports: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    measured: list[tuple[str, tuple[str, ...]]] = dataclasses.field(default_factory=list)
    measurement: Callable[[], dict[str, Any]] = lambda: {"latency_ms": 1.5}

    def run(self, job: TrialJob = JOB, **changes: Any) -> dict[str, Any]:
        return run_trial(TRIAL, dataclasses.replace(job, **changes), self.reports.append)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    got = Fakes()
    threads = torch.get_num_threads()

    def proxy(config: Any, data: Any, *, seed: int, report: Callable, **kwargs: Any) -> ProxyOutcome:
        assert config == CONFIG and data == "the data"
        got.seeds.append(seed)
        got.proxy_kwargs.append(kwargs)
        return got.plan.pop(0)(report)

    task = dataclasses.replace(tasks.TASKS["classification"], load_data=lambda *a: "the data", proxy=proxy)
    monkeypatch.setattr(tasks, "get_task", lambda name: task)

    def measure_all(config_json: str, job: TrialJob) -> dict[str, Any]:
        got.measured.append((config_json, job.measure))
        return got.measurement()

    monkeypatch.setattr(trial_module, "_measure_all", measure_all)
    yield got
    torch.set_num_threads(threads)  # run_trial sets the trial's thread count for the process


def test_each_attempt_trains_with_its_own_seed(fakes: Fakes) -> None:
    fakes.plan += [fails("a"), fails("b"), fails("c")]
    fakes.run(retries=2)
    # seed + number + attempt * stride, by hand: 5 + 3 = 8, then 8 + 100003, then 8 + 2 * 100003.
    assert RETRY_SEED_STRIDE == 100_003
    assert fakes.seeds == [8, 100_011, 200_014]
    assert fakes.proxy_kwargs[0] == {"epochs": 2, "max_steps": None, "batch_size": 8, "device": "cpu"}


def test_a_named_proxy_recipe_reaches_the_task_proxy(fakes: Fakes) -> None:
    fakes.plan += [ok(0.5)]
    fakes.run(proxy_recipe="proxy-adam")
    assert fakes.proxy_kwargs[0]["recipe"] == "proxy-adam"


def test_the_classifier_proxy_trains_with_the_named_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.train.proxy as proxy_module

    seen = []

    def proxy_accuracy(config: Any, data: Any, *, recipe: Any, **kwargs: Any) -> Any:
        seen.append(recipe)
        return proxy_module.ProxyResult(True, 0.5, (0.5,), None, 0.0, 1)

    monkeypatch.setattr(proxy_module, "proxy_accuracy", proxy_accuracy)
    tasks.TASKS["classification"].proxy(CONFIG, "d", recipe="proxy-adam")
    tasks.TASKS["classification"].proxy(CONFIG, "d")
    assert [r.optimizer for r in seen] == ["adam", "sgd"] and seen[0].name == "proxy-adam"


def test_the_seed_stays_a_31_bit_integer(fakes: Fakes) -> None:
    fakes.plan += [ok(0.5)]
    fakes.run(seed=2**31 - 1)
    assert fakes.seeds == [(2**31 - 1 + 3) - 2**31] == [2]


def test_a_trial_that_fails_every_attempt_counts_them_and_gives_the_last_reason(fakes: Fakes) -> None:
    fakes.plan += [fails("diverged at step 1"), fails("diverged at step 2"), fails("out of memory")]
    result = fakes.run(retries=2, measure=("latency_ms",))
    assert result["espnas_status"] == "failed"
    assert result["espnas_reason"] == "training (3 attempts, each with its own seed): out of memory"
    assert "accuracy" not in result and fakes.measured == []  # a failed training is not measured
    assert json.loads(result["espnas_curve_json"]) == []


def test_without_retries_the_reason_says_no_attempt_count(fakes: Fakes) -> None:
    fakes.plan += [fails("diverged at step 1")]
    result = fakes.run(retries=0)
    assert len(fakes.seeds) == 1
    assert (result["espnas_status"], result["espnas_reason"]) == ("failed", "training: diverged at step 1")


@pytest.mark.parametrize(
    ("attempt", "reason"),
    [
        (raises(ValueError("boom\nsecond line")), "ValueError: boom"),  # an exception: one line, with its type
        (fails(None, value=math.inf, ok=True), "proxy accuracy is not finite"),  # "ok" but an infinite value
        (fails(None), "proxy accuracy is not finite"),  # failed without saying why
    ],
)
def test_what_a_failed_attempt_is_recorded_as(fakes: Fakes, attempt: Callable, reason: str) -> None:
    fakes.plan += [attempt]
    result = fakes.run(retries=0)
    assert result["espnas_reason"] == f"training: {reason}"


def test_success_after_a_failed_attempt_records_the_successful_attempt(fakes: Fakes) -> None:
    fakes.plan += [fails("diverged at step 9", 0.1), ok(0.5, 0.7)]
    result = fakes.run(retries=2, measure=("latency_ms",))
    assert len(fakes.seeds) == 2  # no third attempt after a success
    assert result["espnas_status"] == "complete"
    assert result["espnas_reason"] == "complete on attempt 2; attempt 1 failed: diverged at step 9"
    assert result["accuracy"] == 0.7
    # The curve is the successful attempt's epochs only, not the failed attempt's 0.1.
    assert json.loads(result["espnas_curve_json"]) == [0.5, 0.7]
    # Measured once, after the successful training, with the trial's config.
    assert fakes.measured == [(CONFIG.to_json(), ("latency_ms",))] and result["latency_ms"] == 1.5
    assert (result["params"], result["macs"], result["espnas_final"]) == (11.0, 22.0, True)
    assert fakes.reports[-1] == {"accuracy": 0.7, "epoch": 2, "espnas_final": False}


def test_the_proxys_own_curve_is_recorded_when_it_gives_one(fakes: Fakes) -> None:
    fakes.plan += [ok(0.4, 0.6, curve=(0.41, 0.61))]
    result = fakes.run()
    assert json.loads(result["espnas_curve_json"]) == [0.41, 0.61]
    assert result["espnas_reason"] is None  # complete at the first attempt: nothing to say


def test_a_failed_measurement_fails_the_trial_with_its_reason(fakes: Fakes) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("no power source for cpu")

    fakes.measurement = broken
    fakes.plan += [ok(0.5)]
    result = fakes.run(measure=("energy_mj",))
    assert result["espnas_status"] == "failed"
    assert result["espnas_reason"] == "measurement: RuntimeError: no power source for cpu"


def test_a_trial_without_training_is_only_measured(fakes: Fakes) -> None:
    result = fakes.run(train=False, measure=("latency_ms",))
    assert fakes.seeds == [] and result["espnas_status"] == "complete" and result["latency_ms"] == 1.5
    assert json.loads(result["espnas_curve_json"]) == []


def test_the_scheduler_sees_each_epoch_once_across_retries(fakes: Fakes) -> None:
    # Attempt 1 reports epochs 1-2 and fails; attempt 2 re-trains epochs 1-2 (not reported again), then epoch 3.
    fakes.plan += [fails("diverged", 0.1, 0.2), ok(0.3, 0.4, 0.5)]
    result = fakes.run(retries=1)
    assert [(r["epoch"], r["accuracy"]) for r in fakes.reports] == [(1, 0.1), (2, 0.2), (3, 0.5)]
    assert result["espnas_attempts"] == 2


@pytest.mark.parametrize(("plan", "retries", "attempts"), [
    (["ok"], 2, 1),
    (["fail", "ok"], 2, 2),
    (["fail", "fail", "fail"], 2, 3),
    (["fail"], 0, 1),
])  # fmt: skip
def test_attempts_counts_every_attempt_made(fakes: Fakes, plan: list[str], retries: int, attempts: int) -> None:
    fakes.plan += [ok(0.5) if step == "ok" else fails("boom", 0.1) for step in plan]
    assert fakes.run(retries=retries)["espnas_attempts"] == attempts
