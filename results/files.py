"""Atomic file writing: a temporary file in the same directory, fsync, then `os.replace`.

A reader never sees a partial file: it sees the old file or the new one. Every file espnas writes (run metadata,
trial batches, export directories, training checkpoints) goes through here. Standard library only, so that
`results/` stays free of torch, Ray and Optuna, and `import nas` stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# What open() would give; mkstemp alone gives 0600. Read once: os.umask can only be read by setting it, which
# would race with other threads creating files.
FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (torch.save, safetensors, ONNX).

    On success the file is fsynced, given the mode open() would give and moved onto `path` with `os.replace`;
    on failure it is removed. `suffix` ends the temporary name (for writers that look at the extension).
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# A temporary name of `atomic_path`: "." + the target's name + "." + mkstemp's 8 random characters + suffix.
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def remove_stale_temps(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files `atomic_path` left in `directory` when its process was killed (kill -9
    mid-write); returns them. Call it only where no other process is writing (a run or checkpoint being
    resumed, an export being redone)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    removed = []
    for entry in os.scandir(root):
        if entry.is_file(follow_symlinks=False) and _TEMP_NAME.match(entry.name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(root / entry.name)
    return removed


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically (see `atomic_path`)."""
    write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(
    path: str | os.PathLike[str], data: Any, *, indent: int | None = 2, sort_keys: bool = False, allow_nan: bool = True
) -> None:
    """Write `data` as JSON (then a newline) to `path` atomically; the options are json.dumps's."""
    write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan) + "\n")
