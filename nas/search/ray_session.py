"""Ray for a search: join or start it, place one measuring actor per target, and pick the concurrency."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from nas.search.errors import SearchError
from nas.search.trial import Measurer, TrialJob, actor_name


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[float]:
    """Join `address` or start a quiet local Ray (no dashboard, no worker logs on the driver); yields the
    seconds ray.init took. A Ray already initialised in this process (tests, notebooks) is reused."""
    import logging

    import ray

    if ray.is_initialized():
        yield 0.0
        return
    t = time.perf_counter()
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
        "logging_level": logging.ERROR,
    }
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            # A local Ray turns token authentication on by default and says so in a warning banner on every
            # search; the setting stays Ray's, only its banner is silenced.
            banner = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = banner.level
            banner.setLevel(logging.ERROR)
            try:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
            finally:
                banner.setLevel(level)
    except ConnectionError as err:
        raise SearchError(
            f"cannot join the Ray cluster at {address!r} ({err}); start one with 'ray start --head'"
        ) from None
    except Exception as err:  # e.g. "The current node timed out during startup" on an overloaded machine
        if "timed out during startup" not in str(err):
            raise
        raise SearchError(
            "Ray's local node did not start in time (the machine may be overloaded); run the command again, "
            "or with --resume if its run directory has records"
        ) from None
    startup = time.perf_counter() - t
    try:
        yield startup
    finally:
        ray.shutdown()


def _target_resources(target: str) -> dict[str, float]:
    """The Ray resource that places an actor on a node of `target`: a custom resource of that name, or the
    accelerator type Ray detected. Unknown targets are an error listing what the cluster offers."""
    import ray

    available = ray.cluster_resources()
    for key in (target, f"accelerator_type:{target}"):
        if key in available:
            return {key: 0.001}
    custom = sorted(k for k in available if k not in ("CPU", "GPU", "memory", "object_store_memory"))
    offered = [k for k in custom if not k.startswith("node:")]
    raise SearchError(
        f"target {target!r} is not a resource of this Ray cluster; valid: {', '.join(offered) or 'none'} "
        "(start nodes with --resources='{\"NAME\": 1}' or use an accelerator type)"
    )


def start_measurers(job: TrialJob) -> list[Any]:
    """One measuring actor per target of `job` (named in its namespace, so trials find them);
    `max_concurrency=1` serialises them."""
    import ray

    actor_cls = ray.remote(Measurer)
    handles = []
    gpu = 1 if job.device.startswith("cuda") else 0
    for target in job.targets:
        resources = _target_resources(target)
        handle = actor_cls.options(
            name=actor_name(target),
            namespace=job.namespace,
            max_concurrency=1,
            num_cpus=0,
            num_gpus=gpu,
            resources=resources,
            lifetime=None,
        ).remote(target, job.device, job.latency_budget_s, job.latency_batch, job.measure_threads)
        handles.append(handle)
    ray.get([h.where.remote() for h in handles])  # fail early if a target cannot be placed
    return handles


def default_concurrency(
    requested: int | None, device: str, cpus_per_trial: float, measuring_locally: bool, cpus: float
) -> int:
    """Parallel trials: `requested` if given. Measuring on the local CPU while other trials train would
    disturb latency, so that case runs one trial at a time; otherwise as many as the cluster's CPUs allow
    (GPUs limit themselves through each trial's GPU request)."""
    if requested is not None:
        return max(1, requested)
    if measuring_locally and device == "cpu":
        return 1
    return max(1, int(cpus // max(cpus_per_trial, 1e-9)))


@contextlib.contextmanager
def quiet_ray_logs() -> Iterator[None]:
    """Tune logs warnings (e.g. about trial checkpoints) through `logging`; the live table is the output."""
    import logging

    names = ("ray", "ray.tune", "ray.train", "ray.air")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)


__all__ = ["default_concurrency", "quiet_ray_logs", "ray_session", "start_measurers"]
