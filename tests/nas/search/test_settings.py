"""One source of defaults: SearchSettings. The CLI's defaults equal its fields', `from_dict` refuses unknown
keys, and the train/export commands default as their library functions do."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json

import pytest

from nas.search.driver import SearchSettings
from nas.search.errors import SearchError
from search_spaces.errors import EspnasError


def _parser() -> argparse.ArgumentParser:
    from nas.cli import build_parser

    return build_parser()


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = _parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices[name]


def _option_defaults(name: str) -> dict[str, object]:
    """dest -> default of every option of a command (positional and help actions left out)."""
    return {
        a.dest: a.default
        for a in _subparser(name)._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction)
    }


FIELDS = {f.name: f.default for f in dataclasses.fields(SearchSettings)}


def _as_library_value(dest: str, value: object) -> object:
    """A CLI default in the library's form, converted as the CLI converts it (the band, the format list)."""
    from nas.export.formats import parse_formats
    from nas.search.band import parse_band

    converters = {"flops": parse_band, "formats": lambda v: tuple(parse_formats(v))}
    return converters[dest](value) if dest in converters and isinstance(value, str) else value


def test_search_options_default_as_the_settings_do():
    options = _option_defaults("search")
    shared = sorted(set(options) & set(FIELDS))
    assert len(shared) >= 15  # the walk found the options, not an empty parser
    differ = {
        k: (options[k], FIELDS[k])
        for k in shared
        if options[k] is not None and _as_library_value(k, options[k]) != FIELDS[k]
    }
    assert differ == {}, f"CLI default vs SearchSettings default: {differ}"


def test_search_with_no_arguments_is_the_default_settings():
    from nas.cli.search import settings_from_args

    args = _parser().parse_args(["search"])
    settings = settings_from_args(args)
    assert settings == SearchSettings()


def test_every_search_option_is_a_setting_or_a_cli_switch():
    cli_only = {"json", "no_progress"}
    options = set(_option_defaults("search"))
    assert options - set(FIELDS) - cli_only == set()  # no option that the library would not see


def test_from_dict_round_trips_every_field():
    s = SearchSettings(trials=5, flops=(1, 2), objectives=("latency",), targets=("a", "b"), concurrency=3)
    assert SearchSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


@pytest.mark.parametrize("key", ["trails", "proxy_epoch", "run"])
def test_from_dict_refuses_an_unknown_key_in_one_line(key):
    with pytest.raises(SearchError) as info:
        SearchSettings.from_dict({"trials": 3, key: 1})
    message = str(info.value)
    assert "\n" not in message and repr(key) in message and "; valid: " in message and "trials, flops" in message
    assert isinstance(info.value, EspnasError)


def test_a_stored_run_json_reads_back():
    # the keys an older run.json stores (written by to_dict, every version so far): all still fields
    stored = {**SearchSettings().to_dict(), "run_dir": "runs/x", "resume": False}
    assert SearchSettings.from_dict(stored).run_dir == "runs/x"


@pytest.mark.parametrize(
    ("command", "function"),
    [("train", "nas.train.trainer:train"), ("export", "nas.export.pipeline:export")],
)
def test_train_and_export_options_default_as_their_functions(command, function):
    import importlib

    module, name = function.split(":")
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    options = _option_defaults(command)
    shared = [k for k in options if k in params and params[k].default is not inspect.Parameter.empty]
    assert shared, "no option matched a parameter"
    differ = {
        k: (options[k], params[k].default)
        for k in shared
        if options[k] is not None and _as_library_value(k, options[k]) != params[k].default
    }
    assert differ == {}, f"CLI default vs {function} default: {differ}"
