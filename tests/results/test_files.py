"""results.files: atomic writes leave the old file or the new one, never a partial one or a stray temp file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from results.files import FILE_MODE, atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic


def test_writes_replace_the_file_with_the_mode_open_would_give(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    write_text_atomic(path, "new é")
    assert path.read_bytes() == "new é".encode()
    write_bytes_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(os.stat(path).st_mode) == FILE_MODE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_json_ends_with_a_newline_and_passes_the_options(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"b": 1, "a": [1.5]}, sort_keys=True)
    text = path.read_text()
    assert text == json.dumps({"a": [1.5], "b": 1}, indent=2) + "\n"
    with pytest.raises(ValueError):
        write_json_atomic(path, {"x": float("nan")}, allow_nan=False)
    assert path.read_text() == text


def test_a_failed_writer_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(path, suffix=".tmp.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".tmp.bin")
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]
