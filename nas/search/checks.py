"""Every search setting checked before anything is written or started (no run directory, no Ray).

`check_settings(settings)` raises a SearchError naming the setting, its value and what is valid; it is cheap
(no data loading, no Ray). `check_run_name` and `check_storage` are the pieces the CLI and resume share.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from nas.search.errors import SearchError

MAX_SEED = 2**31 - 1  # numpy's RandomState takes < 2**32; trials add their number (and attempt) to the seed
MIN_IMAGE_SIDE = 32  # five down-samplings (search_spaces.config.MIN_INPUT_SIDE)
STORAGE_DIALECTS = ("sqlite", "postgresql", "mysql")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(name: str, value: Any, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if not _is_int(value) or value < minimum:
        raise SearchError(f"{name} {value!r} is invalid; valid: an integer, {minimum} or more")


def _positive_float(name: str, value: Any, *, allow_none: bool = False, zero: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        bound = "0 or more" if zero else "more than 0"
        raise SearchError(f"{name} {value!r} is invalid; valid: a finite number, {bound}")


def check_seed(name: str, seed: Any) -> None:
    """A seed every library takes: 0..2**31-1."""
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise SearchError(f"{name} {seed!r} is invalid; valid: an integer from 0 to {MAX_SEED}")


def check_run_name(name: str | None) -> None:
    """A run name is one plain path component: it can never place a run outside its parent directory."""
    if name is None:
        return
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or name in (".", ".."):
        raise SearchError(
            f"--name {name!r} is invalid; valid: letters, digits, '_', '.', '-' (starting with a letter or "
            "digit), no path separators"
        )


def check_storage(url: str | None) -> None:
    """An Optuna RDB URL SQLAlchemy can parse, of a dialect Optuna supports."""
    if url is None:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    dialect = parsed.get_backend_name() if parsed is not None else None
    if dialect not in STORAGE_DIALECTS:
        raise SearchError(
            f"--storage {url!r} is invalid; valid: an RDB URL of {', '.join(STORAGE_DIALECTS)}, "
            "e.g. sqlite:///runs/optuna.db or postgresql://user@host/db"
        )


def check_run_dir(run_dir: str | os.PathLike[str] | None) -> None:
    """A run directory that is not an existing file (nor below one)."""
    if run_dir is None:
        return
    path = Path(run_dir)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise SearchError(f"--run-dir {str(run_dir)!r} is invalid: {str(p)!r} is a file; valid: a directory")


def local_cpus(settings: Any) -> int:
    return int(settings.num_cpus or os.cpu_count() or 1)


def check_settings(settings: Any) -> None:
    """Refuse any invalid SearchSettings field, one line naming it and what is valid."""
    device = str(settings.device)
    if device != "cpu" and not (device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
        raise SearchError(f"--device {settings.device!r} is invalid; valid: cpu, cuda, cuda:N")
    _positive_int("--trials", settings.trials)
    check_seed("--seed", settings.seed)
    _positive_int("--image-size", settings.image_size, minimum=MIN_IMAGE_SIDE)
    _positive_int("--proxy-epochs", settings.proxy_epochs)
    _positive_int("--proxy-max-steps", settings.proxy_max_steps, allow_none=True)
    _positive_int("--batch-size", settings.batch_size, minimum=2)  # BatchNorm needs 2 images per batch
    _positive_float("--latency-budget", settings.latency_budget_s)
    _positive_int("--latency-batch", settings.latency_batch)
    _positive_int("--measure-threads", settings.measure_threads)
    _positive_int("--retries", settings.retries, minimum=0)
    _positive_int("--max-infeasible", settings.max_infeasible, allow_none=True)
    _positive_int("--concurrency", settings.concurrency, allow_none=True)
    _positive_int("--num-cpus", settings.num_cpus, allow_none=True)
    _positive_float("--cpus-per-trial", settings.cpus_per_trial)
    _positive_float("--gpus-per-trial", settings.gpus_per_trial, allow_none=True, zero=True)
    if settings.address is None and settings.cpus_per_trial > local_cpus(settings):
        # Ray would wait forever for a trial that fits no node.
        raise SearchError(
            f"--cpus-per-trial {settings.cpus_per_trial:g} is more than this machine's {local_cpus(settings)} "
            f"CPUs; valid: more than 0 and at most {local_cpus(settings)} (or join a cluster with --address)"
        )
    check_run_name(settings.name)
    check_run_dir(settings.run_dir)
    check_storage(settings.storage)


def check_cluster_fits(settings: Any, cluster_cpus: float) -> None:
    """Refuse a trial that no node of a joined cluster can run (Ray would wait for it forever)."""
    if settings.cpus_per_trial > cluster_cpus:
        raise SearchError(
            f"--cpus-per-trial {settings.cpus_per_trial:g} is more than the cluster's {cluster_cpus:g} CPUs; "
            f"valid: more than 0 and at most {cluster_cpus:g}"
        )


__all__ = [
    "MAX_SEED",
    "check_cluster_fits",
    "check_run_dir",
    "check_run_name",
    "check_seed",
    "check_settings",
    "check_storage",
]
