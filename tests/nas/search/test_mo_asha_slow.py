"""A real small search with MO-ASHA stopping trials (Ray Tune + OptunaSearch) on the stages space (digits data:
three full proxy epochs stay cheap). Run with `pytest -m slow tests/nas/search/test_mo_asha_slow.py`."""

from __future__ import annotations

import json

import pytest

from nas.search.driver import SearchSettings, run_search

pytestmark = pytest.mark.slow


def test_real_search_with_mo_asha_on_the_stages_space(tmp_path):
    outcome = run_search(
        SearchSettings(
            space="stages",
            data="digits",
            trials=4,
            objectives=("accuracy", "params"),
            proxy_epochs=3,
            run_dir=str(tmp_path / "run"),
            progress=False,
            early_stop="mo-asha",
            concurrency=1,
        )
    )
    from results.store import open_run

    run = open_run(outcome.run_dir)
    done = run.trials[run.trials["status"] != "infeasible"]
    assert len(done) == 4
    assert set(done["status"]) <= {"complete", "pruned"}
    # The first trial at each rung always continues: at least one trial ran all its epochs.
    complete = done[done["status"] == "complete"]
    assert len(complete) >= 1 and complete["accuracy"].between(0, 1).all()
    assert all(len(json.loads(c)) == 3 for c in complete["curve_json"])
    # A stopped trial ran fewer epochs than the budget (MO-ASHA's rungs are at epochs 1 and 3 of 4 reports).
    pruned = done[done["status"] == "pruned"]
    assert all(len(json.loads(c)) < 3 for c in pruned["curve_json"] if isinstance(c, str))
    assert outcome.front is not None
