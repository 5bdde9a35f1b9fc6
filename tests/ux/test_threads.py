"""Thread counts on a shared machine, and the warning when a measurement's spread says it was disturbed."""

from __future__ import annotations

import json

import pytest

from profilers import threads as th
from profilers.disturbance import disturbances, disturbed, warning_line
from search_spaces.errors import EspnasError

from .conftest import run_cli


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(th.ENV_VAR, raising=False)


def test_measuring_defaults_to_one_thread():
    assert th.choose_threads(None, "measure").threads == 1


def test_training_takes_the_free_cores(monkeypatch):
    monkeypatch.setattr(th, "usable_cores", lambda: 8)
    monkeypatch.setattr(th.os, "getloadavg", lambda: (5.4, 0.0, 0.0))
    choice = th.choose_threads(None, "train")
    assert choice.threads == 3 and "8 usable" in choice.reason and "load 5.4" in choice.reason


@pytest.mark.parametrize(
    ("load", "cores", "free"), [(0.0, 2, 2), (0.6, 2, 1), (1.4, 2, 1), (11.0, 2, 1), (2.5, 16, 13)]
)
def test_free_cores(load, cores, free):
    assert th.free_cores(load, cores) == free


def test_an_explicit_count_and_the_environment_win(monkeypatch):
    assert th.choose_threads(3, "measure").threads == 3
    monkeypatch.setenv(th.ENV_VAR, "2")
    assert th.choose_threads(None, "train") == th.ThreadChoice(2, f"${th.ENV_VAR}")


@pytest.mark.parametrize("bad", [0, -1])
def test_invalid_counts_are_one_line_errors(bad, monkeypatch):
    with pytest.raises(EspnasError, match="valid: a positive integer"):
        th.choose_threads(bad)
    monkeypatch.setenv(th.ENV_VAR, str(bad))
    with pytest.raises(EspnasError, match=th.ENV_VAR):
        th.choose_threads(None)


def test_using_threads_restores_torch():
    import torch

    before = torch.get_num_threads()
    with th.using_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("median", "iqr", "ci", "expected"),
    [
        (10.0, 2.0, (9.7, 10.3), False),  # IQR 20%, CI 6%: within both limits
        (10.0, 2.6, (9.7, 10.3), True),  # IQR 26% > 25%
        (10.0, 1.0, (9.0, 10.2), True),  # CI 12% > 10%
        (3781.0, 1717.0, (2900.0, 4400.0), True),  # the busy-machine profile
        (None, 5.0, None, False),
    ],
)
def test_disturbed(median, iqr, ci, expected):
    assert disturbed(median, iqr, ci) is expected


def _record(model, value, iqr, ci):
    return {"model": model, "batch_size": 1, "metric": "latency", "value": value, "unit": "ms",
            "spread": {"iqr": iqr, "ci95": list(ci)}, "n_samples": 10, "backend": "cpu"}  # fmt: skip


def test_warning_is_one_line_naming_the_first_and_counting_the_rest():
    found = disturbances(
        [_record("a", 10.0, 1.0, (9.9, 10.1)), _record("b", 10.0, 5.0, (8, 12)), _record("c", 4, 2, (3, 5))]
    )
    assert [d.what for d in found] == ["b batch 1", "c batch 1"]
    line = warning_line(found, threads=2)
    assert "\n" not in line and "b batch 1: IQR 50% of the median (limit 25%)" in line
    assert "(and 1 more)" in line and "--threads 1" in line
    assert "--threads 1" not in warning_line(found, threads=1)
    assert warning_line([], threads=1) is None


def _fake_profile(records, seen):
    from profilers.profile import ProfileReport

    def fake(specs, **kw):
        seen.update(kw)
        return ProfileReport(records=records, settings={"device": "cpu"}, fingerprint={"threads": kw["threads"]})

    return fake


@pytest.mark.parametrize("as_json", [False, True])
def test_profile_warns_once_on_stderr_and_measures_with_one_thread(monkeypatch, capsys, as_json):
    import nas.cli.profile as cli

    seen: dict = {}
    monkeypatch.setattr(cli, "profile", _fake_profile([_record("m", 3781.0, 1717.0, (2900, 4400))], seen))
    code, out, err = run_cli(capsys, "profile", "espnetv2-0.5", *(["--json"] if as_json else []))
    assert code == 0 and seen["threads"] == 1
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "m batch 1" in warnings[0]
    assert "warning" not in out


def test_profile_is_quiet_when_the_spread_is_tight(monkeypatch, capsys):
    import nas.cli.profile as cli

    seen: dict = {}
    monkeypatch.setattr(cli, "profile", _fake_profile([_record("m", 50.0, 1.0, (49.5, 50.5))], seen))
    code, _, err = run_cli(capsys, "profile", "espnetv2-0.5", "--threads", "2")
    assert code == 0 and seen["threads"] == 2 and "warning" not in err


def _fake_cross_check(seen: list[int]):
    def cross_check(config):  # stands in for building and counting the model four ways
        import torch

        seen.append(torch.get_num_threads())
        counts = {"params": 1, "macs": 5}
        return {"analytic": counts, "hooks": counts, "agrees": True, "fvcore": {"total": 7},
                "ptflops": {"params": 1, "macs": 8}, "ptflops_aten": {"params": 1, "macs": 9}}  # fmt: skip

    return cross_check


def test_count_cross_check_runs_with_the_chosen_threads_and_records_them(monkeypatch, capsys):
    import torch

    import profilers.crosscheck

    seen: list[int] = []
    monkeypatch.setattr(profilers.crosscheck, "cross_check", _fake_cross_check(seen))
    want = 1 if torch.get_num_threads() != 1 else 2  # a count other than torch's own, to see it applied
    before = torch.get_num_threads()
    code, out, _ = run_cli(capsys, "count", "espnetv2-0.5", "--cross-check", "--threads", str(want), "--json")
    assert code == 0 and seen == [want] and torch.get_num_threads() == before  # applied, then restored
    assert json.loads(out)["cross_check"]["threads"] == {"threads": want, "reason": "--threads"}
    monkeypatch.setenv("ESPNAS_THREADS", str(want))
    code, out, _ = run_cli(capsys, "count", "espnetv2-0.5", "--cross-check")
    assert code == 0 and seen == [want, want]
    assert f"threads for the cross-check: {want} thread{'s' if want > 1 else ''} ($ESPNAS_THREADS)" in out


def test_count_threads_without_cross_check_is_a_one_line_error(capsys):
    code, out, err = run_cli(capsys, "count", "espnetv2-0.5", "--threads", "2")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--threads 2 applies only with --cross-check" in err and "valid: add --cross-check" in err
