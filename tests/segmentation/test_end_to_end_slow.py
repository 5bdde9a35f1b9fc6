"""The short embedded segmentation search end to end: search -> pareto -> export -> nas.load -> mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nas
from nas.search.driver import SearchSettings, run_search
from results.store import open_run

pytestmark = pytest.mark.slow


def test_segmentation_search_pareto_export_load_mask(tmp_path: Path) -> None:
    outcome = run_search(
        SearchSettings(
            task="segmentation",
            data="scenes",
            trials=2,
            flops=(54_000_000, 543_000_000),
            objectives=("miou", "latency"),
            image_size=32,
            proxy_epochs=1,
            proxy_max_steps=4,
            batch_size=8,
            latency_budget_s=0.2,
            num_cpus=2,
            run_dir=str(tmp_path / "run"),
            progress=False,
        )
    )
    run = open_run(outcome.run_dir)
    assert [o["name"] for o in outcome.objectives] == ["miou", "latency_ms"]
    assert run.metadata["settings"]["task"] == "segmentation"
    assert len(outcome.front) >= 1 and outcome.front["miou"].between(0, 1).all()
    trial = str(outcome.front.iloc[0]["trial_id"])

    from nas.export import export

    result = export(run=outcome.run_dir, trial=trial, epochs=1, batch_size=8, out=tmp_path / "exp", progress=False)
    assert {c.format for c in result.checks} == {"safetensors", "onnx", "torchscript"}
    assert all(c.passed for c in result.checks)

    model = nas.load(tmp_path / "exp")
    images = torch.randn(2, 3, 45, 70)  # any size: not a multiple of 16
    with torch.no_grad():
        mask = model(images).argmax(1)
    assert mask.shape == (2, 45, 70)
    assert int(mask.max()) < model.config.num_classes == 11
