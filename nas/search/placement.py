"""Where a search measures: the GPU settings that would time the wrong GPU, refused before anything runs.

- Ray gives each trial (and each measuring actor) the GPUs it asked for and makes only those visible, so
  inside a trial the GPU is always cuda:0; `--device cuda:1` would name a GPU the trial cannot see.
- A fractional `--gpus-per-trial` packs several trials on one GPU; with latency or energy measured in the
  trial, one trial would time a GPU on which another is training.
- Energy availability belongs to the device that measures: with measuring targets it is asked of each
  target's actor, and on a cluster (`--address`) of a task placed as a trial is, not of the machine that
  drives the search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nas.search.errors import SearchError


def check_gpu_placement(device: str, gpus_per_trial: float | None, *, measuring: bool, targets: Sequence[str]) -> None:
    """Raise `SearchError` (one line) for a CUDA device index or GPU share that would time the wrong GPU."""
    if device.startswith("cuda:") and device != "cuda:0":
        raise SearchError(
            f"--device {device} is invalid in a search: Ray shows each trial only the GPU it gives it, as cuda:0; "
            "valid: cuda (choose the machine's GPUs with CUDA_VISIBLE_DEVICES)"
        )
    measuring_locally = measuring and not targets
    if measuring_locally and device.startswith("cuda") and gpus_per_trial is not None and gpus_per_trial < 1:
        raise SearchError(
            f"--gpus-per-trial {gpus_per_trial:g} shares a GPU between trials that measure latency or energy on it, "
            "so one would time a GPU another is training on; valid: 1 or more, or measure on --targets"
        )


def power_checked_on_targets(device: str) -> tuple[bool, str]:
    """The objective selection's power check where targets (or a cluster's trials) measure: decided where
    they run, once Ray is up."""
    return True, "checked where the measurements run when the search starts"


def _probe_power(device: str) -> tuple[bool, str]:
    from nas.search.objectives import energy_availability

    return energy_availability(device)


def check_power_where_trials_run(device: str, gpus_per_trial: float, ray: Any) -> None:
    """Probe the power source from a Ray task placed with a trial's GPU share; `SearchError` if none."""
    probe = ray.remote(num_cpus=0, num_gpus=gpus_per_trial)(_probe_power)
    ok, reason = ray.get(probe.remote(device))
    if not ok:
        raise SearchError(
            f"objective 'energy' cannot be measured where the trials run ({reason}); leave energy out of "
            "--objectives, or measure on targets with a power source"
        )


def check_power_on_targets(measurers: Sequence[Any], targets: Sequence[str], get: Callable[[Any], Any]) -> None:
    """Ask every measuring actor whether its device has a power source; `SearchError` naming those without."""
    answers = get([m.power.remote() for m in measurers])
    missing = [f"{t} ({reason})" for t, (ok, reason) in zip(targets, answers, strict=True) if not ok]
    if missing:
        raise SearchError(
            f"objective 'energy' cannot be measured on target {', '.join(missing)}; leave energy out of "
            "--objectives, or measure on targets with a power source"
        )


__all__ = ["check_gpu_placement", "check_power_on_targets", "check_power_where_trials_run", "power_checked_on_targets"]
