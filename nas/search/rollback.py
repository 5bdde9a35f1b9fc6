"""A search that fails leaves no half-written run: before its first record, everything it created goes;
after, the run stays, marked failed with its reason (`failure` in run.json), and `--resume` continues it."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from results.store import RUN_FILE, TRIALS_DIR, now_iso

# What a search writes into a run directory; a rollback removes only these (never a user's other files).
CREATED = (RUN_FILE, TRIALS_DIR, "optuna.db", "optuna.db-journal", "ray", "search_timings.jsonl")


def has_records(run_dir: Path) -> bool:
    trials = run_dir / TRIALS_DIR
    return trials.is_dir() and any(p.suffix == ".parquet" and not p.name.startswith(".") for p in trials.iterdir())


def remove_run(run_dir: Path, created_dir: bool) -> None:
    """Remove a run that has no records: the directory if the search created it, else only its own files."""
    if created_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in CREATED:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@contextlib.contextmanager
def run_guard(run_dir: Path, writer: Any, *, new_run: bool, created_dir: bool) -> Iterator[None]:
    """On any exception: a new run without records is removed (the same command can be re-run); a run with
    records is marked failed with the reason, for `--resume`. The exception propagates either way."""
    try:
        yield
    except BaseException as err:
        if new_run and not has_records(run_dir):
            remove_run(run_dir, created_dir)
        elif not isinstance(err, KeyboardInterrupt):
            reason = str(err).strip().splitlines()
            with contextlib.suppress(Exception):
                writer.update_metadata(ended=now_iso(), failure=(reason[0] if reason else type(err).__name__))
        raise


__all__ = ["has_records", "remove_run", "run_guard"]
