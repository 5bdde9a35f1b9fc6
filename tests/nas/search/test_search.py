"""Fast tests of the search plumbing: band check, constraints told to Optuna, objective selection, resume
reconciliation, CLI errors, and one cheap real Ray search (no training)."""

from __future__ import annotations

import json

import optuna
import pytest

from nas.cli import main
from nas.search.driver import (
    SearchError,
    SearchSettings,
    check_band,
    make_sampler,
    parse_band,
    parse_count,
)
from nas.search.objectives import ObjectiveError, get_objective, select_objectives
from nas.search.resume import reconcile
from nas.search.space import load_space, sample_to_config
from profilers.counting import count
from tests.nas.samples import PAPER_SAMPLE as S1
from tests.nas.search.test_searcher import drive_searcher

PAPER = load_space()
BAND = (28_000_000, 284_000_000)


def no_power(device):
    return False, "no RAPL or NVML here"


# ----- parsing --------------------------------------------------------------------------------------------


def test_parse_counts_and_bands():
    assert parse_count("28M") == 28_000_000
    assert parse_count("1.5g") == 1_500_000_000
    assert parse_count("900k") == 900_000
    assert parse_count("12345") == 12345
    assert parse_band("28M:284M") == BAND
    for bad in ("284M:28M", "28M", "x:1M", "-1:2"):
        with pytest.raises(SearchError) as err:
            parse_band(bad)
        assert "\n" not in str(err.value)


# ----- the band check -------------------------------------------------------------------------------------


def test_band_check_in_band():
    v = check_band(S1, PAPER, BAND)
    assert v.feasible and v.reason is None
    assert v.conv_macs == count(sample_to_config(S1, PAPER)).conv_macs
    assert all(c <= 0 for c in v.constraints.values())


def test_band_check_outside_is_infeasible_with_a_reason_and_a_positive_violation():
    big = {**S1, "scale": 2.0, "depth_L4": 9, "depth_L5": 5}
    v = check_band(big, PAPER, BAND)
    assert not v.feasible and "above the band" in v.reason
    assert v.constraints["macs_above_band"] > 0 and v.constraints["macs_below_band"] < 0
    v = check_band(S1, PAPER, (100_000_000, 200_000_000))
    assert not v.feasible and "below the band" in v.reason
    assert v.constraints["macs_below_band"] == pytest.approx((100e6 - v.conv_macs) / 100e6)


def test_band_check_builds_nothing(monkeypatch):
    import search_spaces

    def forbidden(*a, **k):
        raise AssertionError("the band check must not build a model")

    monkeypatch.setattr(search_spaces, "build", forbidden)
    monkeypatch.setattr("torch.nn.Module.__init__", forbidden)
    assert check_band(S1, PAPER, BAND).feasible


def test_invalid_combination_is_infeasible_not_a_crash():
    from nas.search.space import parse_space

    space = parse_space({"knobs": {"scale": [0.5, 0.75]}})
    v = check_band({"scale": 0.75}, space, BAND)
    assert not v.feasible and v.reason.startswith("invalid network")
    assert v.constraints["invalid_config"] == 1.0


# ----- constraints told to Optuna -------------------------------------------------------------------------


def _constrained_study(sampler_name, n, band=BAND):
    """The searcher's own ask / check / constrain / tell loop (no Ray): two analytic objectives."""
    return drive_searcher(make_sampler(sampler_name, 0), n, band)


@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
def test_infeasible_trials_carry_constraints_and_never_reach_the_front(sampler):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _constrained_study(sampler, 40, band=(60_000_000, 120_000_000))
    trials = study.get_trials()
    infeasible = [t for t in trials if any(v > 0 for v in t.constraints.values())]
    assert infeasible, "the narrow band should reject some proposals"
    assert all(set(t.constraints) == {"macs_below_band", "macs_above_band", "invalid_config"} for t in trials)
    front = study.best_trials
    assert front and all(all(v <= 0 for v in t.constraints.values()) for t in front)


def test_tpe_learns_the_band():
    """With the band as constraints, TPE proposes more in-band configs later in the study than at first."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    band = (40_000_000, 90_000_000)
    study = _constrained_study("tpe", 80, band)
    ok = [all(v <= 0 for v in t.constraints.values()) for t in study.get_trials()]
    assert sum(ok[-30:]) / 30 > sum(ok[:30]) / 30


def test_samplers_by_name():
    assert isinstance(make_sampler("nsga2", 1), optuna.samplers.NSGAIISampler)
    assert isinstance(make_sampler("tpe", 1), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("random", 1), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler("QMCSampler", 1), optuna.samplers.QMCSampler)
    assert isinstance(make_sampler("optuna.samplers:RandomSampler", 1), optuna.samplers.RandomSampler)
    with pytest.raises(SearchError, match="unknown sampler 'bogus'"):
        make_sampler("bogus", 0)


# ----- objectives -----------------------------------------------------------------------------------------


def test_default_objectives_drop_energy_without_a_power_source():
    sel = select_objectives(None, "cpu", power_check=no_power)
    assert sel.names == ("accuracy", "latency")
    assert sel.metrics == ["accuracy", "latency_ms"] and sel.modes == ["max", "min"]
    assert "energy dropped" in sel.notes[0] and "no RAPL or NVML here" in sel.notes[0]


def test_default_objectives_keep_energy_with_a_power_source():
    sel = select_objectives(None, "cuda", power_check=lambda d: (True, "nvml"))
    assert sel.names == ("accuracy", "latency", "energy") and not sel.notes


def test_explicit_energy_without_power_is_an_error():
    with pytest.raises(ObjectiveError, match="objective .energy. is unavailable: no RAPL"):
        select_objectives("accuracy,energy", "cpu", power_check=no_power)


def test_objective_names_and_aliases():
    sel = select_objectives("accuracy, latency_ms,params,macs,peak_memory", "cpu", power_check=no_power)
    assert sel.metrics == ["accuracy", "latency_ms", "params", "macs", "peak_memory_mb"]
    assert sel.modes == ["max", "min", "min", "min", "min"]
    assert get_objective("flops").name == "macs"
    with pytest.raises(ObjectiveError, match="unknown objective 'speed'; valid: accuracy"):
        select_objectives("speed", "cpu")
    with pytest.raises(ObjectiveError, match="given twice"):
        select_objectives("latency,latency_ms", "cpu")


# ----- resume reconciliation (Optuna storage vs the run's records) ---------------------------------------


def test_reconcile_tells_recorded_trials_and_requeues_interrupted_ones(tmp_path):
    import pandas as pd

    sel = select_objectives("latency,params", "cpu")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=url, study_name="s", directions=["minimize", "minimize"])
    asked = [study.ask() for _ in range(3)]
    for t in asked:
        PAPER.suggest(t)
    study.tell(asked[0], [5.0, 1e6])  # recorded and told before the kill
    # trial 1 was recorded but the kill came before tell; trial 2 was running
    records = pd.DataFrame(
        [
            {"number": 0, "status": "complete", "latency_ms": 5.0, "params": 1e6},
            {"number": 1, "status": "complete", "latency_ms": 7.0, "params": 2e6},
        ]
    )
    study = optuna.load_study(study_name="s", storage=url)
    told, requeued = reconcile(study, records, sel)
    assert (told, requeued) == (1, 1)
    states = {t.number: t.state for t in study.get_trials()}
    assert states[1] == optuna.trial.TrialState.COMPLETE and study.trials[1].values == [7.0, 2e6]
    assert states[2] == optuna.trial.TrialState.FAIL and study.trials[2].user_attrs["interrupted"]
    waiting = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.WAITING]
    assert len(waiting) == 1
    again = study.ask()  # the next proposal is the interrupted trial's parameters
    assert PAPER.suggest(again) == PAPER.suggest(asked[2]) and again.number == 3


# ----- settings and the CLI -------------------------------------------------------------------------------


def test_settings_round_trip():
    s = SearchSettings(trials=5, flops=(1, 2), objectives=("latency",), targets=("a", "b"))
    assert SearchSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--flops", "300M:28M"], "FLOP band '300M:28M' is empty"),
        (["--trials", "0"], "--trials 0 is invalid"),
        (["--objectives", "speed"], "unknown objective 'speed'"),
        (["--sampler", "bogus"], "unknown sampler 'bogus'"),
        (["--device", "tpu"], "--device 'tpu' is invalid"),
        (["--target-objective", "h100"], "target objective 'h100' is invalid"),
        (["--resume", "--run-dir", "nowhere"], "no run to resume at 'nowhere'"),
        (["--proxy-recipe", "adam"], "--proxy-recipe 'adam' is invalid; valid: proxy, proxy-adam"),
        (["--task", "segmentation", "--proxy-recipe", "proxy-adam"], "--proxy-recipe is for --task classification"),
    ],
)
def test_cli_user_mistakes_are_one_line_errors(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["search", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("espnas search: error:") and words in err and "\n" not in err


# ----- one cheap real search (Ray Tune + Optuna, no training) ---------------------------------------------


def test_cheap_end_to_end_search(tmp_path, capsys):
    """Two trials through Ray Tune on analytic objectives plus a short latency measurement (~15 s, most of it
    Ray's start-up): records appear in the run directory and `espnas pareto` reads them."""
    run_dir = tmp_path / "run"
    argv = ["search", "--objectives", "latency,params", "--trials", "2", "--latency-budget", "0.05"]
    assert main([*argv, "--run-dir", str(run_dir), "--no-progress", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and str(run_dir) in out
    from results.store import open_run

    run = open_run(run_dir)
    trials = run.trials
    feasible = trials[trials["status"] != "infeasible"]
    assert len(feasible) == 2 and set(feasible["status"]) == {"complete"}
    assert feasible["latency_ms"].gt(0).all()
    assert trials["macs"].between(*BAND).sum() == len(feasible)  # every trained/measured trial lies in the band
    assert trials["number"].is_unique and trials["trial_id"].is_unique
    assert run.metadata["flops_band"] == list(BAND)
    study = optuna.load_study(study_name="espnas", storage=f"sqlite:///{run_dir / 'optuna.db'}")
    assert len(study.trials) == len(trials)
    assert main(["pareto", str(run_dir)]) == 0
