"""Hypothesis over the CLI's flags (bounded examples and time): `espnas search` with random values for its
numeric, name and path flags never raises (exit 0 or a one-line exit 2), never hangs, and when it refuses,
leaves no run directory. The Ray part is replaced by a stub that records nothing, so a valid combination
finishes at once; `--where` and the training settings are fuzzed through their parsers."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nas.search.driver as driver
from nas.cli import main
from nas.train.checks import TrainSettingsError, check_train_settings
from results.where import Where, WhereError

NUMBERS = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(["0", "-1", "1", "nan", "inf", "-inf", "1e400", "9" * 40, "0.5", "abc", ""]),
)
FLAGS = {
    "--seed": NUMBERS,
    "--trials": NUMBERS,
    "--image-size": NUMBERS,
    "--proxy-epochs": NUMBERS,
    "--proxy-max-steps": NUMBERS,
    "--latency-budget": NUMBERS,
    "--measure-threads": NUMBERS,
    "--concurrency": NUMBERS,
    "--cpus-per-trial": NUMBERS,
    "--gpus-per-trial": NUMBERS,
    "--retries": NUMBERS,
    "--flops": st.sampled_from(["28M:284M", "284M:28M", "x", "0:1", "-5:3", "1e9:2e9", ":"]),
    "--name": st.sampled_from(["ok-name", "../x", "/abs", "a/b", "..", "", "n" * 300]),
    "--storage": st.sampled_from(["sqlite:///db.sqlite", "bogus://x", "nope", "postgresql:/"]),
    "--sampler": st.sampled_from(["tpe", "random", "nsga2", "RandomSampler", "bogus", "a:b", "os:path"]),
    "--objectives": st.sampled_from(["latency,params", "params", "speed", "", "latency,latency"]),
}


@pytest.fixture(scope="module")
def stubbed_tune():
    """No Ray: `_run_tune` returns at once (a valid combination ends as an empty, finished run)."""
    original = driver._run_tune
    driver._run_tune = lambda *args, **kwargs: 0.0
    yield
    driver._run_tune = original


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.dictionaries(st.sampled_from(sorted(FLAGS)), st.none(), min_size=1, max_size=4), data=st.data())
def test_fuzz_search_flags(stubbed_tune, tmp_path_factory, chosen, data, capsys):
    root = tmp_path_factory.mktemp("fuzz")
    argv = ["search", "--no-progress", "--objectives", "params", "--run-dir", str(root / "run")]
    for flag in chosen:
        argv += [flag, data.draw(FLAGS[flag], label=flag)]
    cwd = os.getcwd()
    os.chdir(root)
    try:
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse refusing a value (e.g. --seed abc) exits 2 with one line
            status = exit_.code
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip()
    assert status in (0, 2), (argv, err)
    if status == 2:
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert not (root / "run").exists(), argv  # a refused search leaves no run directory
        assert not list(root.glob("runs/*")), argv
    else:
        assert (root / "run" / "run.json").is_file(), argv


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_where_text(text):
    frame = pd.DataFrame({"latency_ms": [1.0, 2.0, math.nan], "name": ["a", "b", "c"]})
    try:
        mask = Where(text).mask(frame)
    except WhereError as err:
        assert "\n" not in str(err)
    else:
        assert len(mask) == 3 and mask.dtype == bool


@settings(max_examples=200, deadline=None)
@given(
    seed=st.one_of(st.integers(), st.floats(), st.booleans()),
    image_size=st.one_of(st.none(), st.integers(-10, 1000)),
    label_smoothing=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    epochs=st.one_of(st.none(), st.integers(-5, 5)),
    batch_size=st.one_of(st.none(), st.integers(-5, 5)),
)
def test_fuzz_training_settings(seed, image_size, label_smoothing, epochs, batch_size):
    kwargs = dict(seed=seed, image_size=image_size, label_smoothing=label_smoothing, epochs=epochs,
                  batch_size=batch_size)  # fmt: skip
    try:
        check_train_settings(**kwargs)
    except TrainSettingsError as err:
        assert "\n" not in str(err)
        return
    # accepted: then every value is one the trainer can use
    assert isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**31
    assert image_size is None or image_size >= 32
    assert label_smoothing is None or 0 <= label_smoothing < 1
    assert epochs is None or epochs >= 1
    assert batch_size is None or batch_size >= 2


def test_the_stub_is_what_a_valid_search_runs(stubbed_tune, tmp_path):
    """Guard for the fuzz test: a valid combination does reach `_run_tune` (and the stub) and exits 0."""
    assert main(["search", "--no-progress", "--objectives", "params", "--run-dir", str(tmp_path / "r")]) == 0
    assert Path(tmp_path / "r" / "run.json").is_file()
