"""What a running search shows: a live rich table at a terminal, plain lines anywhere else.

- live (stdout is a terminal): one small table redrawn twice a second, sized to fit 80 columns;
- lines (a log file, a pipe, a cluster job): per finished trial, a line with its result and an indented line
  with the running counts, the front, its hypervolume and an ETA, flushed at once, so `tail -f` shows the search
  as it goes; both fit the width ($COLUMNS or 80): fields wrap at their separators, a reason between words, and
  a path too long for a line stands whole on a line of its own;
- off (--no-progress, --json): nothing.

Notes that arise during the trials (a duplicate proposal, a retried trial, a disturbed latency, a trial whose
process Tune restarts) are printed when they arise, through `on_note`: in lines mode after the lines of the
trials finished so far, in live mode above the table (the table is taken down while the note prints).

The hypervolume is the one every espnas output shows (results.pareto.front_hypervolume). The ETA is the mean
time per finished trial of this session times the trials left: it is printed from the first finished trial
on, and it moves with the machine's load (trials run one at a time when they measure on this CPU).
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from nas.search.recorder import Recorder, trial_id

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
        on_note: Callable[[str], None] | None = None,
        width: int | None = None,
    ) -> None:
        self.recorder, self.total, self.concurrency, self.title = recorder, total, concurrency, title
        self.mode = mode or progress_mode(enabled, stream)
        if self.mode not in MODES:
            raise ValueError(f"progress mode {self.mode!r}; valid: {', '.join(MODES)}")
        self.enabled = self.mode != "off"
        self.stream = stream
        self.on_note = on_note  # how a note is printed (None: this display prints "note: ..." itself)
        self._outer: Any = None
        self.width = width or plain_width()
        self.running = 0
        self.live: Any = None
        self._last = 0.0
        self._printed = 0  # finished trials already printed as lines
        self._cached: tuple[int, float | None] = (0, None)
        self._cached_at = -1

    def __enter__(self) -> Progress:
        # while shown, the recorder's notes come here (printed in order with the trial lines, above a live
        # table), then go on to whoever printed them before (the command's own note printer)
        self._outer = getattr(self.recorder, "on_note", None)
        if self.on_note is None:
            self.on_note = self._outer
        self.recorder.on_note = self.note
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            # transient while running, so that a note can take the table down, print, and put it back below
            console = Console(file=self.stream or sys.stdout, highlight=False)
            self.live = Live(self.render(), console=console, refresh_per_second=2, transient=True)
            self.live.start(refresh=True)
        elif self.mode == "lines":
            done = self._done()
            left = f", {self.total - done} to run" if done else ""
            intro = f"{self.title}: {self.total} trials in all{left}; each finished trial, then the counts "
            self._write(_words(intro + "(outside: outside the FLOP band, not trained)", self.width))
        return self

    def __exit__(self, *exc: object) -> None:
        self.recorder.on_note = self._outer
        if self.live is not None:
            self.live.update(self.render())
            self.live.transient = False  # the last table stays on the screen
            self.live.stop()
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

    def note(self, text: str) -> None:
        """Show a note now: after the trial lines printed so far, or above the live table."""
        if self.mode == "lines":
            self._lines()
        if self.on_note is None and self.mode == "off":
            return
        emit = self.on_note or (lambda t: self._write(f"note: {t}"))
        if self.live is None:
            emit(text)
            return
        self.live.stop()  # transient: the table is erased and the note prints where it was
        try:
            emit(text)
        finally:
            self.live.start(refresh=True)

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
        table.caption = (
            "outside: proposals outside the FLOP band (not trained); HV: hypervolume over the trials so far "
            "(it can fall as the front improves: README, Hypervolume)"
        )
        return table

    def line(self, trial_id: str, status: str, values: list[float] | None, reason: str | None) -> str:
        """What is printed for a finished trial: its result, then an indented line of the counts after it.
        Both fit `self.width`; fields wrap at their separators, a reason between words (see the module doc)."""
        c = self.recorder.counts
        size, hv = self._summary()
        if values is not None:
            parts = [f"{n} {_value(n, v)}" for n, v in zip(self.recorder.selection.names, values, strict=False)]
            head = _pack(f"{trial_id} {status}:", parts, ",", self.width)
        else:
            head = _words(f"{trial_id} {status}: {reason or status}", self.width)
        counts = [f"done {self._done()}/{self.total}", f"running {self.running}"]
        counts += [f"{label} {c[key]}" for key, label in COUNTED if c[key]]  # a zero says nothing: left out
        hv_text = "-" if hv is None else f"{hv:.4g}"
        state = [", ".join(counts), f"front {size}, HV {hv_text}", f"{fmt_seconds(self._elapsed())}, ETA {self._eta()}"]
        return head + "\n" + _pack("  ", state, " |", self.width)

    def _lines(self) -> None:
        finished = self.recorder.finished
        while self._printed < len(finished):
            self._write(self.line(*finished[self._printed]))
            self._printed += 1

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(text + "\n")
        stream.flush()


# the counts a trial line shows when they are not zero, with their labels
COUNTED = (("failed", "failed"), ("pruned", "pruned"), ("infeasible", "outside"))


def plain_width() -> int:
    """$COLUMNS when it is a number above 20, else the terminal's width, else 80 (as nas.cli._console)."""
    width = shutil.get_terminal_size((80, 24)).columns
    return width if width > 20 else 80


def _pack(lead: str, parts: Sequence[str], sep: str, width: int, indent: str = "  ") -> str:
    """`lead` then `parts` joined by `sep` and a space, on as few lines of `width` as hold whole parts;
    continuation lines are indented. A part longer than a line stands alone on its line (it is never cut)."""
    lines, current, fresh = [], lead, not lead.strip()
    for i, part in enumerate(parts):
        piece = part + (sep if i < len(parts) - 1 else "")
        if not fresh and len(current) + 1 + len(piece) > width:
            lines.append(current)
            current, fresh = indent, True
        current = current + piece if fresh else f"{current} {piece}"
        fresh = False
    lines.append(current)
    return "\n".join(lines)


def _words(text: str, width: int, indent: str = "  ") -> str:
    """`text` wrapped between words at `width` (a path or command longer than a line stays whole on its own)."""
    return "\n".join(
        textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    )


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
            if self.progress is not None:  # Tune still lists the completing trial as RUNNING here: not counted
                running = sum(1 for t in trials if t.status == "RUNNING" and t is not trial)
                self.progress.update(running=running, force=True)

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            if self.progress is not None:  # its process died; Tune starts it again (FailureConfig)
                self.progress.recorder.note("restart", restart_note(trial))

        def __getstate__(self) -> dict[str, Any]:
            return {"progress": None}

    return ProgressCallback(progress)


def restart_note(trial: Any) -> str:
    """The note for a trial whose process died and that Tune starts again (up to --retries times)."""
    number = (getattr(trial, "config", None) or {}).get("espnas_number")
    name = trial_id(number) if number is not None else "a trial"
    return f"{name}'s process failed (a crash or out of memory; see the Ray logs); Tune starts it again (--retries)"


__all__ = ["MODES", "Progress", "fmt_seconds", "progress_callback", "progress_mode"]
