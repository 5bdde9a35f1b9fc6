"""The live rich table of a search, and the Tune callback that feeds it."""

from __future__ import annotations

import time
from typing import Any

from nas.search.recorder import Recorder


class Progress:
    """A live rich table: done/running/failed/infeasible, front size, hypervolume, ETA."""

    def __init__(self, recorder: Recorder, total: int, concurrency: int, enabled: bool, title: str) -> None:
        self.recorder, self.total, self.concurrency, self.enabled, self.title = (
            recorder,
            total,
            concurrency,
            enabled,
            title,
        )
        self.running = 0
        self.live: Any = None
        self._last = 0.0
        self._cached: tuple[int, float | None] = (0, None)
        self._cached_at = -1

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.live import Live

            self.live = Live(self.render(), refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)

    def update(self, running: int | None = None, force: bool = False) -> None:
        if running is not None:
            self.running = running
        now = time.monotonic()
        if self.live is not None and (force or now - self._last > 0.5):
            self._last = now
            self.live.update(self.render())

    def render(self) -> Any:
        from rich.table import Table

        c = self.recorder.counts
        done = c["complete"] + c["failed"] + c["pruned"]
        if self._cached_at != c["complete"]:
            self._cached = self.recorder.front_summary()
            self._cached_at = c["complete"]
        size, hv = self._cached
        elapsed = time.time() - self.recorder.started
        eta = "-"
        if self.recorder.session_done:
            per = elapsed / self.recorder.session_done
            eta = f"{max(0.0, per * (self.total - done)):.0f}s"
        table = Table(title=self.title, show_header=True, header_style="bold")
        for col in ("done", "running", "failed", "pruned", "infeasible", "front", "hypervolume", "elapsed", "ETA"):
            table.add_column(col, justify="right")
        table.add_row(
            f"{done}/{self.total}",
            str(self.running),
            str(c["failed"]),
            str(c["pruned"]),
            str(c["infeasible"]),
            str(size),
            "-" if hv is None else f"{hv:.4g}",
            f"{elapsed:.0f}s",
            eta,
        )
        return table


def progress_callback(progress: Progress) -> Any:
    """A Tune callback that keeps `progress` current (built here so that importing this module needs no Ray)."""
    from ray.tune import Callback

    class ProgressCallback(Callback):
        """Feeds the live table from Tune's loop. Holds the table as an attribute (not a closure), so that
        Tune's pickling of its callbacks drops it."""

        def __init__(self, progress: Progress | None) -> None:
            self.progress = progress

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            if self.progress is not None:
                self.progress.update(running=sum(1 for t in trials if t.status == "RUNNING"))

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            if self.progress is not None:
                self.progress.update(running=sum(1 for t in trials if t.status == "RUNNING"), force=True)

        def __getstate__(self) -> dict[str, Any]:
            return {"progress": None}

    return ProgressCallback(progress)


__all__ = ["Progress", "progress_callback"]
