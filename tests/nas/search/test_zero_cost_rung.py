"""The zero-cost first rung: a fake measure decides which proposals are trained; the others are recorded and
told as pruned; a measure that fails ranks last; bad settings get a one-line error."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest

from nas.search.driver import SearchSettings, _validate
from nas.search.errors import SearchError
from nas.search.objectives import select_objectives
from nas.search.searcher import make_searcher_class
from nas.search.space import load_space
from nas.search.zero_cost_rung import ZeroCostRung, make_zero_cost_rung, searcher_screen
from profilers.counting import count

from .test_searcher import BAND, FakeRecorder


class ScreenRecorder(FakeRecorder):
    def __init__(self) -> None:
        super().__init__(values=[1.0, 2.0])
        self.screened: list[tuple[int, Any, str]] = []

    def record_screened(self, number: int, verdict: Any, reason: str, seconds: float) -> None:
        self.screened.append((number, verdict, reason))


def test_the_rung_keeps_the_top_fraction_of_what_it_has_scored():
    scores = iter([5.0, 1.0, 7.0, 3.0, 9.0, 0.0])
    rung = ZeroCostRung(lambda _: next(scores), keep=0.5, with_cost=False)
    # n=1: alone, kept; n=2: 1 not in top 1 of {5,1}; n=3: 7 in top 2 of {5,1,7}; n=4: 3 not in top 2;
    # n=5: 9 in top 3; n=6: 0 not in top 3.
    assert [rung.admit(f"k{i}", None, 0)[0] for i in range(6)] == [True, False, True, False, True, False]


def test_with_cost_a_cheap_config_with_a_low_score_survives():
    scores = iter([5.0, 9.0, 1.0])
    rung = ZeroCostRung(lambda _: next(scores), keep=0.5)
    # (score, macs): (5, 100) kept; (9, 200) beats nothing on macs but is non-dominated, ranked by crowding;
    # (1, 10) is the cheapest: non-dominated, a boundary point, kept. By score alone it would be dropped.
    decisions = [rung.admit(f"k{i}", None, m)[0] for i, m in enumerate([100, 200, 10])]
    assert decisions[0] and decisions[2]
    scores = iter([5.0, 9.0, 1.0])
    alone = ZeroCostRung(lambda _: next(scores), keep=0.5, with_cost=False)
    assert not [alone.admit(f"k{i}", None, m)[0] for i, m in enumerate([100, 200, 10])][2]


def test_a_measure_that_fails_ranks_last_and_is_not_trained():
    def score(config: Any) -> float:
        if config == "bad":
            raise RuntimeError("no gradient")
        return 1.0

    rung = ZeroCostRung(score, keep=0.5, with_cost=False)
    assert rung.admit("a", "good", 0) == (True, 1.0)
    trained, value = rung.admit("b", "bad", 0)
    assert not trained and math.isnan(value)


def _searcher(recorder: FakeRecorder, screen: Any) -> Any:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return make_searcher_class()(
        load_space(None),
        BAND,
        select_objectives(["params", "macs"], "cpu"),
        recorder,
        sampler=optuna.samplers.RandomSampler(seed=0),
        storage=optuna.storages.InMemoryStorage(),
        study_name="test",
        max_infeasible=200,
        screen=screen,
    )


def test_a_fake_measure_changes_which_configs_are_trained():
    plain = _searcher(FakeRecorder(values=[1.0, 2.0]), None)
    trained_plain = [plain.suggest(f"t{i}")["espnas_number"] for i in range(4)]
    # The fake measure: smaller networks score higher. Same sampler seed, so the same proposals arrive.
    rung = ZeroCostRung(lambda cfg: -float(count(cfg).conv_macs), keep=1 / 3, with_cost=False)
    recorder = ScreenRecorder()
    screened = _searcher(recorder, searcher_screen(rung))
    trained = [screened.suggest(f"t{i}")["espnas_number"] for i in range(4)]
    assert trained != trained_plain  # the measure changed which configs get trained
    assert trained[0] == trained_plain[0]  # the first feasible proposal is always trained
    # Each proposal is trained exactly when its MACs are among the ceil(n/3) smallest of the n scored so far.
    macs = {t.number: t.user_attrs["conv_macs"] for t in screened._ot_study.trials if "conv_macs" in t.user_attrs}
    scored = sorted([n for n, _, _ in recorder.screened] + trained)
    for i, number in enumerate(scored):
        seen = sorted(macs[n] for n in scored[: i + 1])
        assert (number in trained) == (seen.index(macs[number]) < math.ceil((i + 1) / 3))
    # Screened proposals: recorded with the reason, told to Optuna as pruned, never handed to Tune.
    assert recorder.screened and all(r.startswith("zero-cost rung: zero-cost ") for _, _, r in recorder.screened)
    states = {t.number: t.state for t in screened._ot_study.trials}
    assert all(states[n] == optuna.trial.TrialState.PRUNED for n, _, _ in recorder.screened)
    assert all(states[n] == optuna.trial.TrialState.RUNNING for n in trained)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zero_cost_rung": "flops"}, "zero-cost measure 'flops' is unknown; valid: grad_norm"),
        ({"zero_cost_rung": "synflow", "zero_cost_keep": 0.0}, "keep fraction 0.0 is invalid; valid: 0 < keep <= 1"),
        ({"zero_cost_rung": "synflow", "zero_cost_keep": 1.5}, "keep fraction 1.5 is invalid"),
    ],
)
def test_bad_rung_settings_get_a_one_line_error(changes, message):
    with pytest.raises(SearchError, match=message) as err:
        _validate(SearchSettings(**changes))
    assert "\n" not in str(err.value)


def test_a_named_measure_scores_a_real_config_on_the_data():
    rung = make_zero_cost_rung("synflow", "digits", image_size=32, keep=0.5)
    trained, value = rung.admit("a", "espnetv2-0.5", 1)
    assert trained and math.isfinite(value) and value > 0
    with pytest.raises(SearchError, match="valid: grad_norm"):
        make_zero_cost_rung("nope", "digits", image_size=32)


def test_the_driver_builds_the_screen_only_when_asked():
    from types import SimpleNamespace

    from nas.search.driver import _zero_cost_screen
    from search_spaces import resolve

    assert _zero_cost_screen(SearchSettings()) is None
    screen = _zero_cost_screen(SearchSettings(zero_cost_rung="synflow", zero_cost_keep=0.5, data="digits"))
    small, large = resolve("espnetv2-0.5"), resolve("espnetv2-2.0")
    assert screen(0, SimpleNamespace(config=large, conv_macs=300)) is None  # the first is always trained
    # synflow grows with the network: the smaller one scores lower and costs more "MACs" here, so it is dominated.
    reason = screen(1, SimpleNamespace(config=small, conv_macs=400))
    assert reason is not None and reason.startswith("zero-cost rung: synflow ")
