"""The Tune searcher: Ray's OptunaSearch with the FLOP band checked in `suggest` and record-then-tell in
`on_trial_complete`. Every proposal carries the band as Optuna constraints (`Trial.set_constraint`, read by
NSGA-II and TPE), so the sampler learns the band."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nas.search.band import Verdict, band_text, check_band
from nas.search.errors import SearchError
from nas.search.objectives import Selection
from nas.search.recorder import Recorder
from nas.search.recorder import trial_id as espnas_trial_id  # not Tune's trial_id of the methods below
from nas.search.space import SearchSpace


def make_searcher_class() -> type:
    """OptunaSearch with the band check in `suggest` and record-then-tell in `on_trial_complete`.
    Built lazily so that importing this module (or nas.search.driver) does not import Ray."""
    import optuna
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    class BandedOptunaSearch(OptunaSearch):
        """Asks Optuna, checks the FLOP band analytically, records infeasible proposals without running them."""

        def __init__(
            self,
            space: SearchSpace,
            band: tuple[int, int],
            selection: Selection,
            recorder: Recorder,
            *,
            sampler: Any,
            storage: Any,
            study_name: str,
            max_infeasible: int,
            task: str = "classification",
            screen: Any = None,
        ) -> None:
            self.search_space = space
            # (number, feasible verdict) -> None to train it, or why not (nas.search.zero_cost_rung)
            self.screen = screen
            self.task = task  # nas/search/tasks.py: which network's conv MACs the band bounds
            self.band = band
            self.selection = selection
            self.recorder = recorder
            self.max_infeasible = max_infeasible
            self.gave_up: str | None = None
            self.verdicts: dict[str, tuple[int, Verdict]] = {}
            super().__init__(
                space=self._define_by_run,
                metric=selection.metrics,
                mode=selection.modes,
                sampler=sampler,
                storage=storage,
                study_name=study_name,
            )

        def _define_by_run(self, trial: Any) -> None:
            self.search_space.suggest(trial)

        # Tune pickles its search algorithm into the experiment directory (for its own restore, which this
        # search does not use); the live study, storage and recorder stay in the driver.
        def __getstate__(self) -> dict[str, Any]:
            dropped = ("recorder", "_ot_study", "_ot_trials", "_storage", "_sampler", "verdicts")
            return {k: v for k, v in self.__dict__.items() if k not in dropped}

        def save(self, checkpoint_path: str) -> None:
            """No-op: the durable state is the Optuna storage plus the run directory (see the module doc)."""
            Path(checkpoint_path).write_text("state lives in the Optuna storage and the run directory\n")

        def restore(self, checkpoint_path: str) -> None:
            raise SearchError("resume a search with run_search(resume=True), not Tune's restore")

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            if self.gave_up:
                return Searcher.FINISHED
            study = self._ot_study
            repeats = 0
            for _ in range(self.max_infeasible):
                t = time.perf_counter()
                ot_trial = study.ask()
                flat = self.search_space.suggest(ot_trial)
                verdict = check_band(flat, self.search_space, self.band, self.task)
                for key, value in verdict.constraints.items():
                    ot_trial.set_constraint(key, value)
                if verdict.conv_macs is not None:
                    ot_trial.set_user_attr("conv_macs", verdict.conv_macs)
                    ot_trial.set_user_attr("arch_id", verdict.config.arch_id)
                duplicate = self._duplicate(verdict)
                if verdict.feasible and duplicate is not None:
                    # Already trained and measured in this run: tell the stored values, train nothing.
                    ot_trial.set_user_attr("duplicate_of", duplicate[0])
                    self.recorder.record_duplicate(ot_trial.number, duplicate[0], in_flight=duplicate[1] is None)
                    repeats += 1
                    if duplicate[1] is None:  # in flight: its values are not known yet
                        study.tell(ot_trial, None, state=optuna.trial.TrialState.FAIL)
                    else:
                        study.tell(ot_trial, duplicate[1])
                    continue
                reason = self.screen(ot_trial.number, verdict) if verdict.feasible and self.screen else None
                if reason is not None:  # screened before training: recorded and told as pruned at rung 0
                    self.recorder.record_screened(ot_trial.number, verdict, reason, time.perf_counter() - t)
                    study.tell(ot_trial, None, state=optuna.trial.TrialState.PRUNED)
                    continue
                if verdict.feasible:
                    self._ot_trials[trial_id] = ot_trial
                    self.verdicts[trial_id] = (ot_trial.number, verdict)
                    self.recorder.asked_at[ot_trial.number] = time.time()
                    return {
                        **flat,
                        "espnas_number": ot_trial.number,
                        "espnas_config_json": verdict.config.to_json(),
                        "espnas_params": verdict.params,
                        "espnas_macs": verdict.conv_macs,
                    }
                ot_trial.set_user_attr("infeasible", verdict.reason)
                # Record first, then tell: a kill in between is repaired on resume (see nas.search.resume).
                self.recorder.record_infeasible(ot_trial.number, verdict, time.perf_counter() - t)
                study.tell(ot_trial, [o.infeasible_value for o in self.selection.objectives])
            if repeats == self.max_infeasible:
                self.gave_up = (
                    f"{self.max_infeasible} proposals in a row repeated configs this run already trained; the "
                    "space is exhausted (widen it, or ask for fewer --trials)"
                )
            else:
                repeated = f" or repeated trained configs ({repeats} of them)" if repeats else ""
                self.gave_up = (
                    f"{self.max_infeasible} proposals in a row fell outside the band {band_text(self.band)}"
                    f"{repeated}; widen --flops or edit the space"
                )
            return Searcher.FINISHED

        def _duplicate(self, verdict: Verdict) -> tuple[str, list[float] | None] | None:
            """The trial this proposal repeats: a complete one (with its values) or one in flight."""
            arch = verdict.config.arch_id if verdict.config is not None else None
            if arch is None:
                return None
            done = self.recorder.duplicate_of(arch)
            if done is not None:
                return done[0], done[1]
            for number, other in self.verdicts.values():
                if other.config is not None and other.config.arch_id == arch:
                    return espnas_trial_id(number), None
            return None

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            return  # multi-objective: Optuna takes no intermediate values (early stopping is Tune's)

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self._completed_trials or trial_id not in self.verdicts:
                return
            number, verdict = self.verdicts.pop(trial_id)
            ot_trial = self._ot_trials.pop(trial_id)
            status, values = self.recorder.record_result(number, verdict, result, error)
            state = {
                "complete": optuna.trial.TrialState.COMPLETE,
                "pruned": optuna.trial.TrialState.PRUNED,
            }.get(status, optuna.trial.TrialState.FAIL)
            # Already told (a repaired resume) is fine; any other refusal is a bug and must not be swallowed.
            self._ot_study.tell(ot_trial, values, state=state, skip_if_finished=True)
            self._completed_trials.add(trial_id)

    return BandedOptunaSearch


__all__ = ["make_searcher_class"]
