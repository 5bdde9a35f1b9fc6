"""The search's progress away from a terminal: each finished trial, flushed, then its counts and ETA; at a
terminal the live table fits 80 columns."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from rich.console import Console

from nas.search.progress import Progress, fmt_seconds, progress_mode


class Stream(io.StringIO):
    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.tty, self.flushes = tty, 0

    def isatty(self) -> bool:
        return self.tty

    def flush(self) -> None:
        self.flushes += 1


def fake_recorder(started: float) -> SimpleNamespace:
    rec = SimpleNamespace(
        counts={"complete": 0, "failed": 0, "pruned": 0, "infeasible": 0},
        finished=[],
        session_done=0,
        started=started,
        selection=SimpleNamespace(names=("accuracy", "latency")),
    )
    rec.front_summary = lambda: (len([f for f in rec.finished if f[1] == "complete"]), 0.5 if rec.finished else None)
    return rec


def finish(rec, trial_id, status, values=None, reason=None):
    rec.counts["complete" if status == "complete" else status] += 1
    rec.session_done += 1
    rec.finished.append((trial_id, status, values, reason))


def test_mode_follows_the_stream():
    assert progress_mode(True, Stream(tty=True)) == "live"
    assert progress_mode(True, Stream(tty=False)) == "lines"
    assert progress_mode(False, Stream(tty=True)) == "off"


def test_each_finished_trial_then_the_counts_with_eta():
    stream = Stream()
    rec = fake_recorder(started=time.time() - 100)  # 100 s in
    with Progress(rec, total=5, concurrency=1, enabled=True, title="espnas search", stream=stream) as progress:
        assert stream.getvalue() == (
            "espnas search: 5 trials in all; each finished trial, then the counts (outside:\n"
            "  outside the FLOP band, not trained)\n"
        )
        rec.counts["infeasible"] += 2  # outside the band: counted, no line of its own
        progress.update(running=1)
        assert stream.getvalue().count("\n") == 2
        finish(rec, "t00002", "complete", [0.95, 12.3])
        progress.update(running=1)
        finish(rec, "t00003", "failed", reason="the trial's process failed")
        progress.update(running=0)
        progress.update(running=0)  # nothing new: nothing printed
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6 and stream.flushes >= 3
    assert lines[2] == "t00002 complete: accuracy 0.95, latency 12.3"
    assert lines[3] == "  done 1/5, running 1, outside 2 | front 1, HV 0.5 | 1m40s, ETA 6m40s"  # 100 s a trial
    assert lines[4] == "t00003 failed: the trial's process failed"
    assert lines[5] == "  done 2/5, running 0, failed 1, outside 2 | front 1, HV 0.5 | 1m40s, ETA 2m30s"


def test_no_eta_before_the_first_trial_and_live_table_fits_80_columns():
    rec = fake_recorder(started=time.time() - 5000)
    progress = Progress(rec, total=100, concurrency=1, enabled=True, title="espnas search", mode="live")
    assert progress.eta_seconds() is None
    rec.counts.update(complete=88, failed=10, pruned=2, infeasible=1234)
    rec.session_done = 100
    console = Console(width=80, record=True)
    console.print(progress.render())
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for header in ("done", "running", "failed", "pruned", "outside", "front", "HV", "elapsed", "ETA"):
        assert header in text.splitlines()[2]
    assert "100/100" in text and "1234" in text and "1h23m" in text


def test_fmt_seconds():
    assert [fmt_seconds(s) for s in (0, 42.4, 99.6, 303, 3599, 3720)] == [
        "0s",
        "42s",
        "1m40s",
        "5m03s",
        "59m59s",
        "1h02m",
    ]
