"""A short real `--task language` search: Ray Tune, Optuna, proxy training of ERUs, the run store."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.search.driver import SearchSettings, run_search

pytestmark = pytest.mark.slow


def test_short_language_search(tmp_path: Path, small_ptb: Path) -> None:
    outcome = run_search(
        SearchSettings(
            task="language",
            data=str(small_ptb),
            trials=2,
            flops=(5_000_000, 15_000_000),  # SearchSettings' default band is the classifier's
            objectives=("perplexity", "latency"),
            proxy_epochs=1,
            proxy_max_steps=2,
            latency_budget_s=0.1,
            run_dir=str(tmp_path / "run"),
            progress=False,
        )
    )
    from results.store import open_run

    run = open_run(outcome.run_dir)
    trials = run.trials
    done = trials[trials["status"] == "complete"]
    assert len(done) >= 1
    assert (done["perplexity"] > 1).all() and (done["latency_ms"] > 0).all()
    assert ((done["params"] >= 5e6) & (done["params"] <= 15e6)).all()
    assert len(outcome.front) >= 1
