"""Notes that arise during the trials (a retried trial, a disturbed latency, a duplicate proposal, a restarted
trial process) print when they arise: in the plain line mode right after the lines of the trial that raised
them, in the live mode above the table; a note of one kind is shown at most three times, then counted."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from nas.search.objectives import select_objectives
from nas.search.progress import Progress, restart_note
from nas.search.recorder import NOTES_SHOWN_PER_KIND, Recorder
from search_spaces import resolve

from .conftest import run_cli

CONFIG = resolve("espnetv2-0.5")
VERDICT = SimpleNamespace(config=CONFIG, params=1_240_000.0, conv_macs=28_000_000)


class Stream(io.StringIO):
    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def recorder(tmp_path: Path) -> Recorder:
    writer = SimpleNamespace(path=tmp_path, records=[])
    writer.append = writer.records.append
    selection = select_objectives(["params", "latency"], "cpu")
    return Recorder(writer, selection, ["latency_ms"], {})


def result(latency: float = 10.0, iqr: float = 0.5, reason: str | None = None) -> dict:
    return {"espnas_final": True, "espnas_status": "complete", "espnas_reason": reason, "latency_ms": latency,
            "latency_ms_iqr": iqr}  # fmt: skip


def test_lines_mode_prints_each_note_right_after_its_trial(tmp_path):
    stream, rec = Stream(), recorder(tmp_path)
    with Progress(rec, total=3, concurrency=1, enabled=True, title="espnas search", stream=stream) as progress:
        rec.record_result(0, VERDICT, result(reason="complete on attempt 2; attempt 1 failed: loss is nan"), False)
        rec.record_result(1, VERDICT, result(latency=10.0, iqr=4.0), False)  # IQR 40% of the median: busy
        progress.update(running=0)
        rec.record_result(2, VERDICT, result(), False)  # a steady one: no note
    lines = stream.getvalue().splitlines()
    starts = [next(i for i, line in enumerate(lines) if line.startswith(f"t0000{n} complete")) for n in range(3)]
    retry = lines.index("note: t00000: complete on attempt 2; attempt 1 failed: loss is nan")
    busy = next(i for i, line in enumerate(lines) if line.startswith("note: warning: t00001's latency_ms spread"))
    assert starts[0] < retry < starts[1] < busy < starts[2]  # each note after its own trial's lines
    assert "IQR 40% of the median (limit 25%)" in lines[busy]
    assert sum(line.startswith("note:") for line in lines) == 2 and rec.notes == [lines[retry][6:], lines[busy][6:]]


def test_notes_go_through_the_commands_printer_and_are_counted_past_three(tmp_path):
    shown: list[str] = []
    rec = recorder(tmp_path)
    rec.on_note = shown.append  # what `espnas search` passes (it prints and remembers what it printed)
    with Progress(rec, total=9, concurrency=1, enabled=False, title="espnas search"):
        for number in range(5):
            rec.record_duplicate(10 + number, "t00003", in_flight=False)
    assert rec.on_note == shown.append  # given back when the display ends
    assert rec.duplicates == 5 and rec.note_counts == {"duplicate": 5} and len(shown) == NOTES_SHOWN_PER_KIND
    assert shown[0] == "proposal 10 repeats the config of t00003: not trained again (told to Optuna with its values)"
    assert shown[-1].endswith("(further duplicate notes are only counted, at the end)")
    assert rec.notes == shown


def test_live_mode_prints_the_note_above_the_table(tmp_path):
    stream, rec = Stream(tty=True), recorder(tmp_path)
    with Progress(rec, total=3, concurrency=1, enabled=True, title="espnas search", stream=stream) as progress:
        progress.update(running=1, force=True)
        rec.record_result(0, VERDICT, result(latency=10.0, iqr=4.0), False)
        progress.update(running=0, force=True)
    text = stream.getvalue()
    note = text.index("note: warning: t00000's latency_ms spread as on a busy machine")
    assert text.index("espnas search") < note < text.rindex("espnas search")  # table, note, the table again
    assert text[:note].endswith("\x1b[2K")  # the table was erased first: the note is where the table was
    assert "\x1b[2K" not in text[text.rindex("espnas search") :]  # the last table is not erased: it stays


def test_a_restarted_trial_process_is_named():
    trial = SimpleNamespace(config={"espnas_number": 7})
    assert restart_note(trial).startswith("t00007's process failed (a crash or out of memory")
    assert restart_note(SimpleNamespace()).startswith("a trial's process failed")


def _fake_tune(notes_kind: str):
    """A stand-in for Ray Tune that finishes two trials through the real recorder and progress display."""

    def run(settings, space, selection, recorder, storage, remaining, *, sampler_seed):
        with Progress(recorder, settings.trials, 1, settings.progress, "espnas search") as progress:
            for number in range(2):
                iqr = 4.0 if notes_kind == "disturbed" else 0.1
                recorder.record_result(number, VERDICT, result(iqr=iqr), False)
                print(f"(trial {number} done)")  # what else the search prints meanwhile
                progress.update(running=0)
        return 0.0

    return run


@pytest.mark.parametrize("no_progress", [False, True])
def test_search_prints_trial_notes_when_they_arise(monkeypatch, capsys, tmp_path, no_progress):
    import nas.search.driver as driver

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(driver, "_run_tune", _fake_tune("disturbed"))
    run_dir = tmp_path / ("r" * 60) / "search"  # a long path
    argv = ["search", "--objectives", "params,latency", "--trials", "2", "--run-dir", str(run_dir)]
    code, out, _ = run_cli(capsys, *argv, *(["--no-progress"] if no_progress else []))
    assert code == 0
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("note: warning: t00000's latency_ms spread"))
    assert first < lines.index("(trial 0 done)")  # printed as it arose, not at the end
    assert " ".join(out.split()).count("t00000's latency_ms spread") == 1  # and not again in the summary
    assert "warning: 2 of 2 trials' latencies spread as on a busy machine" in " ".join(out.split())
    if not no_progress:
        assert lines[first - 2].startswith("t00000 complete: params 1.24M, latency 10")  # right after its trial
    assert all(len(line) <= 80 for line in lines if str(run_dir) not in line)


def test_trial_lines_fit_80_columns_and_keep_a_long_path_whole(tmp_path):
    stream, rec = Stream(), recorder(tmp_path)
    rec.selection = select_objectives(["accuracy", "latency", "peak_memory", "params", "macs"], "cpu")
    path = "/data/" + "d" * 100 + "/train"
    progress = Progress(rec, total=1000, concurrency=4, enabled=True, title="espnas search", stream=stream)
    rec.started = time.time() - 4000
    rec.counts.update(complete=900, failed=40, pruned=30, infeasible=12345)
    rec.session_done = 970
    progress.running = 4
    rec.points = [[0.9, 10.0, 30.0, 1e6, 5e7]]
    text = progress.line("t01234", "complete", [0.98765, 1234.5678, 345.25, 1_916_000, 128_900_000], None)
    text += "\n" + progress.line("t01235", "failed", None, f"training: cannot read {path}: no such file")
    lines = text.splitlines()
    assert lines[0].startswith("t01234 complete: accuracy 0.9877, latency 1235, peak_memory 345.2,")
    assert f"  {path}:" in lines  # the path whole, on a line of its own
    assert all(len(line) <= 80 for line in lines if path not in line), lines
    state = [line for line in lines if line.startswith("  done ")]
    assert state[0].startswith("  done 970/1000, running 4, failed 40, pruned 30, outside 12345 |")
    assert "front 1, HV " in text and "1h06m, ETA " in text


def test_the_end_counts_the_notes_not_shown(tmp_path):
    from nas.search.driver import _counted_notes

    rec = recorder(tmp_path)
    for number in range(5):
        rec.record_result(number, VERDICT, result(reason="complete on attempt 2; attempt 1 failed: nan"), False)
    rec.note("restart", restart_note(SimpleNamespace(config={"espnas_number": 9})))  # one: all of it was shown
    assert len(rec.notes) == NOTES_SHOWN_PER_KIND + 1
    assert _counted_notes(rec) == [
        "5 trial(s) completed only after a failed attempt (each record's 'reason' says what failed); the first 3 "
        "were noted as they arose"
    ]
