"""Ctrl-C: exit status 130, one line saying what was kept and the exact command that resumes, the run marked
"interrupted" in `espnas runs`, and resumed jobs saying where they resume from."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from results.store import read_metadata

from .conftest import run_cli

TINY = "eesp:c=16/32/64/128/256,d=0/1/1/1,k=4,gr=4,ge=4,r=13/11/9/7/5,hff=1,sc=1,head=64,cls=10,drop=0.2,in=32x32,ic=3"


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "espnas"
    return words[1:]


def test_a_bare_ctrl_c_is_130_and_one_line(monkeypatch, capsys):
    import nas.cli.counting as counting

    def boom(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(counting, "run_presets", boom)
    code, out, err = run_cli(capsys, "presets")
    assert code == 130 and out == ""
    assert err == "espnas presets: interrupted; nothing was kept (run the command again)\n"


def test_train_ctrl_c_keeps_the_checkpoint_and_prints_the_resume_command(tmp_path, monkeypatch, capsys):
    from nas.train.trainer import Trainer

    calls = {"n": 0}

    def epoch(self):  # an epoch without the training (this test is about what Ctrl-C keeps, not learning)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        self.epoch += 1
        self.history.append({"epoch": self.epoch, "val_top1": 0.5, "val_top5": 0.9, "images_per_s": 1.0})
        return self.history[-1]

    monkeypatch.setattr(Trainer, "run_epoch", epoch)
    out_dir = tmp_path / "t"
    args = ["train", TINY, "--epochs", "2", "--threads", "1", "--no-progress", "--out", str(out_dir)]
    code, _, err = run_cli(capsys, *args)
    assert code == 130 and err.count("\n") == 1
    assert err.startswith(f"espnas train: interrupted; the checkpoint after epoch 1 of 2 is kept in {out_dir}; ")
    command = err.split("; resume with: ")[1].strip()
    assert _argv(command) == [*args, "--resume"]

    code, out, _ = run_cli(capsys, *_argv(command))
    assert code == 0 and calls["n"] == 3
    assert f"resuming from epoch 1 of 2 (checkpoint {out_dir / 'checkpoint.pt'})" in out.splitlines()[0]
    assert "1 thread (--threads)" in out


def _search(capsys, run_dir: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "search", "--objectives", "params,macs", "--run-dir", str(run_dir), *extra)


def test_search_ctrl_c_marks_the_run_interrupted_and_resume_says_where(tmp_path, monkeypatch, capsys):
    import nas.search.driver as driver

    def one_trial_then_ctrl_c(settings, space, selection, recorder, storage, *args, **kw):
        import optuna

        number = optuna.load_study(study_name=driver.STUDY_NAME, storage=storage).ask().number  # asked, not told
        recorder.writer.append({"trial_id": f"t{number:05d}", "number": number, "status": "infeasible", "reason": "x"})
        recorder.counts["infeasible"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "_run_tune", one_trial_then_ctrl_c)
    run_dir = tmp_path / "s"
    code, _, err = _search(capsys, run_dir)
    assert code == 130 and err.count("\n") == 1
    resume = f"espnas search --resume --run-dir {run_dir}"
    assert err == (
        f"espnas search: interrupted; 0 complete, 0 failed, 0 pruned and 1 infeasible trials kept in {run_dir}; "
        f"resume with: {resume}\n"
    )
    assert read_metadata(run_dir)["interrupted"] is True
    code, out, _ = run_cli(capsys, "runs", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)[0]["state"] == "interrupted"
    code, out, _ = run_cli(capsys, "runs", str(tmp_path))
    assert "interrupted" in out

    monkeypatch.setattr(driver, "_run_tune", lambda *a, **k: 0.0)
    code, out, _ = run_cli(capsys, *_argv(resume))
    assert code == 0
    lines = out.splitlines()
    note = (
        f"note: resuming {run_dir} at trial 1 of 16 (0 complete, 0 failed, 0 pruned, 1 infeasible recorded); 16 to run"
    )
    assert note in " ".join(out.split())  # (wrapped between words at 80 columns)
    assert lines[1].startswith(f"note: resuming {run_dir}")  # said before the trials run, not at the end
    assert "interrupted" not in read_metadata(run_dir) and read_metadata(run_dir)["ended"]


def test_search_ctrl_c_before_any_record_keeps_nothing(tmp_path, monkeypatch, capsys):
    import nas.search.driver as driver

    def ctrl_c(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "_run_tune", ctrl_c)
    run_dir = tmp_path / "s"
    code, _, err = _search(capsys, run_dir)
    assert code == 130 and "nothing was kept" in err and "resume with" not in err and err.count("\n") == 1
    assert not run_dir.exists()


@pytest.mark.parametrize("kept", ["nothing kept", "the checkpoint after epoch 3 of 10 is kept in exports/.x.train/abc"])
def test_export_ctrl_c_says_nothing_was_written(monkeypatch, capsys, kept):
    import nas.cli.export as cli
    from search_spaces.errors import Interrupted

    def interrupted(args):
        raise Interrupted(kept)

    monkeypatch.setattr(cli, "_export", interrupted)
    code, _, err = run_cli(capsys, "export", "--config", "espnetv2-0.5", "--epochs", "10", "--quiet")
    assert code == 130 and err.count("\n") == 1 and "nothing was written" in err
    if kept == "nothing kept":
        assert "resume with" not in err
    else:
        assert err.endswith("resume with: espnas export --config espnetv2-0.5 --epochs 10 --quiet\n")


def test_ctrl_c_while_the_command_starts_is_130_and_one_line(monkeypatch, capsys):
    import nas.cli

    def slow_import(command):  # Ctrl-C while torch or Ray is still importing
        raise KeyboardInterrupt

    monkeypatch.setattr(nas.cli, "build_parser", slow_import)
    code, out, err = run_cli(capsys, "profile", "espnetv2-0.5")
    assert code == 130 and out == ""
    assert err == "espnas profile: interrupted; nothing was kept (run the command again)\n"
