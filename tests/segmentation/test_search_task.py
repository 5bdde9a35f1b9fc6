"""The task registry and the segmentation task in the search: band, trial (without Ray), CLI settings."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

from nas.cli import build_parser
from nas.cli.search import settings_from_args
from nas.search.band import band_text, check_band
from nas.search.errors import SearchError
from nas.search.objectives import select_objectives
from nas.search.space import load_space
from nas.search.tasks import TASKS, config_from_json, get_task
from nas.search.trial import TrialJob, run_trial
from nas.train.data.segmentation import load_segmentation_data
from profilers.segmentation_counting import count_segmentation
from search_spaces import EESPConfig
from search_spaces.segmentation import SEGMENTATION_PRESETS, SegmentationConfig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_registry_has_both_tasks_with_their_quality_objectives() -> None:
    assert {"classification", "segmentation"} <= set(TASKS)
    seg = get_task("segmentation")
    assert seg.quality == "miou" and seg.quality_metric == "miou"
    assert get_task(None).quality == "accuracy"
    with pytest.raises(SearchError, match="unknown task 'depth'; valid: classification, segmentation"):
        get_task("depth")
    picked = select_objectives(None, "cpu", power_check=lambda d: (False, "none"), defaults=seg.default_objectives)
    assert picked.names == ("miou", "latency") and picked.needs("train")


def test_default_band_spans_the_presets_at_figure_7_convention() -> None:
    lo, hi = get_task("segmentation").default_band
    macs = [count_segmentation(c).conv_macs for c in SEGMENTATION_PRESETS.values()]
    assert lo <= min(macs) and max(macs) <= hi


def test_band_check_counts_the_segmentation_network() -> None:
    space = load_space("segmentation")
    rng = random.Random(1)
    for _ in range(20):
        flat = space.sample(rng)
        verdict = check_band(flat, space, (1, 10**12), "segmentation")
        assert isinstance(verdict.config, SegmentationConfig) and verdict.feasible
        assert verdict.config.num_classes == 20 and verdict.config.input_size == (224, 224)
        assert verdict.conv_macs == count_segmentation(verdict.config).conv_macs
        classifier = check_band(flat, space, (1, 10**12))
        assert isinstance(classifier.config, EESPConfig) and classifier.conv_macs != verdict.conv_macs
    assert "20 classes" in band_text((1, 2), "segmentation")


def test_stored_configs_of_either_task_round_trip() -> None:
    seg = SEGMENTATION_PRESETS["espnetv2-seg-0.5"]
    assert config_from_json(seg.to_json()) == seg
    cls = EESPConfig.from_scale(0.5)
    assert config_from_json(cls.to_json()) == cls


def test_cli_settings_follow_the_task() -> None:
    parser = build_parser("search")
    seg = settings_from_args(parser.parse_args(["search", "--task", "segmentation"]))
    assert seg.task == "segmentation" and seg.data == "scenes"
    assert tuple(seg.flops) == get_task("segmentation").default_band
    plain = settings_from_args(parser.parse_args(["search"]))
    assert plain.task == "classification" and plain.data == "digits" and tuple(plain.flops) == (28_000_000, 284_000_000)


def test_segmentation_trial_runs_without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    small = load_segmentation_data("scenes", 32, n_train=16, n_val=8)
    task = dataclasses.replace(TASKS["segmentation"], load_data=lambda source, size, seed: small)
    monkeypatch.setitem(TASKS, "segmentation", task)
    cfg = SegmentationConfig.from_scale(0.5)
    job = TrialJob(
        train=True, measure=("latency_ms",), data="scenes", image_size=32, proxy_epochs=1, proxy_max_steps=2,
        batch_size=8, device="cpu", threads=1, measure_threads=1, retries=0, seed=0, latency_budget_s=0.2,
        latency_batch=1, targets=(), namespace="test", task="segmentation",
    )  # fmt: skip
    reports: list[dict] = []
    config = {"espnas_params": 1.0, "espnas_macs": 2.0, "espnas_config_json": cfg.to_json(), "espnas_number": 0}
    result = run_trial(config, job, reports.append)
    assert result["espnas_status"] == "complete", result["espnas_reason"]
    assert 0.0 <= result["miou"] <= 1.0 and "accuracy" not in result
    assert reports and "miou" in reports[0] and result["latency_ms"] > 0
    assert json.loads(result["espnas_curve_json"]) == [result["miou"]]


def test_segmentation_search_refuses_digits_data() -> None:
    with pytest.raises(SearchError, match="no per-pixel masks"):
        get_task("segmentation").load_data("digits", 32, 0)
