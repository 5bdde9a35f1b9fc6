"""What runs inside a Ray trial and in measuring actors: proxy training, then measurement.

`run_trial` is a plain function of a trial's config and a `TrialJob`; it runs without Ray in tests.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.search.objectives import metric_name
from search_spaces.errors import one_line


@dataclass(frozen=True)
class TrialJob:
    """The settings a trial needs, shipped to Ray workers (small, picklable)."""

    train: bool
    measure: tuple[str, ...]  # metric columns to measure: latency_ms, energy_mj, peak_memory_mb
    data: str
    image_size: int
    proxy_epochs: int
    proxy_max_steps: int | None
    batch_size: int
    device: str
    threads: int
    measure_threads: int
    retries: int
    seed: int
    latency_budget_s: float
    latency_batch: int
    targets: tuple[str, ...]  # measuring actor names; () = measure in the trial on `device`
    namespace: str
    task: str = "classification"  # nas/search/tasks.py: which proxy gives the quality objective
    runtime: str = "deploy"  # profilers.runtimes: what latency is measured in (every target, unless named below)
    target_runtimes: tuple[str, ...] = ()  # "TARGET=RUNTIME" for targets measured in another runtime
    predictor_table: str | None = None  # latency table for latency_pred_ms (None: this machine's, if any)
    proxy_recipe: str = "proxy"  # classification only: a name in nas.train.proxy.PROXY_RECIPES


def measure_config(
    config_json: str,
    metrics: Sequence[str],
    device: str,
    *,
    budget_s: float,
    batch: int,
    threads: int | None,
    runtime: str = "deploy",
    predictor_table: str | None = None,
) -> dict[str, Any]:
    """Measure one ImageNet-shaped config on `device` (deploy form: BN folded): the requested metrics, their
    spread, the fingerprint, and where it ran. Used in trials and in measuring actors alike."""
    from nas.search.tasks import config_from_json

    config = config_from_json(config_json)  # a classifier or another task's network (nas/search/tasks.py)
    if getattr(config, "task", None) == "language":  # ERU: latency and energy per token, one generation step
        from profilers.language_latency import measure_language_config

        got = measure_language_config(config, metrics, device, budget_s=budget_s, batch=batch, threads=threads)
        return got | {"where": _where()}
    shape = (batch, config.in_channels, *config.input_size)
    out: dict[str, Any] = {"seconds": {}}
    if "latency_ms" in metrics:
        from profilers.latency import measure_latency

        t = time.perf_counter()
        if runtime == "deploy":
            res = measure_latency(
                config,
                shape,
                device=device,
                deploy=True,
                time_budget_s=budget_s,
                threads=threads,
                cuda_graph=device.startswith("cuda"),  # how a deployed GPU model runs; energy uses the same
                eager_if_capture_fails=True,
            )
            out["execution"] = res.options["execution"]
        else:  # another runtime (profilers.runtimes): checked against eager, then timed; recorded in the fingerprint
            from profilers.runtimes import measure_runtime

            res = measure_runtime(config, shape, device, runtime=runtime, time_budget_s=budget_s, threads=threads)
        out["latency_ms"] = float(res.median_ms)
        out["latency_ms_iqr"] = float(res.iqr_ms)
        lo, hi = res.ci95_ms
        out["latency_ms_ci_lo"], out["latency_ms_ci_hi"] = float(lo), float(hi)
        out["fingerprint"] = dict(res.fingerprint or {})
        out["seconds"]["latency"] = time.perf_counter() - t
    if "latency_pred_ms" in metrics:  # predicted from a latency table: no measurement
        from nas.search.predicted import predicted_latency

        t = time.perf_counter()
        got = predicted_latency(config_json, predictor_table, runtime=runtime, batch=batch, threads=threads or 1)
        out["latency_pred_ms"] = got["latency_pred_ms"]
        out.setdefault("fingerprint", {})["predictor"] = got
        out["seconds"]["latency_pred"] = time.perf_counter() - t
    if "energy_mj" in metrics:
        from profilers.energy import measure_energy

        t = time.perf_counter()
        execution = out.get("execution") or ("cuda-graph" if device.startswith("cuda") else "eager")
        idle = _cached_idle(device)
        res = measure_energy(
            config,
            shape,
            device=device,
            deploy=True,
            threads=threads,
            cuda_graph=execution == "cuda-graph",
            eager_if_capture_fails=False,  # latency captured this graph: energy runs exactly that
            idle_power_w=idle,
            time_budget_s=max(budget_s, 1.0),
        )
        if idle is None:
            _IDLE[device] = (res.idle_power_w, time.monotonic())
        out["energy_mj"] = float(res.energy_mj_per_image)  # gross: what the device draws per image
        out["energy_mj_net"] = float(res.energy_mj_per_image_net)  # above idle
        out["execution"] = res.execution
        out.setdefault("fingerprint", {})["energy"] = {
            "method": res.method,
            "source": res.source,
            "idle_power_w": res.idle_power_w,
            "avg_power_w": res.avg_power_w,
            "protocol": {k: v for k, v in res.protocol.items() if k != "idle_settle_powers_w"},
        }
        out["seconds"]["energy"] = time.perf_counter() - t
    if "peak_memory_mb" in metrics:
        from profilers.memory import measure_peak_memory

        t = time.perf_counter()
        res = measure_peak_memory(config, shape, device=device, deploy=True, threads=threads)
        # Peak tensor bytes of one forward: the same quantity on CPU and CUDA (process RSS and allocator
        # bytes are not); the device's own figure stays in the fingerprint.
        out["peak_memory_mb"] = float(res.tensor_peak_mb)
        out.setdefault("fingerprint", {})["memory"] = {
            "method": res.tensor_method,
            "device_peak_mb": res.peak_mb,
            "device_method": res.method,
        }
        out["seconds"]["memory"] = time.perf_counter() - t
    if "execution" in out:  # eager | cuda-graph | compiled: the one mode latency and energy ran in
        out.setdefault("fingerprint", {})["execution"] = out.pop("execution")
    out["where"] = _where()
    return out


#: Idle power per device, measured once (with its settle) and reused for this long: idle is the device's,
#: not the model's, and its settle would otherwise cost every trial several seconds.
IDLE_REUSE_S = 600.0
_IDLE: dict[str, tuple[float, float]] = {}


def _cached_idle(device: str) -> float | None:
    got = _IDLE.get(device)
    return got[0] if got and time.monotonic() - got[1] < IDLE_REUSE_S else None


def _where() -> dict[str, Any]:
    import socket

    where: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():
            where["node_id"] = ray.get_runtime_context().get_node_id()
    return where


# Trials retry a failed training with a new seed (the same seed would fail the same way): attempt a of a trial
# trains with seed + number + a * RETRY_SEED_STRIDE.
RETRY_SEED_STRIDE = 100_003


def run_trial(config: Mapping[str, Any], job: TrialJob, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One trial, as a plain function of its config: proxy training, then measurement. Returns the final
    result dict (also used without Ray in tests). `report` receives per-epoch accuracy for early stopping."""
    import torch

    from nas.search.tasks import config_from_json, get_task

    task = get_task(job.task)
    quality = task.quality_metric  # accuracy, miou, ...
    t_start = time.time()
    seconds: dict[str, float] = {}
    result: dict[str, Any] = {
        "espnas_final": True,
        "espnas_status": "complete",
        "espnas_reason": None,
        "params": float(config["espnas_params"]),  # analytic objectives, reported like any metric
        "macs": float(config["espnas_macs"]),
    }
    config_json = config["espnas_config_json"]
    number = int(config["espnas_number"])
    torch.set_num_threads(max(1, job.threads))
    curve: list[float] = []
    if job.train:
        t = time.perf_counter()
        data = task.load_data(job.data, job.image_size, job.seed)  # loaded once per worker process
        seconds["data"] = time.perf_counter() - t
        arch = config_from_json(config_json)  # the task's proxy adapts classes and input size to the data
        reason = None
        failures: list[str] = []
        reported = 0  # the last epoch the scheduler saw: a retry re-trains epochs 1..n without reporting them again
        for attempt in range(job.retries + 1):
            curve = []

            def on_epoch(epoch: int, acc: float, curve: list[float] = curve) -> None:
                nonlocal reported
                curve.append(float(acc))
                if epoch > reported:
                    reported = int(epoch)
                    report({quality: float(acc), "epoch": int(epoch), "espnas_final": False})

            t = time.perf_counter()
            try:
                proxy = task.proxy(
                    arch,
                    data,
                    epochs=job.proxy_epochs,
                    max_steps=job.proxy_max_steps,
                    batch_size=job.batch_size,
                    device=job.device,
                    seed=(job.seed + number + attempt * RETRY_SEED_STRIDE) % 2**31,
                    report=on_epoch,
                    # only a classification search may name another recipe (checked by the driver)
                    **({"recipe": job.proxy_recipe} if job.proxy_recipe != "proxy" else {}),
                )
                ok, reason = bool(proxy.ok), proxy.reason
            except Exception as err:  # a failing trial is recorded with its reason; the search goes on
                ok, reason, proxy = False, one_line(err, 300, with_type=True), None
                traceback.print_exc()
            seconds["train"] = seconds.get("train", 0.0) + time.perf_counter() - t
            if ok and proxy is not None and math.isfinite(float(proxy.value)):
                result[quality] = float(proxy.value)
                curve = [float(c) for c in (proxy.curve or curve)]
                break
            reason = reason or f"proxy {quality} is not finite"
            failures.append(reason)
        else:
            tries = f" ({job.retries + 1} attempts, each with its own seed)" if job.retries else ""
            result.update(espnas_status="failed", espnas_reason=f"training{tries}: {reason}")
        result["espnas_attempts"] = min(len(failures) + 1, job.retries + 1)  # attempts made, successful or not
        if failures and result["espnas_status"] == "complete":  # complete after a retry: say what failed first
            result["espnas_reason"] = f"complete on attempt {len(failures) + 1}; attempt 1 failed: {failures[0]}"
    if result["espnas_status"] == "complete" and job.measure:
        t = time.perf_counter()
        try:
            result.update(_measure_all(config_json, job))
        except Exception as err:
            traceback.print_exc()
            result.update(espnas_status="failed", espnas_reason=f"measurement: {one_line(err, 300, with_type=True)}")
        seconds["measure"] = time.perf_counter() - t
    result["espnas_curve_json"] = json.dumps(curve)
    result["espnas_seconds_json"] = json.dumps(seconds)
    result["espnas_t_start"] = t_start
    result["espnas_t_end"] = time.time()
    return result


def _measure_all(config_json: str, job: TrialJob) -> dict[str, Any]:
    """Measure on every target (per-target columns) or locally; returns metric columns + fingerprint JSON."""
    out: dict[str, Any] = {}
    fingerprints: dict[str, Any] = {}
    seconds: dict[str, Any] = {}
    if not job.targets:
        got = measure_config(
            config_json,
            job.measure,
            job.device,
            budget_s=job.latency_budget_s,
            batch=job.latency_batch,
            threads=job.measure_threads,
            runtime=job.runtime,
            predictor_table=job.predictor_table,
        )
        fingerprints["local"] = {**got.pop("fingerprint", {}), "where": got.pop("where")}
        seconds["local"] = got.pop("seconds")
        out.update(got)
    else:
        import ray

        actors = [ray.get_actor(actor_name(t), namespace=job.namespace) for t in job.targets]
        runtimes = dict(item.split("=", 1) for item in job.target_runtimes)
        measured = [m for m in job.measure if m != "latency_pred_ms"]  # predicted here, not on the targets
        if len(measured) < len(job.measure):
            out["latency_pred_ms"] = measure_config(
                config_json, ["latency_pred_ms"], job.device, budget_s=0, batch=job.latency_batch,
                threads=job.measure_threads, runtime=job.runtime, predictor_table=job.predictor_table,
            )["latency_pred_ms"]  # fmt: skip
        pending = [
            a.measure.remote(config_json, measured, runtimes.get(t, job.runtime))
            for t, a in zip(job.targets, actors, strict=True)
        ]
        for target, got in zip(job.targets, ray.get(pending), strict=True):
            fingerprints[target] = {**got.pop("fingerprint", {}), "where": got.pop("where")}
            seconds[target] = got.pop("seconds")
            for key, value in got.items():
                base = next((m for m in job.measure if key.startswith(m)), key)
                out[metric_name(base, target) + key[len(base) :]] = value
    out["espnas_fingerprint_json"] = json.dumps(fingerprints, sort_keys=True, default=str)
    out["espnas_measure_seconds_json"] = json.dumps(seconds)
    return out


def actor_name(target: str) -> str:
    return f"espnas-measure-{target}"


def tune_trainable(config: dict[str, Any], job: TrialJob) -> None:
    """The Ray Tune function trainable: run the trial, report per-epoch accuracy, then the final result."""
    from ray import tune

    result = run_trial(config, job, report=tune.report)
    tune.report(result)


class Measurer:
    """A measuring actor: one per target device, `max_concurrency=1`, so measurements never overlap there."""

    def __init__(self, target: str, device: str, budget_s: float, batch: int, threads: int | None) -> None:
        self.target, self.device, self.budget_s, self.batch, self.threads = target, device, budget_s, batch, threads

    def measure(self, config_json: str, metrics: list[str], runtime: str = "deploy") -> dict[str, Any]:
        got = measure_config(
            config_json,
            metrics,
            self.device,
            budget_s=self.budget_s,
            batch=self.batch,
            threads=self.threads,
            runtime=runtime,
        )
        got["where"]["target"] = self.target
        return got

    def where(self) -> dict[str, Any]:
        return _where()

    def power(self) -> tuple[bool, str]:
        """Whether energy can be measured on this target's device (asked before the first trial)."""
        from nas.search.objectives import energy_availability

        return energy_availability(self.device)


__all__ = ["Measurer", "TrialJob", "actor_name", "measure_config", "run_trial", "tune_trainable"]
