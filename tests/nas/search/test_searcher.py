"""The Tune searcher on its own (no Ray cluster, no trial run): the FLOP band reaches Optuna as constraints,
infeasible proposals are recorded and told without being run, and a tell that fails is not swallowed."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from nas.search.objectives import select_objectives
from nas.search.searcher import make_searcher_class
from nas.search.space import load_space

BAND = (60_000_000, 120_000_000)
CONSTRAINTS = {"macs_below_band", "macs_above_band", "invalid_config"}


class FakeRecorder:
    """The recorder's interface as the searcher uses it; remembers what it was given."""

    def __init__(self, status: str = "complete", values: list[float] | None = None) -> None:
        self.infeasible: list[tuple[int, Any]] = []
        self.results: list[tuple[int, Any, Any, bool]] = []
        self.duplicates = 0
        self.asked_at: dict[int, float] = {}
        self.status, self.values = status, values

    def record_infeasible(self, number: int, verdict: Any, seconds: float) -> None:
        self.infeasible.append((number, verdict))

    def record_result(self, number: int, verdict: Any, result: Any, error: bool) -> tuple[str, list[float] | None]:
        self.results.append((number, verdict, result, error))
        return self.status, self.values

    def duplicate_of(self, arch_id: str) -> None:
        return None

    def record_duplicate(self, number: int, of: str, in_flight: bool) -> None:
        self.duplicates += 1


def _searcher(recorder: FakeRecorder, seed: int = 0) -> Any:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cls = make_searcher_class()
    return cls(
        load_space(None),
        BAND,
        select_objectives(["params", "macs"], "cpu"),
        recorder,
        sampler=optuna.samplers.RandomSampler(seed=seed),
        storage=optuna.storages.InMemoryStorage(),
        study_name="test",
        max_infeasible=200,
    )


@pytest.fixture(scope="module")
def suggested() -> tuple[Any, FakeRecorder, list[dict[str, Any]]]:
    recorder = FakeRecorder(values=[1.0, 2.0])
    searcher = _searcher(recorder)
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    return searcher, recorder, configs


def test_every_proposal_carries_the_band_as_constraints(suggested):
    searcher, _, _ = suggested
    trials = searcher._ot_study.get_trials()
    assert len(trials) > 3  # some proposals fell outside the band
    assert all(set(t.constraints) == CONSTRAINTS for t in trials)
    for t in trials:
        macs = t.user_attrs["conv_macs"]
        below, above, _ = (t.constraints[k] for k in ("macs_below_band", "macs_above_band", "invalid_config"))
        assert (below > 0) == (macs < BAND[0]) and (above > 0) == (macs > BAND[1])


def test_infeasible_proposals_are_recorded_then_told_the_infeasible_values(suggested):
    searcher, recorder, _ = suggested
    told = [t for t in searcher._ot_study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert told and [t.number for t in told] == [n for n, _ in recorder.infeasible]
    assert all(any(v > 0 for v in t.constraints.values()) for t in told)
    assert all(t.values == [1e12, 1e12] for t in told)  # params and macs: minimised, told the worst value
    assert all(not v.feasible for _, v in recorder.infeasible)


def test_a_feasible_proposal_is_handed_to_tune_in_the_band(suggested):
    searcher, _, configs = suggested
    running = [t for t in searcher._ot_study.get_trials() if t.state == optuna.trial.TrialState.RUNNING]
    assert sorted(t.number for t in running) == sorted(c["espnas_number"] for c in configs)
    for config in configs:
        assert BAND[0] <= config["espnas_macs"] <= BAND[1]
        assert config["espnas_config_json"].startswith("{")


def test_a_finished_trial_is_recorded_then_told():
    recorder = FakeRecorder(values=[123.0, 456.0])
    searcher = _searcher(recorder, seed=1)
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", result={"params": 123.0}, error=False)
    [(number, verdict, result, error)] = recorder.results
    assert number == config["espnas_number"] and verdict.feasible and result == {"params": 123.0} and not error
    trial = searcher._ot_study.get_trials()[number]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.values == [123.0, 456.0]
    searcher.on_trial_complete("a", result={}, error=False)  # a second report of the same trial is ignored
    assert len(recorder.results) == 1


def test_a_failed_trial_is_told_as_failed():
    recorder = FakeRecorder(status="failed", values=None)
    searcher = _searcher(recorder, seed=2)
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", result=None, error=True)
    assert searcher._ot_study.get_trials()[config["espnas_number"]].state == optuna.trial.TrialState.FAIL


def test_a_tell_that_fails_is_not_hidden():
    recorder = FakeRecorder(values=[1.0])  # one value for two objectives: Optuna refuses the tell
    searcher = _searcher(recorder, seed=3)
    searcher.suggest("a")
    with pytest.raises(ValueError):
        searcher.on_trial_complete("a", result={}, error=False)


def test_a_trial_already_told_is_fine():
    recorder = FakeRecorder(values=[1.0, 2.0])
    searcher = _searcher(recorder, seed=4)
    config = searcher.suggest("a")
    searcher._ot_study.tell(config["espnas_number"], [5.0, 6.0])  # as a repaired resume does
    searcher.on_trial_complete("a", result={}, error=False)
    assert searcher._ot_study.get_trials()[config["espnas_number"]].values == [5.0, 6.0]


class AnalyticRecorder(FakeRecorder):
    """Finishes every feasible trial at once with its analytic values (params, conv MACs)."""

    def record_result(self, number: int, verdict: Any, result: Any, error: bool) -> tuple[str, list[float]]:
        super().record_result(number, verdict, result, error)
        return "complete", [float(verdict.params), float(verdict.conv_macs)]


def drive_searcher(sampler: Any, n: int, band: tuple[int, int]) -> optuna.Study:
    """The real searcher's ask / band check / constrain / record / tell loop, without Ray: ask until the study
    holds `n` trials, finishing each feasible proposal at once (as Tune would report it)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = make_searcher_class()(
        load_space(None),
        band,
        select_objectives(["params", "macs"], "cpu"),
        AnalyticRecorder(),
        sampler=sampler,
        storage=optuna.storages.InMemoryStorage(),
        study_name="driven",
        max_infeasible=n,
    )
    number = 0
    while len(searcher._ot_study.trials) < n:
        if not isinstance(searcher.suggest(f"t{number}"), dict):
            break  # gave up: n proposals in a row outside the band
        searcher.on_trial_complete(f"t{number}", result={}, error=False)
        number += 1
    return searcher._ot_study
