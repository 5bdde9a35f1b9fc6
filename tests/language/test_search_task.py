"""The language task in the search: its space, the parameter band, a trial without Ray, the CLI settings."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nas.cli import build_parser
from nas.cli.search import settings_from_args
from nas.search.band import check_band
from nas.search.errors import SearchError
from nas.search.language_space import sample_to_language
from nas.search.space import SpaceError, load_space, parse_space
from nas.search.tasks import config_from_json, get_task
from nas.search.trial import TrialJob, run_trial
from profilers.language_counting import count_language
from search_spaces.eru_config import ERU_PRESETS, ERUConfig
from tests.language.conftest import TINY


def test_the_task_is_registered_with_perplexity_and_a_parameter_band() -> None:
    task = get_task("language")
    assert task.quality == "perplexity" and task.default_objectives[0] == "perplexity"
    assert task.default_band == (5_000_000, 15_000_000) and task.band_metric == "params"
    from nas.search.objectives import get_objective

    assert get_objective("perplexity").direction == "min"


def test_the_shipped_space_holds_the_presets_knobs() -> None:
    space = load_space("language")
    assert {k.name for k in space.searched} >= {"hidden", "branches", "reduce_groups", "dilation_cap", "hff"}
    flat = {"hidden": 312, "branches": 4, "reduce_groups": "K", "expand_groups": "K", "dilation_cap": 9, "hff": True}
    assert sample_to_language(flat, space) == ERU_PRESETS["eru-7m"].replace(hidden=312)


def test_the_band_bounds_parameters_at_the_ptb_vocabulary() -> None:
    space = load_space("language")
    rng = random.Random(1)
    seen = {True: 0, False: 0}
    for _ in range(30):
        verdict = check_band(space.sample(rng), space, (5_000_000, 15_000_000), "language")
        params = count_language(verdict.config).params
        assert verdict.params == params and verdict.config.vocab_size == 10_000
        assert verdict.feasible == (5_000_000 <= params <= 15_000_000)
        if not verdict.feasible:
            assert "parameters" in verdict.reason and "band" in verdict.reason
        seen[verdict.feasible] += 1
    assert seen[True] and seen[False]


def test_space_errors_are_one_line() -> None:
    with pytest.raises(SpaceError, match="unknown knob 'depth_L3' for a language space"):
        parse_space({"knobs": {"hidden": 100, "depth_L3": 3}})
    with pytest.raises(SpaceError, match="no valid ERU"):
        parse_space({"knobs": {"hidden": 10, "branches": 3}})


def test_stored_configs_round_trip() -> None:
    assert config_from_json(ERU_PRESETS["eru-15m"].to_json()) == ERU_PRESETS["eru-15m"]


def test_cli_settings_follow_the_task() -> None:
    args = build_parser("search").parse_args(["search", "--task", "language"])
    settings = settings_from_args(args)
    assert settings.task == "language" and settings.data == "pydoc"
    assert tuple(settings.flops) == (5_000_000, 15_000_000)


@pytest.mark.slow  # a real proxy training and latency measurement: about 20 s on a busy 2-core machine
def test_language_trial_runs_without_ray(small_ptb: Path) -> None:
    cfg = TINY.replace(vocab_size=10_000)
    job = TrialJob(
        train=True, measure=("latency_ms",), data=str(small_ptb), image_size=32, proxy_epochs=1, proxy_max_steps=2,
        batch_size=8, device="cpu", threads=1, measure_threads=1, retries=0, seed=0, latency_budget_s=0.2,
        latency_batch=1, targets=(), namespace="test", task="language",
    )  # fmt: skip
    reports: list[dict] = []
    config = {"espnas_params": 1.0, "espnas_macs": 2.0, "espnas_config_json": cfg.to_json(), "espnas_number": 0}
    result = run_trial(config, job, reports.append)
    assert result["espnas_status"] == "complete", result["espnas_reason"]
    assert result["perplexity"] > 1 and "accuracy" not in result
    assert reports and "perplexity" in reports[0] and result["latency_ms"] > 0
    assert json.loads(result["espnas_curve_json"]) == [result["perplexity"]]


def test_image_data_is_refused() -> None:
    with pytest.raises(SearchError, match="valid for --task language"):
        get_task("language").load_data("digits", 32, 0)


def test_eru_configs_name_their_task() -> None:
    assert ERUConfig().task == "language"
