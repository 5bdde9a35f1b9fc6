"""The project-wide helpers that exist once: the one-line error text and the stored timestamp."""

from __future__ import annotations

import datetime as dt

import pytest

from results.timestamps import now_iso
from search_spaces.errors import one_line


def test_one_line_keeps_the_first_non_blank_line_squeezed():
    err = RuntimeError("\n  \n  CUDA out of\tmemory.  Tried  \r\nmore detail\nthird")
    assert one_line(err) == "CUDA out of memory. Tried"


def test_one_line_cuts_long_messages_at_the_limit():
    text = one_line(ValueError("x" * 500), 50)
    assert text == "x" * 47 + "..." and len(text) == 50
    assert one_line(ValueError("y" * 50), 50) == "y" * 50  # exactly at the limit: kept whole


def test_one_line_with_the_type_and_without_a_message():
    assert one_line(KeyError("k"), with_type=True) == "KeyError: 'k'"
    assert one_line(MemoryError()) == "MemoryError"
    assert one_line(MemoryError(), with_type=True) == "MemoryError"
    assert one_line(ValueError(" \n "), with_type=True) == "ValueError"
    assert len(one_line(ValueError("z" * 400), 300, with_type=True)) == 300


def test_one_line_of_a_dataloader_worker_error_is_the_workers_cause():
    wrapped = RuntimeError(
        "Caught OSError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n    open(p)\nOSError: image file is truncated\n'
    )
    assert one_line(wrapped) == "OSError: image file is truncated"
    assert one_line(wrapped, with_type=True) == "OSError: image file is truncated"


def test_now_iso_is_utc_to_the_second():
    assert now_iso(0) == "1970-01-01T00:00:00+00:00"
    assert now_iso(1_700_000_000.75) == "2023-11-14T22:13:20+00:00"


def test_now_iso_defaults_to_now():
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = dt.datetime.fromisoformat(now_iso())
    after = dt.datetime.now(dt.UTC)
    assert stamp.tzinfo is not None and before <= stamp <= after


@pytest.mark.parametrize(
    "module",
    ["results.store", "nas.export.layout", "nas.export.pipeline", "nas.search.recorder", "profilers.fingerprint"],
)
def test_no_module_keeps_its_own_clock(module):
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module))
    assert "datetime.now(" not in source and "fromtimestamp(" not in source
