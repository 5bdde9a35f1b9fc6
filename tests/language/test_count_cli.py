"""`espnas count` on language models: the ERU presets' parameter counts (Table 3's 7M and 15M rows) and the
hook cross-check."""

from __future__ import annotations

import json

import pytest

from nas.cli import main


@pytest.mark.parametrize(("spec", "params"), [("eru-7m", 7_016_108), ("eru-15m", 15_003_052)])
def test_count_gives_the_presets_parameters(spec, params, capsys):
    assert main(["count", spec, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["params"] == params and got["kind"] == "eru"
    assert abs(got["params"] - float(spec[4:-1]) * 1e6) / (float(spec[4:-1]) * 1e6) < 0.02


def test_count_cross_checks_a_small_eru_against_hooks(capsys):
    assert main(["count", "eru:e=16,h=24,v=50", "--cross-check", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["cross_check"]["agrees"] is True
    assert got["cross_check"]["hooks"]["params"] == got["params"]


def test_count_of_the_equal_lstm_and_a_table(capsys):
    assert main(["count", "lstm:eru-7m"]) == 0
    out = capsys.readouterr().out
    assert "lstm" in out and "params" in out


def test_classes_do_not_apply_to_a_language_model(capsys):
    assert main(["count", "eru-7m", "--classes", "10"]) == 2
    assert "--classes does not apply to a language model" in capsys.readouterr().err
