"""Help texts: every command says what it does, no argparse escapes leak, defaults are shown, every command
that computes takes --threads."""

from __future__ import annotations

import argparse

import pytest

from nas.cli import COMMANDS, build_parser


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(command)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def _option(command: str, flag: str) -> argparse.Action:
    return next(a for a in _subparser(command)._actions if flag in a.option_strings)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_a_description_line(command):
    sub = _subparser(command)
    assert sub.description and len(sub.description) > 40, f"espnas {command} --help has no description"
    text = sub.format_help()
    assert "%%" not in text and "%(" not in text


@pytest.mark.parametrize(
    ("command", "flag", "default"),
    [
        ("profile", "--time-budget", "2.0"),
        ("profile", "--rounds", "5"),
        ("profile", "--dtype", "fp32"),
        ("search", "--early-stop", "none"),
        ("search", "--latency-budget", "1.0"),
        ("search", "--device", "cpu"),
        ("search", "--threads", "1"),
        ("train", "--device", "cpu"),
        ("export", "--device", "cpu"),
    ],
)
def test_defaults_are_in_the_help(command, flag, default):
    text = _option(command, flag).help or ""
    assert f"default: {default}" in text, f"{command} {flag}: {text!r}"


def test_profile_help_says_95_percent_once():
    assert "95% CI" in _subparser("profile").format_help().replace("\n", " ")


@pytest.mark.parametrize("command", ["profile", "train", "export", "search", "count"])
def test_every_computing_command_takes_threads(command):
    action = _option(command, "--threads")
    assert action.type is int and "default" in (action.help or "")


def test_search_keeps_measure_threads_as_another_name():
    assert _option("search", "--measure-threads").dest == "measure_threads"
