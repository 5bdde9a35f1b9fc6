"""What a running search shows: a live rich table at a terminal, plain lines anywhere else.

- live (stdout is a terminal): one small table redrawn twice a second, sized to fit 80 columns;
- lines (a log file, a pipe, a cluster job): one line per finished trial with the running counts, the front,
  its hypervolume and an ETA, flushed at once, so `tail -f` shows the search as it goes;
- off (--no-progress, --json): nothing.

The hypervolume is the one every espnas output shows (results.pareto.front_hypervolume). The ETA is the mean
time per finished trial of this session times the trials left: it is printed from the first finished trial
on, and it moves with the machine's load (trials run one at a time when they measure on this CPU).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from nas.search.recorder import Recorder

MODES = ("live", "lines", "off")


def progress_mode(enabled: bool, stream: TextIO | None = None) -> str:
    """live when enabled and `stream` (default stdout) is a terminal, lines when enabled elsewhere, else off."""
    if not enabled:
        return "off"
    stream = sys.stdout if stream is None else stream
    return "live" if stream.isatty() else "lines"


def fmt_seconds(seconds: float) -> str:
    """42s, 5m03s, 1h02m: short enough for a narrow column."""
    s = round(max(0.0, seconds))
    if s < 100:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """The search's progress display (see the module docstring for the modes)."""

    def __init__(
        self,
        recorder: Recorder,
        total: int,
        concurrency: int,
        enabled: bool,
        title: str,
        mode: str | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.recorder, self.total, self.concurrency, self.title = recorder, total, concurrency, title
        self.mode = mode or progress_mode(enabled, stream)
        if self.mode not in MODES:
            raise ValueError(f"progress mode {self.mode!r}; valid: {', '.join(MODES)}")
        self.enabled = self.mode != "off"
        self.stream = stream
        self.running = 0
        self.live: Any = None
        self._last = 0.0
        self._printed = 0  # finished trials already printed as lines
        self._cached: tuple[int, float | None] = (0, None)
        self._cached_at = -1

    def __enter__(self) -> Progress:
        if self.mode == "live":
            from rich.live import Live

            self.live = Live(self.render(), refresh_per_second=2, transient=False)
            self.live.__enter__()
        elif self.mode == "lines":
            done = self._done()
            left = f", {self.total - done} to run" if done else ""
            self._write(f"{self.title}: {self.total} trials in all{left}; a line per finished trial")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)
            self.live = None
        elif self.mode == "lines":
            self._lines()

    def update(self, running: int | None = None, force: bool = False) -> None:
        if running is not None:
            self.running = running
        if self.mode == "lines":
            self._lines()
            return
        now = time.monotonic()
        if self.live is not None and (force or now - self._last > 0.5):
            self._last = now
            self.live.update(self.render())

    # ----- what is shown -----------------------------------------------------------------------------------

    def _summary(self) -> tuple[int, float | None]:
        c = self.recorder.counts
        if self._cached_at != c["complete"]:
            self._cached = self.recorder.front_summary()
            self._cached_at = c["complete"]
        return self._cached

    def _done(self) -> int:
        c = self.recorder.counts
        return c["complete"] + c["failed"] + c["pruned"]

    def _elapsed(self) -> float:
        return time.time() - self.recorder.started

    def eta_seconds(self) -> float | None:
        """Seconds left at this session's mean time per finished trial; None before the first one."""
        if not self.recorder.session_done:
            return None
        per = self._elapsed() / self.recorder.session_done
        return max(0.0, per * (self.total - self._done()))

    def _eta(self) -> str:
        eta = self.eta_seconds()
        return "-" if eta is None else fmt_seconds(eta)

    def render(self) -> Any:
        """The live table: at most 8 narrow columns, so it fits 80 columns with its borders."""
        from rich.table import Table

        c = self.recorder.counts
        size, hv = self._summary()
        table = Table(title=self.title, show_header=True, header_style="bold")
        for col in ("done", "running", "failed", "pruned", "outside", "front", "HV", "elapsed", "ETA"):
            table.add_column(col, justify="right", no_wrap=True)
        table.add_row(
            f"{self._done()}/{self.total}",
            str(self.running),
            str(c["failed"]),
            str(c["pruned"]),
            str(c["infeasible"]),
            str(size),
            "-" if hv is None else f"{hv:.4g}",
            fmt_seconds(self._elapsed()),
            self._eta(),
        )
        table.caption = "outside: proposals outside the FLOP band (not trained); HV: normalised hypervolume"
        return table

    def line(self, trial_id: str, status: str, values: list[float] | None, reason: str | None) -> str:
        """One plain line for a finished trial, with the counts after it."""
        c = self.recorder.counts
        size, hv = self._summary()
        if values is not None:
            what = ", ".join(f"{n} {_value(n, v)}" for n, v in zip(self.recorder.selection.names, values, strict=False))
        else:
            what = reason or status
        hv_text = "-" if hv is None else f"{hv:.4g}"
        return (
            f"{trial_id} {status} ({what}) | done {self._done()}/{self.total}, running {self.running}, "
            f"failed {c['failed']}, pruned {c['pruned']}, outside band {c['infeasible']} | front {size}, "
            f"HV {hv_text} | {fmt_seconds(self._elapsed())} elapsed, ETA {self._eta()}"
        )

    def _lines(self) -> None:
        finished = self.recorder.finished
        while self._printed < len(finished):
            self._write(self.line(*finished[self._printed]))
            self._printed += 1

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(text + "\n")
        stream.flush()


def _value(name: str, value: float) -> str:
    """An objective's value as the tables show it: counts as 1.545M, measurements to 4 significant digits."""
    if name in ("params", "macs"):
        from nas.search.band import fmt_count

        return fmt_count(value)
    return f"{value:.4g}"


def progress_callback(progress: Progress) -> Any:
    """A Tune callback that keeps `progress` current (built here so that importing this module needs no Ray)."""
    from ray.tune import Callback

    class ProgressCallback(Callback):
        """Feeds the progress display from Tune's loop. Holds it as an attribute (not a closure), so that
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


__all__ = ["MODES", "Progress", "fmt_seconds", "progress_callback", "progress_mode"]
