"""The Tune callback that feeds the progress display counts the trials still running, not the one completing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from nas.search.progress import progress_callback

pytest.importorskip("ray.tune")


class FakeProgress:
    """Records each update, as the real display would show it."""

    def __init__(self) -> None:
        self.updates: list[tuple[int | None, bool]] = []

    def update(self, running: int | None = None, force: bool = False) -> None:
        self.updates.append((running, force))


def test_the_completing_trial_is_not_counted_as_running() -> None:
    progress = FakeProgress()
    callback = progress_callback(progress)  # type: ignore[arg-type]
    last = SimpleNamespace(status="RUNNING")  # Tune calls on_trial_complete before it changes the status
    other = SimpleNamespace(status="RUNNING")
    done = SimpleNamespace(status="TERMINATED")
    callback.on_trial_complete(iteration=9, trials=[done, other, last], trial=last)
    callback.on_trial_complete(iteration=10, trials=[done, last], trial=last)
    callback.on_step_end(iteration=11, trials=[done, other, last])
    assert progress.updates == [(1, True), (0, True), (2, False)]


def test_a_pickled_callback_drops_the_display() -> None:
    from ray import cloudpickle  # what Tune pickles its callbacks with

    callback: Any = cloudpickle.loads(cloudpickle.dumps(progress_callback(FakeProgress())))  # type: ignore[arg-type]
    assert callback.progress is None
    callback.on_trial_complete(iteration=1, trials=[], trial=None)  # no display: nothing to update, no error
