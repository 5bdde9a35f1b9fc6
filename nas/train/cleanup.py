"""A training that fails before its first epoch ends leaves nothing in --out that it created."""

from __future__ import annotations

import contextlib
from pathlib import Path

OUT_FILES = ("checkpoint.pt", "config.json", "history.json")


def fresh_files(checkpoint: Path | None) -> list[Path]:
    """What a fresh training is about to create beside `checkpoint`: the files that do not exist yet, then
    the directories (deepest first) that do not exist yet."""
    if checkpoint is None:
        return []
    out = checkpoint.parent
    created = [out / name for name in OUT_FILES if not (out / name).exists()]
    created += [d for d in (out, *out.parents) if not d.exists()]
    return created


def remove_created(paths: list[Path]) -> None:
    """Remove the files, then the directories that are empty (never anything that was there before)."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()  # only if empty
            else:
                path.unlink(missing_ok=True)


__all__ = ["fresh_files", "remove_created"]
